"""Which device the networks run on: the one place that decides it (CLI, workers, CLIP cache).

``resolve_device("auto")`` reads ``$EVALSITE_CUDA_DEVICE``:

- unset or empty: the first visible GPU when torch sees one, else the CPU;
- ``cpu``: the CPU even when a GPU is there (a CPU-only worker on a GPU host);
- ``N`` or ``cuda:N``: visible GPU ``N``.

Indices count *visible* GPUs: torch already applies ``$CUDA_VISIBLE_DEVICES``, so
``CUDA_VISIBLE_DEVICES=3`` with no ``EVALSITE_CUDA_DEVICE`` runs on physical GPU 3
(visible index 0). One worker per GPU: give each worker its own
``CUDA_VISIBLE_DEVICES`` (or ``EVALSITE_CUDA_DEVICE``). An explicit ``cuda`` asks
for the GPU ``EVALSITE_CUDA_DEVICE`` names (default 0); ``cuda:N`` for GPU N.
"""

from __future__ import annotations

import gc
import os

import torch

ENV = "EVALSITE_CUDA_DEVICE"


class DeviceError(ValueError):
    """A device that cannot be used here (no GPU, an index beyond the visible ones, a bad name)."""


def _cuda(index: int) -> torch.device:
    if not torch.cuda.is_available():
        raise DeviceError(
            f"a CUDA GPU was asked for (cuda:{index}), but torch sees none "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')!s}); "
            "use the CPU (--device cpu, or EVALSITE_CUDA_DEVICE=cpu)"
        )
    count = torch.cuda.device_count()
    if not 0 <= index < count:
        raise DeviceError(
            f"GPU {index} asked for, but {count} GPU(s) are visible (indices 0..{count - 1}, "
            "counted after CUDA_VISIBLE_DEVICES)"
        )
    # The chosen GPU becomes this process's current device: pinned host memory, streams and
    # code that says just "cuda" then use it, instead of opening a context on GPU 0.
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def _parse(name: str, *, source: str) -> torch.device | None:
    """``cpu`` / ``cuda`` / ``cuda:N`` / ``N`` -> a device; None for ``cuda`` without an index."""
    text = name.strip().lower()
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda":
        return None
    index = text[5:] if text.startswith("cuda:") else text
    if not index.isdigit():
        raise DeviceError(f"{source}={name!r} is not a device; use auto, cpu, cuda, cuda:N or N")
    return _cuda(int(index))


def _env_choice() -> torch.device | None:
    raw = os.environ.get(ENV, "").strip()
    if not raw or raw.lower() == "auto":
        return None
    return _parse(raw, source=ENV)


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """The device for ``name``: ``auto`` (or None), ``cpu``, ``cuda``, ``cuda:N``; DeviceError if unusable.

    A GPU it returns is made the process's current CUDA device.
    """
    if isinstance(name, torch.device):
        return _cuda(name.index or 0) if name.type == "cuda" else name
    text = (name or "auto").strip().lower()
    if text == "auto":
        chosen = _env_choice()
        if chosen is not None:
            return chosen
        return _cuda(0) if torch.cuda.is_available() else torch.device("cpu")
    parsed = _parse(text, source="device")
    if parsed is not None:
        return parsed
    # A bare "cuda": the GPU this process was given, if EVALSITE_CUDA_DEVICE names one.
    chosen = _env_choice()
    return chosen if chosen is not None and chosen.type == "cuda" else _cuda(0)


def free_memory() -> None:
    """Return freed model memory for real: collect garbage, then empty torch's CUDA cache."""
    gc.collect()
    # is_initialized: never create a CUDA context just to empty it.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
