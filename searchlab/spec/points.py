"""Known configurations (``search.points``) checked against the space. Ray-free.

A point is a flat config as MLflow shows it (``optimizer: sgd``, ``optimizer.sgd.momentum: 0.9``):
every parameter of the branches it chooses must be given, nothing else.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from searchlab.spec.space import Choice, Conditional, Constant, Float, Int, Space


class PointError(ValueError):
    """What is wrong with a point, and the name it is about (None: the point as a whole)."""

    def __init__(self, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.name = name


def complete_point(space: Space, point: dict[str, Any]) -> dict[str, Any]:
    """The point as a full flat config (the constants of its branches added), or PointError."""
    if not isinstance(point, dict):
        raise PointError("a point is a mapping of parameter names to values")
    known = dict(space.walk())
    for name in point:
        if name not in known:
            close = difflib.get_close_matches(str(name), list(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise PointError(f"unknown parameter '{name}'{hint}", str(name))
    out = _walk(space, point, "")
    for name in point:
        if name not in out:
            raise PointError(f"parameter '{name}' is not used with the options this point "
                             "chooses; remove it", name)
    return out


def _walk(space: Space, point: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in space.params.items():
        flat = prefix + name
        if isinstance(p, Constant):
            if flat in point and point[flat] != p.value:
                raise PointError(f"'{flat}' is the constant {p.value!r}", flat)
            out[flat] = p.value
            continue
        if flat not in point:
            raise PointError(f"missing parameter '{flat}'")
        value = point[flat]
        _check_value(flat, p, value)
        out[flat] = value
        if isinstance(p, Conditional):
            out.update(_walk(p.options[value], point, f"{flat}.{value}."))
    return out


def _check_value(name: str, p: Any, value: Any) -> None:
    if isinstance(p, Conditional):
        if value not in p.options:
            raise PointError(f"'{name}' must be one of {', '.join(map(str, p.options))} "
                             f"(got {value!r})", name)
    elif isinstance(p, Choice):
        if value not in p.values:
            raise PointError(f"'{name}' must be one of {list(p.values)} (got {value!r})", name)
    elif isinstance(p, (Int, Float)):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or (isinstance(p, Int) and not float(value).is_integer()):
            kind = "an integer" if isinstance(p, Int) else "a number"
            raise PointError(f"'{name}' must be {kind} (got {value!r})", name)
        if not (math.isfinite(value) and p.low <= value <= p.high):
            raise PointError(f"'{name}' must be in [{p.low}, {p.high}] (got {value!r})", name)
