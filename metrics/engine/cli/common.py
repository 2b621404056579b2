"""Pieces every ``python -m metrics`` subcommand shares: options, image listing, progress, output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from metrics.engine.images import list_image_files
from metrics.engine.result import MetricResult

DEFAULT_CLIP_MODEL = "openai/clip-vit-large-patch14"


class UsageError(Exception):
    """A mistake the user made on the command line (bad directory, bad option): exit 2, no traceback."""


def common_parser() -> argparse.ArgumentParser:
    """The options every subcommand accepts (an argparse parent parser)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common options")
    g.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    g.add_argument(
        "--batch-size", type=_positive_int, default=None, metavar="N", help="images per batch"
    )
    g.add_argument(
        "--device",
        default="auto",
        metavar="auto|cpu|cuda|cuda:N",
        help="where the networks run (auto: $EVALSITE_CUDA_DEVICE, else the first visible GPU, "
        "else the CPU)",
    )
    g.add_argument(
        "--workers",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="image decoding threads (0: decode in the main thread; default: one per core, "
        "at most 4)",
    )
    g.add_argument("--seed", type=int, default=None, help="seed for subset sampling / shuffles")
    g.add_argument(
        "--inception-weights",
        default=None,
        metavar="FILE",
        help="FID Inception weights file (default: found or fetched, see fetch-weights)",
    )
    g.add_argument(
        "--clip-model",
        default=DEFAULT_CLIP_MODEL,
        metavar="NAME_OR_DIR",
        help=f"CLIP checkpoint name or local directory (default {DEFAULT_CLIP_MODEL})",
    )
    g.add_argument(
        "--resize",
        choices=("legacy-tf", "clean"),
        default="legacy-tf",
        help="resize to 299 for Inception: TF1 bilinear (published numbers) or PIL bicubic (clean-fid)",
    )
    g.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return p


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


positive_int = _positive_int
non_negative_int = _non_negative_int


def list_images(directory: str | Path) -> list[Path]:
    """The image files directly inside ``directory``, sorted by name (UsageError if none)."""
    try:
        return list_image_files(directory)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def workers_of(args: argparse.Namespace) -> int:
    """Decoding threads: ``--workers`` if given, else the pipeline's default (one per core, up to 4)."""
    from metrics.engine.loading import default_workers

    return args.workers if args.workers is not None else default_workers()


def seed_of(args: argparse.Namespace) -> int:
    """``--seed``, 0 when not given."""
    return 0 if args.seed is None else args.seed


class Progress:
    """A tqdm bar on stderr, or nothing; call it with the number of items just finished."""

    def __init__(
        self, total: int, desc: str, *, enabled: bool = True, stream: TextIO | None = None
    ):
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=desc, unit="img", file=stream or sys.stderr, leave=False
            )

    def __call__(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(total: int, desc: str, *, enabled: bool = True) -> Progress:
    """A progress callable for ``total`` items labelled ``desc`` (a no-op when disabled)."""
    return Progress(total, desc, enabled=enabled)


def progress_for(args: argparse.Namespace, total: int, desc: str) -> Progress:
    """A progress bar for ``total`` items that honours ``--no-progress``."""
    return Progress(total, desc, enabled=not getattr(args, "no_progress", False))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_result(result: MetricResult) -> str:
    """One human-readable line for ``result``."""
    parts = [f"{result.metric}: {_fmt(result.value)}"]
    if result.std is not None:
        parts.append(f"± {_fmt(result.std)} (std)")
    if result.interval is not None:
        lo, hi = result.interval
        parts.append(f"[{_fmt(lo)}, {_fmt(hi)}]")
    n = result.n
    if isinstance(n, dict):
        parts.append("(" + ", ".join(f"n_{k}={v}" for k, v in n.items()) + ")")
    else:
        parts.append(f"(n={n})")
    return " ".join(parts)


def emit(result: MetricResult, args: argparse.Namespace, *, stream: TextIO | None = None) -> None:
    """Print ``result``: one JSON object with ``--json``, else a human line (+ notes on stderr)."""
    out = stream or sys.stdout
    if getattr(args, "json", False):
        out.write(json.dumps(result.to_dict(), sort_keys=False) + "\n")
        return
    out.write(format_result(result) + "\n")
    notes = result.extra.get("notes") if isinstance(result.extra, dict) else None
    for note in notes or ():
        sys.stderr.write(f"note: {note}\n")


def pick_device(name: str | None = "auto"):
    """``--device`` through the engine's one rule (:func:`metrics.engine.device.resolve_device`).

    ``auto`` honours ``EVALSITE_CUDA_DEVICE`` and ``CUDA_VISIBLE_DEVICES``; a device
    that cannot be used is a UsageError.
    """
    from metrics.engine.device import DeviceError, resolve_device

    try:
        return resolve_device(name)
    except DeviceError as exc:
        raise UsageError(str(exc)) from None


Command = Callable[[argparse.Namespace], "MetricResult | int"]
