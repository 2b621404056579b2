"""CLIP image and text embeddings through Hugging Face ``transformers`` (Radford et al. 2021).

The model is ``CLIPModel`` with its own preprocessing: ``CLIPImageProcessor`` (PIL
backend: resize the short side with bicubic, centre crop, OpenAI mean/std, the same
numerics as transformers 4's "slow" processor that torchmetrics' ``CLIPScore`` uses)
and ``CLIPTokenizer`` (byte-level BPE, at most 77 tokens: longer prompts are
truncated, keeping the end-of-text token the text tower pools at, with a warning
that says how many were cut). Image files go through the feature pipeline
(:mod:`metrics.engine.preprocess`): on a GPU the processor's steps run there, batched,
equal to the processor bit for bit. Embeddings are the projected ones
(``get_image_features`` / ``get_text_features``), returned raw in float32; the
metrics L2-normalise them.

Where a checkpoint comes from (:func:`resolve_clip_dir`):

1. a local directory written by ``save_pretrained`` (``--clip-model /path/to/dir``);
2. ``$EVALSITE_WEIGHTS_DIR/<name>`` (e.g. ``$EVALSITE_WEIGHTS_DIR/openai/clip-vit-large-patch14``),
   for offline machines;
3. the Hugging Face hub cache (``$HF_HOME/hub``), downloading on first use unless
   ``$EVALSITE_OFFLINE=1`` or ``$HF_HUB_OFFLINE=1``. :func:`clip_fetch` downloads
   ahead (``python -m metrics fetch-weights --clip-model NAME`` calls it).

The weights hash in every result's provenance is the sha256 of ``model.safetensors``
(the same digest the hub shows as the file's LFS object id), so a result names the
exact weights whatever the checkpoint was called.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from metrics.engine.model_cache import ModelCache
from metrics.engine.weights import WeightsMissingError, file_sha256, offline

DEFAULT_CLIP_MODEL = "openai/clip-vit-large-patch14"
PREPROCESSING = "clip-processor-pil"
# What a checkpoint directory needs; weight files are found by pattern.
_CONFIG_FILES = ("config.json", "preprocessor_config.json", "vocab.json", "merges.txt")
_HUB_PATTERNS = [
    "config.json",
    "preprocessor_config.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
]
FETCH_HINT = "python -m metrics fetch-weights --clip-model {name}"


# ----------------------------------------------------------------------------- locating


def _weight_files(directory: Path) -> list[Path]:
    """The checkpoint's weight files: safetensors (single or sharded), else pytorch .bin."""
    for pattern in ("model.safetensors", "model-*-of-*.safetensors", "pytorch_model.bin"):
        found = sorted(directory.glob(pattern))
        if found:
            return found
    return []


def _is_checkpoint_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file() and bool(_weight_files(path))


def _missing(name: str, why: str) -> WeightsMissingError:
    weights_dir = os.environ.get("EVALSITE_WEIGHTS_DIR")
    place = (
        f"$EVALSITE_WEIGHTS_DIR/{name} ({Path(weights_dir) / name})"
        if weights_dir
        else f"$EVALSITE_WEIGHTS_DIR/{name}"
    )
    return WeightsMissingError(
        f"CLIP model {name!r} is not available: {why}. Fetch it on a machine with internet with "
        f"`{FETCH_HINT.format(name=name)}` (it goes to the Hugging Face cache, $HF_HOME/hub), "
        f"copy that cache over, or put a save_pretrained directory at {place} or pass the "
        "directory itself as --clip-model."
    )


def _hub_download(name: str, *, local_only: bool) -> Path:
    from huggingface_hub import snapshot_download

    kwargs: dict[str, Any] = {"repo_id": name, "local_files_only": local_only}
    try:
        # Only the safetensors weights: hub CLIP repos also carry .bin, TF and Flax copies (GBs).
        path = Path(snapshot_download(allow_patterns=[*_HUB_PATTERNS, "*.safetensors"], **kwargs))
        if not _weight_files(path):
            path = Path(snapshot_download(allow_patterns=[*_HUB_PATTERNS, "*.bin"], **kwargs))
    except Exception as exc:  # offline cache miss, no network, unknown repo, bad name...
        if local_only:
            why = "it is not in the Hugging Face cache and downloads are off (offline mode)"
        else:
            # Hub errors run to several lines; the first says what happened.
            first = (str(exc).strip().splitlines() or [""])[0]
            why = f"download failed ({type(exc).__name__}: {first})"
        raise _missing(name, why) from None
    if not _is_checkpoint_dir(path):
        raise _missing(name, f"the downloaded snapshot {path} has no config.json or weights")
    return path


