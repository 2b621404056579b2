"""What every result records about how it was computed: library versions and parameters."""

from __future__ import annotations

import functools
import platform
from importlib import metadata
from typing import Any


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def versions() -> dict[str, str | None]:
    """Versions of evalsite and the libraries whose numerics a result depends on."""
    import numpy
    import torch

    evalsite = _version("evalsite")
    if evalsite is None:  # running from a checkout that was never pip-installed
        evalsite = "0.1.0+checkout"
    return {
        "evalsite": evalsite,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": _version("scipy"),
        "pillow": _version("pillow"),
        "transformers": _version("transformers"),
    }


def provenance(**params: Any) -> dict[str, Any]:
    """A provenance dict: the given parameters (None values dropped) plus ``versions``."""
    out = {k: v for k, v in params.items() if v is not None}
    out["versions"] = versions()
    return out
