"""The Pareto front of a multi-objective study. Ray-free.

A trial is on the front when no other trial is at least as good in every objective and strictly
better in one (Deb et al., "A fast and elitist multiobjective genetic algorithm: NSGA-II", IEEE
TEC 2002, section III-A). Equal trials do not dominate each other: both stay on the front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """True when ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    better = False
    for x, y, mode in zip(a, b, modes, strict=True):
        x, y = (-x, -y) if mode == "max" else (x, y)
        if x > y:
            return False
        better = better or x < y
    return better


def pareto_front(points: dict[str, Sequence[float]], modes: Sequence[str]) -> list[str]:
    """The keys of the non-dominated points, in the order given. Points with a non-finite
    value are left out (they count as neither on the front nor dominating)."""
    finite = {k: v for k, v in points.items() if all(math.isfinite(x) for x in v)}
    return [k for k, v in finite.items()
            if not any(dominates(w, v, modes) for j, w in finite.items() if j != k)]


def completed_points(results: Sequence[Any], objectives: Sequence[tuple[str, str]]
                     ) -> dict[str, list[float]]:
    """Trial id -> its value of every objective, for the completed trials that report them all
    (``results``: :class:`~searchlab.methods.base.TrialResult`)."""
    names = [name for name, _ in objectives]
    return {r.trial_id: [float(r.metrics[n]) for n in names] for r in results
            if r.status == "completed" and all(n in r.metrics for n in names)}


def pareto_trials(results: Sequence[Any], objectives: Sequence[tuple[str, str]]) -> list[str]:
    """The trial ids on the Pareto front of the completed trials."""
    return pareto_front(completed_points(results, objectives), [m for _, m in objectives])


def pareto_figure(results: Sequence[Any], objectives: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A Plotly figure (as a dict) of the first two objectives, the front highlighted."""
    points = completed_points(results, objectives)
    front = set(pareto_front(points, [m for _, m in objectives]))
    (x_name, x_mode), (y_name, y_mode) = objectives[0], objectives[1]

    def trace(ids: list[str], name: str, **style: Any) -> dict[str, Any]:
        return {"type": "scatter", "name": name, "x": [points[i][0] for i in ids],
                "y": [points[i][1] for i in ids], "text": ids, **style}

    on = sorted(front, key=lambda i: points[i][0])
    off = [i for i in points if i not in front]
    return {
        "data": [trace(off, "dominated", mode="markers", marker={"color": "#b0b7c0"}),
                 trace(on, "Pareto front", mode="lines+markers",
                       marker={"color": "#d62728", "size": 10}, line={"shape": "hv"})],
        "layout": {"title": {"text": f"Pareto front ({len(front)} of {len(points)} "
                                     "completed trials)"},
                   "xaxis": {"title": {"text": f"{x_name} ({x_mode})"}},
                   "yaxis": {"title": {"text": f"{y_name} ({y_mode})"}}},
    }