def resolve_clip_dir(name: str = DEFAULT_CLIP_MODEL, *, download: bool | None = None) -> Path:
    """The local checkpoint directory for ``name`` (a hub id or a directory), downloading if allowed."""
    if not name:
        raise ValueError("empty CLIP model name; use e.g. openai/clip-vit-large-patch14")
    as_path = Path(name).expanduser()
    if as_path.exists():
        if not _is_checkpoint_dir(as_path):
            raise _missing(
                name,
                f"the directory {as_path} is not a CLIP checkpoint (it needs config.json and "
                "model.safetensors, as written by save_pretrained)",
            )
        return as_path
    weights_dir = os.environ.get("EVALSITE_WEIGHTS_DIR")
    if weights_dir and _is_checkpoint_dir(Path(weights_dir).expanduser() / name):
        return Path(weights_dir).expanduser() / name
    # A cached snapshot is used without touching the network, even when downloads are allowed.
    try:
        return _hub_download(name, local_only=True)
    except WeightsMissingError:
        if download is False or (download is None and offline()):
            raise
    return _hub_download(name, local_only=False)


def clip_fetch(name: str = DEFAULT_CLIP_MODEL) -> Path:
    """Download CLIP checkpoint ``name`` into the Hugging Face cache (if needed); return its directory.

    For ``python -m metrics fetch-weights --clip-model NAME``. Raises
    WeightsMissingError when it cannot be fetched (offline mode, no network).
    """
    return resolve_clip_dir(name, download=True)


def weights_sha256(directory: Path) -> str:
    """sha256 of the checkpoint's weight file; for sharded weights, of the shards' digests in order."""
    files = _weight_files(directory)
    if not files:
        raise _missing(str(directory), "no model.safetensors in the directory")
    if len(files) == 1:
        return file_sha256(files[0])
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}:{file_sha256(f)}\n".encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------- loading


@dataclass
class ClipBundle:
    """A loaded CLIP model with its preprocessing, kept in memory between calls."""

    name: str
    directory: Path
    model: Any  # transformers.CLIPModel, eval mode, float32
    image_processor: Any
    tokenizer: Any
    device: Any  # torch.device
    weights_sha256: str
    embedding_dim: int
    max_text_tokens: int
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def provenance(self) -> dict[str, Any]:
        """What a result computed with this model must record."""
        from metrics.engine.provenance import versions

        return {
            "versions": versions(),
            "clip_model": self.name,
            "clip_weights_sha256": self.weights_sha256,
            "preprocessing": PREPROCESSING,
            "embedding_dim": self.embedding_dim,
        }


_CACHE = ModelCache()


def _image_processor_class():
    # transformers 5 has two backends; the torchvision one resizes differently from PIL.
    # The PIL one reproduces transformers 4's slow CLIPImageProcessor (torchmetrics, diffusers).
    try:
        from transformers import CLIPImageProcessorPil

        return CLIPImageProcessorPil
    except ImportError:  # transformers 4: CLIPImageProcessor is the PIL one
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor


def load_clip(
    name: str = DEFAULT_CLIP_MODEL, *, device: Any = "auto", download: bool | None = None
) -> ClipBundle:
    """Load (once per name and device) the CLIP model ``name``: a hub id or a local directory."""
    from metrics.engine.device import resolve_device

    dev = resolve_device(device)
    return _CACHE.get_or_load(
        (str(name), str(dev)),
        lambda: _load_from_dir(str(name), resolve_clip_dir(name, download=download), dev),
    )


def _load_from_dir(
    name: str, directory: Path, dev, processor_dir: Path | None = None
) -> ClipBundle:
    """The bundle of checkpoint ``directory``; preprocessing and tokenizer from ``processor_dir``
    when they live apart (PickScore reads them from another repository), else from ``directory``."""
    import torch
    from transformers import CLIPModel, CLIPTokenizer
    from transformers.utils import logging as hf_logging

    processor_dir = processor_dir or directory
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the loading bar would clutter our own progress on stderr
    try:
        # float32 explicitly: transformers 5 would otherwise keep the checkpoint's stored dtype.
        model = CLIPModel.from_pretrained(directory, dtype=torch.float32)
        image_processor = _image_processor_class().from_pretrained(processor_dir)
        tokenizer = CLIPTokenizer.from_pretrained(processor_dir)
    except Exception as exc:
        raise _missing(name, f"loading {directory} failed ({type(exc).__name__}: {exc})") from None
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
    model.eval().to(dev)
    max_tokens = int(model.config.text_config.max_position_embeddings)
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < max_tokens:
        max_tokens = tok_max
    return ClipBundle(
        name=name,
        directory=directory,
        model=model,
        image_processor=image_processor,
        tokenizer=tokenizer,
        device=dev,
        weights_sha256=weights_sha256(directory),
        embedding_dim=int(model.config.projection_dim),
        max_text_tokens=max_tokens,
    )


def clear_cache() -> None:
    """Forget every loaded model (tests; freeing GPU memory: then call ``device.free_memory()``)."""
    _CACHE.clear()


# ----------------------------------------------------------------------------- embeddings


