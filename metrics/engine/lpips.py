"""LPIPS, the learned perceptual image distance of Zhang et al. 2018 ("The Unreasonable
Effectiveness of Deep Features as a Perceptual Metric"), version 0.1, in plain torch.

Matches the ``lpips`` package (``lpips.LPIPS(net='alex')``, the default, or
``net='vgg'``) given the same weights files:

1. the 8-bit RGB image is mapped to [-1, 1] (``x / 127.5 - 1``), then through the
   lpips "scaling layer" ``(x - shift) / scale`` with shift (-0.030, -0.088, -0.188)
   and scale (0.458, 0.448, 0.450) (ImageNet's normalisation expressed on [-1, 1]);
2. the ImageNet backbone's ReLU outputs at 5 depths: AlexNet relu1..relu5
   (torchvision ``features`` indices 1, 4, 7, 9, 11), VGG16 relu1_2, relu2_2,
   relu3_3, relu4_3, relu5_3 (indices 3, 8, 15, 22, 29);
3. at each position the channel vector is scaled to unit length (``f / (|f| + 1e-10)``);
4. squared differences, weighted per channel by the learned 1x1 linear layer
   (no bias), averaged over positions, summed over the 5 layers.

Weights: the backbone is torchvision's file (``alexnet-owt-7be5be79.pth`` /
``vgg16-397923af.pth``, keys ``features.N.weight``; the classifier's keys are
ignored) and the linear layers are the lpips project's ``weights/v0.1/alex.pth``
/ ``vgg.pth`` (keys ``lin0.model.1.weight`` ... ``lin4.model.1.weight``), stored
in the cache as ``lpips-v0.1-alex.pth`` / ``lpips-v0.1-vgg.pth`` because a bare
``alex.pth`` is too generic a name for a shared cache directory.

Images are compared at their own resolution (no resize): the two images of a
pair must have the same size. Distances are computed in float32, as the lpips
package does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from metrics.engine.pairs import (
    ImagePair,
    Pairing,
    PixelInputError,
    check_sizes,
    iter_loaded_pairs,
    mean_result,
    pairing_extra,
    pairing_params,
)
from metrics.engine.result import MetricResult
from metrics.engine.weights import WeightsSpec, file_sha256, register, weights_path

_TV = "https://download.pytorch.org/models/"
_LPIPS_RAW = (
    "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/master/lpips/weights/v0.1/"
)
_LPIPS_GH = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/"

ALEXNET_WEIGHTS = register(
    WeightsSpec(
        name="alexnet-owt-7be5be79.pth",
        urls=(_TV + "alexnet-owt-7be5be79.pth",),
        sha256="7be5be79",
        description="torchvision AlexNet (ImageNet), the LPIPS default backbone",
    )
)
VGG16_WEIGHTS = register(
    WeightsSpec(
        name="vgg16-397923af.pth",
        urls=(_TV + "vgg16-397923af.pth",),
        sha256="397923af",
        description="torchvision VGG16 (ImageNet), the LPIPS VGG backbone",
    )
)
# Full digests of the files the lpips 0.1.4 package ships (identical to the repository's).
LPIPS_ALEX_WEIGHTS = register(
    WeightsSpec(
        name="lpips-v0.1-alex.pth",
        urls=(_LPIPS_RAW + "alex.pth", _LPIPS_GH + "alex.pth"),
        sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        description="LPIPS v0.1 linear layers for AlexNet (lpips project, weights/v0.1/alex.pth)",
    )
)
LPIPS_VGG_WEIGHTS = register(
    WeightsSpec(
        name="lpips-v0.1-vgg.pth",
        urls=(_LPIPS_RAW + "vgg.pth", _LPIPS_GH + "vgg.pth"),
        sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
        description="LPIPS v0.1 linear layers for VGG16 (lpips project, weights/v0.1/vgg.pth)",
    )
)

# The lpips project's ScalingLayer constants.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


@dataclass(frozen=True)
class _Arch:
    # ("conv", in, out, kernel, stride, padding) | ("relu",) | ("pool", kernel, stride),
    # in torchvision's order, so module i is features.i and state-dict keys line up.
    layers: tuple[tuple, ...]
    taps: tuple[int, ...]  # features indices whose output (a ReLU) is an LPIPS layer
    channels: tuple[int, ...]
    min_size: int  # smallest side for which the deepest tap is still at least 1x1
    backbone: WeightsSpec
    linear: WeightsSpec


def _vgg16_layers() -> tuple[tuple, ...]:
    out: list[tuple] = []
    cin = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
        if v == "M":
            out.append(("pool", 2, 2))
        else:
            out += [("conv", cin, v, 3, 1, 1), ("relu",)]
            cin = v
    return tuple(out)


_R = ("relu",)
ARCHS = {
    # torchvision's AlexNet "features" up to relu5 (index 12, the last max pool, is unused).
    "alex": _Arch(
        layers=(("conv", 3, 64, 11, 4, 2), _R, ("pool", 3, 2), ("conv", 64, 192, 5, 1, 2), _R)
        + (("pool", 3, 2), ("conv", 192, 384, 3, 1, 1), _R, ("conv", 384, 256, 3, 1, 1), _R)
        + (("conv", 256, 256, 3, 1, 1), _R),
        taps=(1, 4, 7, 9, 11),
        channels=(64, 192, 384, 256, 256),
        min_size=31,
        backbone=ALEXNET_WEIGHTS,
        linear=LPIPS_ALEX_WEIGHTS,
    ),
    "vgg": _Arch(
        layers=_vgg16_layers(),
        taps=(3, 8, 15, 22, 29),
        channels=(64, 128, 256, 512, 512),
        min_size=16,
        backbone=VGG16_WEIGHTS,
        linear=LPIPS_VGG_WEIGHTS,
    ),
}


class LPIPSWeightsError(ValueError):
    """A weights file that is not the state dict LPIPS expects (wrong file, wrong network)."""


def build_backbone(net: str) -> nn.Sequential:
    """The backbone's ``features`` with torchvision's module indices (so its state-dict keys load)."""
    mods: list[nn.Module] = []
    for kind, *a in ARCHS[net].layers:
        if kind == "conv":
            mods.append(nn.Conv2d(a[0], a[1], a[2], stride=a[3], padding=a[4]))
        elif kind == "relu":
            mods.append(nn.ReLU())  # not in place: the tapped outputs must survive
        else:
            mods.append(nn.MaxPool2d(a[0], stride=a[1]))
    return nn.Sequential(*mods)


class LPIPS(nn.Module):
    """The LPIPS v0.1 network: backbone taps, unit-normalised channels, learned 1x1 weights."""

    def __init__(self, net: str = "alex"):
        super().__init__()
        if net not in ARCHS:
            raise PixelInputError(f"unknown LPIPS network {net!r}; use one of {', '.join(ARCHS)}")
        self.net_name = net
        self.arch = ARCHS[net]
        self.features = build_backbone(net)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.lins = nn.ParameterList(
            [nn.Parameter(torch.zeros(1, c, 1, 1), requires_grad=False) for c in self.arch.channels]
        )
        self.weights_sha256: dict[str, str] = {}
        self.requires_grad_(False)
        self.eval()

    # ------------------------------------------------------------------ weights

    def load_backbone(self, state: dict[str, torch.Tensor]) -> None:
        """Load torchvision ``features.*`` tensors (other keys, e.g. the classifier, are ignored)."""
        ours = self.features.state_dict()
        feats = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
        missing = sorted(set(ours) - set(feats))
        if missing:
            raise LPIPSWeightsError(
                f"not a torchvision {self.net_name} backbone: keys features.{missing[0]} ... "
                f"({len(missing)} missing)"
            )
        for k, v in ours.items():
            if tuple(feats[k].shape) != tuple(v.shape):
                raise LPIPSWeightsError(
                    f"features.{k} has shape {tuple(feats[k].shape)}, expected {tuple(v.shape)}: "
                    f"not a torchvision {self.net_name} backbone"
                )
        self.features.load_state_dict({k: feats[k] for k in ours})

    def load_linear(self, state: dict[str, torch.Tensor]) -> None:
        """Load the lpips project's v0.1 linear layers (``lin{k}.model.1.weight``)."""
        for k, c in enumerate(self.arch.channels):
            key = f"lin{k}.model.1.weight"
            if key not in state:
                raise LPIPSWeightsError(
                    f"not LPIPS linear weights for {self.net_name}: no key {key}"
                )
            w = state[key]
            if tuple(w.shape) != (1, c, 1, 1):
                raise LPIPSWeightsError(
                    f"{key} has shape {tuple(w.shape)}, expected (1, {c}, 1, 1): "
                    f"these linear weights are not for the {self.net_name} backbone"
                )
            self.lins[k].data.copy_(w)

    # ------------------------------------------------------------------ maths

    def to_input(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 NxHxWx3 (or HxWx3) -> float32 Nx3xHxW in [-1, 1], on the model's device."""
        t = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
        if t.ndim == 3:
            t = t.unsqueeze(0)
        if t.ndim != 4 or t.shape[-1] != 3:
            raise PixelInputError(f"expected HxWx3 RGB images, got shape {tuple(t.shape)}")
        t = t.to(self.shift.device).permute(0, 3, 1, 2).float()
        return t / 127.5 - 1.0

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised feature maps at the 5 taps of ``x`` (Nx3xHxW in [-1, 1])."""
        height, width = x.shape[-2:]
        if min(height, width) < self.arch.min_size:
            m = self.arch.min_size
            raise PixelInputError(
                f"LPIPS ({self.net_name}) needs images of at least {m}x{m} pixels; got {width}x{height}"
            )
        h = (x - self.shift) / self.scale
        out = []
        taps = set(self.arch.taps)
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in taps:
                norm = torch.sqrt(torch.sum(h * h, dim=1, keepdim=True))
                out.append(h / (norm + EPS))
                if i == self.arch.taps[-1]:
                    break
        return out

    def distance_from_features(
        self, fa: Sequence[torch.Tensor], fb: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """LPIPS per row of two feature lists (rows broadcast, e.g. 1 against N)."""
        total = None
        for lin, a, b in zip(self.lins, fa, fb, strict=True):
            d = (a - b) ** 2
            # 1x1 conv without bias, then the spatial mean: the lpips package's order.
            layer = torch.nn.functional.conv2d(d, lin).mean(dim=(2, 3)).flatten()
            total = layer if total is None else total + layer
        return total

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """LPIPS of each row of ``a`` and ``b`` (Nx3xHxW in [-1, 1]), a tensor of N distances."""
        if a.shape != b.shape:
            raise PixelInputError(
                f"LPIPS compares images of the same size; got {tuple(a.shape[-2:])} and {tuple(b.shape[-2:])}"
            )
        feats = self.feature_maps(torch.cat([a, b]))
        n = a.shape[0]
        return self.distance_from_features([f[:n] for f in feats], [f[n:] for f in feats])

    @torch.no_grad()
    def distance(self, img_a: np.ndarray, img_b: np.ndarray) -> float:
        """LPIPS of two HxWx3 uint8 images."""
        return float(self(self.to_input(img_a), self.to_input(img_b))[0])


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LPIPSWeightsError(f"{path}: not a torch weights file ({exc})") from None
    if not isinstance(state, dict):
        raise LPIPSWeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def load_lpips(
    net: str = "alex",
    *,
    lpips_weights: str | Path | None = None,
    backbone_weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    download: bool | None = None,
) -> LPIPS:
    """An LPIPS network with its weights found through the weights manager (or the given files)."""
    model = LPIPS(net)
    backbone_file = weights_path(model.arch.backbone, backbone_weights, download=download)
    linear_file = weights_path(model.arch.linear, lpips_weights, download=download)
    try:
        model.load_backbone(_load_state(backbone_file))
        model.load_linear(_load_state(linear_file))
    except LPIPSWeightsError as exc:
        raise LPIPSWeightsError(f"{exc} (files: {backbone_file}, {linear_file})") from None
    model.weights_sha256 = {
        "backbone": file_sha256(backbone_file),
        "linear": file_sha256(linear_file),
    }
    return model.to(device)


def lpips_distance(model: LPIPS, img_a: np.ndarray, img_b: np.ndarray) -> float:
    """LPIPS of two HxWx3 uint8 images of the same size."""
    return model.distance(img_a, img_b)


def _stack_distances(model: LPIPS, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # uint8 stacks cross to the device as they are (to_input converts there).
    return model(model.to_input(a), model.to_input(b)).cpu().numpy()


def lpips_distances(
    model: LPIPS,
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    batch_size: int = 32,
) -> np.ndarray:
    """LPIPS of each ``(a, b)`` pair of HxWx3 uint8 images, in order, many pairs per forward pass.

    Consecutive pairs of one size share a forward pass (up to ``batch_size`` pairs);
    a pair whose two images differ in size is a PixelInputError.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    out = np.empty(len(pairs), dtype=np.float64)
    start = 0
    while start < len(pairs):
        shape = pairs[start][0].shape
        stop = start
        while stop < len(pairs) and stop - start < batch_size and pairs[stop][0].shape == shape:
            if pairs[stop][1].shape != shape:
                raise PixelInputError(
                    f"pair {stop}: LPIPS compares images of the same size; got "
                    f"{shape[1]}x{shape[0]} and {pairs[stop][1].shape[1]}x{pairs[stop][1].shape[0]}"
                )
            stop += 1
        a = np.stack([p[0] for p in pairs[start:stop]])
        b = np.stack([p[1] for p in pairs[start:stop]])
        out[start:stop] = _stack_distances(model, a, b)
        start = stop
    return out


def _params(model: LPIPS, **more: Any) -> dict[str, Any]:
    return {
        "net": model.net_name,
        "version": "0.1",
        "weights_sha256": dict(model.weights_sha256),
        "resolution": "native (no resize)",
        **more,
    }


def lpips_pairs(
    pairs: Pairing | Sequence[ImagePair],
    model: LPIPS,
    *,
    resize_to_match: bool = False,
    batch_size: int = 16,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    seed: int | None = 0,
) -> MetricResult:
    """LPIPS of every pair (per_item keyed by A's file name), the mean and a bootstrap 95% CI."""
    pairing = pairs if isinstance(pairs, Pairing) else None
    items = pairing.pairs if pairing is not None else list(pairs)
    if not resize_to_match:
        check_sizes(items)
    per_item: dict[str, float] = {}
    batch: list[tuple[ImagePair, np.ndarray, np.ndarray]] = []

    def flush() -> None:
        try:
            d = _stack_distances(
                model, np.stack([x[1] for x in batch]), np.stack([x[2] for x in batch])
            )
        except PixelInputError as exc:
            raise PixelInputError(f"pair {batch[0][0].key}: {exc}") from None
        for (pair, _, _), v in zip(batch, d, strict=True):
            per_item[pair.key] = float(v)
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for pair, a, b in iter_loaded_pairs(items, resize_to_match=resize_to_match, workers=workers):
        # A batch holds images of one size; a new size starts a new batch.
        if batch and (len(batch) >= batch_size or batch[0][1].shape != a.shape):
            flush()
        batch.append((pair, a, b))
    if batch:
        flush()
    per_item = {p.key: per_item[p.key] for p in items}
    return mean_result(
        "lpips",
        per_item,
        seed=seed,
        extra=pairing_extra(pairing),
        params={**_params(model), **pairing_params(pairing, resize_to_match=resize_to_match)},
    )
