"""``python -m metrics``: compute metrics on folders of images, like ``fidelity`` or ``python -m pytorch_fid``.

Each command module (``inception_commands``, ``clip_commands``, ``pixel_commands``)
has ``register(subparsers, common)``, adding subcommands whose ``func(args)``
returns a :class:`MetricResult` (printed by :func:`common.emit`) or an exit code.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import sys
from collections.abc import Sequence

from metrics.engine.cli.common import UsageError, common_parser, emit
from metrics.engine.images import ImageError
from metrics.engine.result import MetricResult
from metrics.engine.weights import WeightsChecksumError, WeightsMissingError

COMMAND_MODULES = ("inception_commands", "clip_commands", "pixel_commands", "preference_commands")

# Errors the user can cause or fix: printed as one line, exit code 2, no traceback.
USER_ERRORS = (UsageError, ImageError, WeightsMissingError, WeightsChecksumError)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m metrics`` parser with every command module's subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m metrics",
        description="Metrics of generative image evaluation on folders of images.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    common = common_parser()
    for name in COMMAND_MODULES:
        importlib.import_module(f"metrics.engine.cli.{name}").register(sub, common)
    return parser


def _reuse_freed_memory() -> None:
    # glibc hands blocks over 128 KiB back to the OS on free and maps fresh, zeroed pages
    # on the next malloc: the per-image resize and every network layer allocate such
    # blocks, and the page faults cost more than the resize arithmetic itself (measured
    # 3x on it). Keep them in the heap for reuse instead; the process is short-lived.
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        # M_MMAP_THRESHOLD: older glibc accept at most 32 MiB, newer ones more.
        if not libc.mallopt(-3, 256 << 20):
            libc.mallopt(-3, 32 << 20)
        libc.mallopt(-1, 1024 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit code."""
    _reuse_freed_memory()
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        outcome = args.func(args)
    except USER_ERRORS as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    if isinstance(outcome, MetricResult):
        emit(outcome, args)
        return 0
    return int(outcome or 0)