def _features(output: Any, kind: str):
    """The projected embeddings from ``get_*_features``: a tensor (transformers 4) or an output object (5)."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    for attr in (f"{kind}_embeds", "pooler_output"):
        value = getattr(output, attr, None)
        if isinstance(value, torch.Tensor):
            return value
    raise TypeError(f"unexpected output of get_{kind}_features: {type(output).__name__}")


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _image_forward(bundle: ClipBundle, pixels: Any) -> dict[str, Any]:
    import torch

    with bundle.lock, torch.inference_mode():
        emb = _features(bundle.model.get_image_features(pixel_values=pixels), "image")
    return {"embedding": emb}


def clip_image_embeddings(
    bundle: ClipBundle,
    paths: Sequence[str | Path],
    *,
    batch_size: int = 32,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Raw float32 image embeddings ``[n, dim]`` of image files, decoded by :func:`metrics.engine.images.decode_rgb`.

    Through the feature pipeline: ``workers`` decoding threads (None: the default),
    the processor's resize / crop / normalisation on the GPU when the model is on one
    (:class:`metrics.engine.preprocess.ClipPixels`, equal to the processor), else the
    processor itself in the decoding threads.
    """
    from metrics.engine.preprocess import clip_preprocess, extract

    out = extract(
        [Path(p) for p in paths],
        clip_preprocess(bundle.device, bundle.image_processor),
        partial(_image_forward, bundle),
        device=bundle.device,
        outputs={"embedding": bundle.embedding_dim},
        batch_size=batch_size,
        workers=workers,
        progress=progress,
    )
    return out["embedding"]


def count_truncated(bundle: ClipBundle, texts: Sequence[str]) -> int:
    """How many of ``texts`` have more tokens (with start/end tokens) than the model takes."""
    # verbose=False: the tokenizer's own "longer than the maximum" warning would duplicate ours.
    lengths = [len(ids) for ids in bundle.tokenizer(list(texts), verbose=False)["input_ids"]]
    return sum(1 for n in lengths if n > bundle.max_text_tokens)


def truncation_extra(bundle: ClipBundle, truncated: int, total: int) -> dict[str, Any]:
    """A result's ``extra`` entries for ``truncated`` of ``total`` prompts cut at the token limit."""
    notes = [_truncation_note(bundle, truncated, total)] if truncated else []
    return {"truncated_prompts": truncated, "notes": notes}


def _truncation_note(bundle: ClipBundle, truncated: int, total: int) -> str:
    return (
        f"{truncated} of {total} prompts are longer than CLIP's {bundle.max_text_tokens} "
        "tokens and were truncated"
    )


def clip_text_embeddings_counted(
    bundle: ClipBundle, texts: Sequence[str], *, batch_size: int = 256
) -> tuple[np.ndarray, int]:
    """Raw float32 text embeddings ``[n, dim]`` and how many prompts were truncated (no warning:
    the caller records the count in its result, see :func:`truncation_extra`)."""
    texts = [str(t) for t in texts]
    return _text_embeddings(bundle, texts, batch_size), count_truncated(bundle, texts)


def clip_text_embeddings(
    bundle: ClipBundle, texts: Sequence[str], *, batch_size: int = 256
) -> np.ndarray:
    """Raw float32 text embeddings ``[n, dim]``; prompts over the token limit are truncated with a warning."""
    texts = [str(t) for t in texts]
    truncated = count_truncated(bundle, texts)
    if truncated:
        warnings.warn(_truncation_note(bundle, truncated, len(texts)), UserWarning, stacklevel=2)
    return _text_embeddings(bundle, texts, batch_size)


def _text_embeddings(bundle: ClipBundle, texts: list[str], batch_size: int) -> np.ndarray:
    import torch

    out = np.empty((len(texts), bundle.embedding_dim), dtype=np.float32)
    row = 0
    for batch in _batches(texts, batch_size):
        tokens = bundle.tokenizer(
            list(batch),
            padding=True,
            truncation=True,
            max_length=bundle.max_text_tokens,
            return_tensors="pt",
        )
        tokens = {k: v.to(bundle.device) for k, v in tokens.items()}
        with bundle.lock, torch.inference_mode():
            emb = _features(bundle.model.get_text_features(**tokens), "text")
        out[row : row + len(batch)] = emb.float().cpu().numpy()
        row += len(batch)
    return out


class ClipImageExtractor:
    """The :class:`~metrics.engine.extractors.FeatureExtractor` for CLIP image embeddings."""

    preprocessing = PREPROCESSING

    def __init__(
        self,
        model: str = DEFAULT_CLIP_MODEL,
        *,
        device: Any = "auto",
        download: bool | None = None,
        bundle: ClipBundle | None = None,
    ):
        self.bundle = bundle or load_clip(model, device=device, download=download)
        self.extractor_id = f"clip-image:{self.bundle.name}"
        self.weights_sha256 = self.bundle.weights_sha256
        self.outputs = {"embedding": self.bundle.embedding_dim}

    def extract_paths(
        self,
        paths: Sequence[Path],
        *,
        batch_size: int = 32,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, np.ndarray]:
        """``{"embedding": float32 [len(paths), dim]}``, raw (not normalised) CLIP image embeddings."""
        emb = clip_image_embeddings(
            self.bundle, paths, batch_size=batch_size, workers=workers, progress=progress
        )
        return {"embedding": emb}
