"""The base of the report's typed sections: plain values on construction, to/from JSON dicts.

Values are plain Python (``int``, ``float``, ``str``, lists, dicts of JSON values): numpy
scalars and arrays become Python numbers and lists, and a missing or undefined number (NaN) is
``None``, when a section is constructed. ``to_dict`` gives JSON-ready values; ``from_dict``
builds the section (and every nested one) back from them, refusing unknown keys.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T", bound="Typed")
Num = float | None  # a number that may be missing or undefined (NaN becomes None)
Matrix = list[list[float | None]]  # models x models; entry [i][j] compares model i with j

_SIMPLE = (int, str, bool, type(None))


def _plain(value: Any) -> Any:
    """numpy to Python and NaN to None, leaving nested typed sections as they are."""
    if type(value) in _SIMPLE:
        return value
    if isinstance(value, np.generic):  # before float: np.float64 is a float
        return _plain(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value  # a Typed section (already plain) or another JSON-ready value


def _to_dict(value: Any) -> Any:
    if isinstance(value, Typed):
        return {f.name: _to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [_to_dict(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_dict(v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _build(hint: Any, data: Any) -> Any:
    """``data`` (JSON values) as the type ``hint`` says: sections, lists of them, optionals."""
    if data is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is not type(None):
                return _build(arg, data)
    if origin is list:
        (arg,) = typing.get_args(hint) or (Any,)
        return [_build(arg, v) for v in data]
    if origin is dict:
        arg = typing.get_args(hint)[1] if typing.get_args(hint) else Any
        return {k: _build(arg, v) for k, v in data.items()}
    if isinstance(hint, type) and issubclass(hint, Typed):
        return hint.from_dict(data)
    return data


class Typed:
    """Base of every report section: plain values on construction, ``to_dict``/``from_dict``."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if type(value) not in _SIMPLE:
                object.__setattr__(self, f.name, _plain(value))

    def to_dict(self) -> dict[str, Any]:
        """The section as JSON-ready values (nested sections become dicts)."""
        return _to_dict(self)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """The section back from :meth:`to_dict` output (unknown keys are refused)."""
        hints = _HINTS.get(cls)
        if hints is None:
            hints = _HINTS[cls] = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
        return cls(**{k: _build(hints[k], v) for k, v in data.items()})
