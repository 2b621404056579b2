"""The feature pipeline's device half: what each network's input needs, on host or device.

A :class:`Preprocess` says what the decoding threads do to each image (``host``)
and what the device does to a uint8 batch of one image size (``device``).

- On a GPU the threads only decode; the uint8 pixels cross the bus (pinned
  memory, a quarter of float32's bytes) and the GPU resizes and normalises them,
  in batches: TF1 bilinear or clean-fid's bicubic for the FID Inception
  (:func:`metrics.engine.resize.resize_batch`), CLIP's resize / centre crop /
  rescale / normalise (:class:`ClipPixels`). Both equal their CPU references bit
  for bit (tests/engine/test_preprocess.py).
- On a CPU the device is the CPU itself, and Pillow's C resize beats the batched
  torch version there (measured: about 15x per image on 2 cores), so the threads
  run the reference resize / the CLIP processor and the device step is the identity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.engine.loading import decode_array, inception_transform


@dataclass(frozen=True)
class Preprocess:
    """``host(path)`` in the decoding threads, then ``device(batch)`` per same-size uint8 group."""

    host: Callable[[Path], Any]
    device: Callable[[torch.Tensor], torch.Tensor] | None


def on_gpu(device: torch.device) -> bool:
    """Whether preprocessing moves to the device (any accelerator; the CPU keeps Pillow)."""
    return torch.device(device).type != "cpu"


def _inception_on_device(x: torch.Tensor, *, mode: str, size: int) -> torch.Tensor:
    from metrics.engine.resize import resize_batch

    return resize_batch(x.permute(0, 3, 1, 2), mode, size)


def inception_preprocess(device: torch.device, mode: str, size: int = 299) -> Preprocess:
    """FID Inception input: float32 ``[N, 3, size, size]`` in 0..255."""
    if on_gpu(device):
        return Preprocess(decode_array, partial(_inception_on_device, mode=mode, size=size))
    return Preprocess(inception_transform(mode, size), None)


# ----------------------------------------------------------------------------- CLIP


@dataclass(frozen=True)
class ClipPixels:
    """transformers' ``CLIPImageProcessor`` (PIL backend) as batched torch code.

    Resize the short side to ``shortest_edge`` (long side ``int(edge * long / short)``)
    with Pillow's 8-bit bicubic, centre crop (offsets ``(size - crop) // 2``), rescale
    (``uint8 -> float64 * factor -> float32``) and normalise (``(x - mean) / std`` in
    float32): the processor's operations in its order and precision.
    """

    shortest_edge: int
    crop: tuple[int, int]
    rescale_factor: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    filter_name: str = "bicubic"

    @classmethod
    def from_processor(cls, processor: Any) -> ClipPixels | None:
        """The same steps as ``processor``, or None when it does something we do not reproduce."""
        size = _as_dict(getattr(processor, "size", None))
        crop = _as_dict(getattr(processor, "crop_size", None))
        resample = int(getattr(processor, "resample", -1))
        filters = {3: "bicubic", 2: "bilinear"}  # PIL's Resampling.BICUBIC / BILINEAR
        flags = ("do_resize", "do_center_crop", "do_rescale", "do_normalize")
        if not all(getattr(processor, f, False) for f in flags):
            return None
        if set(size) != {"shortest_edge"} or set(crop) != {"height", "width"}:
            return None
        if resample not in filters or getattr(processor, "do_pad", False):
            return None
        if min(int(crop["height"]), int(crop["width"])) > int(size["shortest_edge"]):
            return None  # the processor would pad the crop; rare enough to leave to it
        return cls(
            shortest_edge=int(size["shortest_edge"]),
            crop=(int(crop["height"]), int(crop["width"])),
            rescale_factor=float(processor.rescale_factor),
            mean=tuple(float(m) for m in processor.image_mean),
            std=tuple(float(s) for s in processor.image_std),
            filter_name=filters[resample],
        )

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """transformers' ``get_resize_output_image_size(default_to_square=False)``."""
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.shortest_edge, int(self.shortest_edge * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 ``[N, H, W, 3]`` (one size) -> CLIP's float32 ``pixel_values`` ``[N, 3, h, w]``."""
        from metrics.engine.pil_resample import resample

        x = x.permute(0, 3, 1, 2)
        out_h, out_w = self.resized_size(x.shape[-2], x.shape[-1])
        if (out_h, out_w) != tuple(x.shape[-2:]):
            x = resample(x, (out_h, out_w), filter_name=self.filter_name)
        x = _center_crop(x, self.crop)
        x = (x.to(torch.float64) * self.rescale_factor).to(torch.float32)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std


def _as_dict(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    # transformers 5's SizeDict: attributes, None where unset.
    keys = ("shortest_edge", "longest_edge", "height", "width", "max_height", "max_width")
    return {k: getattr(value, k) for k in keys if getattr(value, k, None) is not None}


def _center_crop(x: torch.Tensor, crop: tuple[int, int]) -> torch.Tensor:
    # from_processor refuses crops larger than the resized short side: no padding case here.
    ch, cw = crop
    top, left = (x.shape[-2] - ch) // 2, (x.shape[-1] - cw) // 2
    return x[..., top : top + ch, left : left + cw]


def _processor_pixels(path: Path, *, processor: Any) -> np.ndarray:
    from metrics.engine.images import decode_rgb

    return processor(images=[decode_rgb(path)], return_tensors="np")["pixel_values"][0]


def clip_preprocess(device: torch.device, processor: Any) -> Preprocess:
    """CLIP's ``pixel_values``: on a GPU by :class:`ClipPixels`, on a CPU by ``processor`` itself."""
    pixels = ClipPixels.from_processor(processor) if on_gpu(device) else None
    if pixels is not None:
        return Preprocess(decode_array, pixels)
    return Preprocess(partial(_processor_pixels, processor=processor), None)


# ----------------------------------------------------------------------------- the loop


class _Collector:
    """Copies each batch's outputs back to the host; on CUDA without stalling the device.

    A blocking ``.cpu()`` waits for everything queued on the stream, the next batch
    included. So on CUDA the copy runs on a side stream after an event recorded
    right behind the batch's own kernels, and is waited for one batch later: the
    host prepares and queues batch i+1 while the GPU still computes batch i.
    """

    def __init__(self, device: torch.device, outputs: dict[str, int], progress) -> None:
        self.outputs, self.progress = outputs, progress
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.pending: tuple[dict[str, torch.Tensor], Any, int] | None = None

    def push(self, result: dict[str, torch.Tensor], n: int) -> None:
        if self.stream is None:
            self.pending = ({k: result[k].float().cpu() for k in self.outputs}, None, n)
            self.flush()
            return
        ready = torch.cuda.Event()
        ready.record(torch.cuda.current_stream(self.stream.device))
        host = {}
        with torch.cuda.stream(self.stream):
            self.stream.wait_event(ready)
            for name in self.outputs:
                value = result[name]
                value.record_stream(self.stream)  # not reused before the copy is done
                host[name] = value.float().to("cpu", non_blocking=True)
        done = torch.cuda.Event()
        done.record(self.stream)
        self.flush()
        self.pending = (host, done, n)

    def flush(self) -> None:
        if self.pending is None:
            return
        host, done, n = self.pending
        self.pending = None
        if done is not None:
            done.synchronize()
        for name in self.outputs:
            self.parts[name].append(host[name].numpy())
        if self.progress is not None:
            self.progress(n)

    def arrays(self) -> dict[str, np.ndarray]:
        self.flush()
        return {
            name: np.concatenate(self.parts[name])
            if self.parts[name]
            else np.zeros((0, dim), np.float32)
            for name, dim in self.outputs.items()
        }


def extract(
    paths: Sequence[Path],
    pre: Preprocess,
    forward: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    *,
    device: torch.device,
    outputs: dict[str, int],
    batch_size: int,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``forward`` over ``paths`` through the pipeline: float32 arrays ``[len(paths), dim]``, in order.

    Decoding threads stay a few batches ahead; on a GPU the outputs come back
    while the device computes the next batch (:class:`_Collector`).
    """
    from metrics.engine.loading import iter_host_batches, to_device

    device = torch.device(device)
    collector = _Collector(device, outputs, progress)
    batches = iter_host_batches(
        paths,
        pre.host,
        batch_size=batch_size,
        workers=workers,
        pin_memory=device.type == "cuda",
    )
    for batch in batches:
        collector.push(forward(to_device(batch, device, pre.device)), len(batch))
    return collector.arrays()
