"""Analytic test functions: one report of ``loss`` each, for tests and overhead benchmarks.

Every parameter whose name starts with ``x`` is a coordinate (x1, x2, ...), so the dimension is
set by the space. Known minima: sphere 0 at 0, rosenbrock 0 at 1, rastrigin 0 at 0,
branin 0.397887 at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475).
"""

from __future__ import annotations

import math
from typing import Any

from searchlab.workloads.api import Context


def _coords(config: dict[str, Any]) -> list[float]:
    xs = [float(v) for k, v in sorted(config.items()) if k.startswith("x") and _is_num(v)]
    if not xs:
        raise ValueError("analytic workloads need parameters named x1, x2, ...")
    return xs


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def sphere(config: dict[str, Any], ctx: Context) -> dict[str, float]:
    return {"loss": sum(x * x for x in _coords(config))}


def rosenbrock(config: dict[str, Any], ctx: Context) -> dict[str, float]:
    xs = _coords(config)
    return {"loss": sum(100 * (b - a * a) ** 2 + (1 - a) ** 2 for a, b in zip(xs, xs[1:]))}


def rastrigin(config: dict[str, Any], ctx: Context) -> dict[str, float]:
    xs = _coords(config)
    return {"loss": 10 * len(xs) + sum(x * x - 10 * math.cos(2 * math.pi * x) for x in xs)}


def branin(config: dict[str, Any], ctx: Context) -> dict[str, float]:
    x1, x2 = _coords(config)[:2]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return {"loss": (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10}


def sphere_curve(config: dict[str, Any], ctx: Context):
    """Sphere reported once per epoch (no compute): for scheduler tests and overhead benchmarks."""
    base = sum(x * x for x in _coords(config))
    for epoch in range(1, ctx.max_epochs + 1):
        yield {"loss": base * (1 + 1 / epoch)}
