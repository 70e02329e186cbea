"""Parallel coordinates of the search space: one line per trial, coloured by its final value.

Categorical parameters get one tick per choice; parameters spanning orders of magnitude are
shown as log10; conditional parameters absent from a trial sit on an "n/a" tick below the axis.
The colour scale spans the better three quarters of the trials.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

from searchlab.dashboard import StudyData, Trial

from ._common import FIGURE_HEIGHT, log_scaled, numeric_column, parse_number, trial_studies

TITLE = "Parallel coordinates"
ORDER = 30

MAX_DIMENSIONS = 12
#: lines drawn at most: the best half of them and a seeded random draw of the other trials (ten
#: thousand lines take seconds to draw and cannot be told apart; the title says what is shown)
MAX_LINES = 1000
SEED = 0


def applies(studies: list[StudyData]) -> bool:
    return any(len(_scored(s)) >= 2 and _param_names(_scored(s)) for s in trial_studies(studies))


def dimension(name: str, values: list[str | None]) -> dict | None:
    """A parcoords dimension for one parameter (None if it never varies)."""
    present = [v for v in values if v is not None]
    if len(set(present)) < 2 and len(present) == len(values):
        return None
    missing = len(present) < len(values)
    if numeric_column(present):
        numbers = [parse_number(v) for v in values]
        nums = [x for x in numbers if x is not None]
        label = name
        if log_scaled(nums):
            numbers = [None if x is None else math.log10(x) for x in numbers]
            nums = [math.log10(x) for x in nums]
            label = f"log10({name})"
        lo, hi = min(nums), max(nums)
        span = (hi - lo) or 1.0
        distinct = sorted(set(nums))
        if len(distinct) <= 8 and all(x.is_integer() for x in distinct) and label == name:
            # a few whole-number choices (batch sizes, layer counts): tick each one
            tickvals = distinct
        else:
            tickvals = [lo + span * k / 4 for k in range(5)] if hi > lo else [lo]
        ticktext = [f"{v:.3g}" for v in tickvals]
        if missing:
            na = lo - span * 0.15
            tickvals, ticktext = [na, *tickvals], ["n/a", *ticktext]
            numbers = [na if x is None else x for x in numbers]
            lo = na
        return {"label": label, "values": numbers, "range": [lo, hi if hi > lo else lo + 1],
                "tickvals": tickvals, "ticktext": ticktext}
    choices = sorted(set(present)) + (["n/a"] if missing else [])
    index = {c: i for i, c in enumerate(choices)}
    return {"label": name, "values": [index[v if v is not None else "n/a"] for v in values],
            "tickvals": list(range(len(choices))), "ticktext": choices,
            "range": [-0.5, len(choices) - 0.5]}


def colour_range(scores: list[float], mode: str) -> tuple[float, float]:
    """The colour scale spans the better three quarters of the trials, so a few diverged or
    early-stopped trials do not wash out the differences between the good ones."""
    ordered = sorted(scores, reverse=mode != "min")  # best first
    cut = ordered[min(len(ordered) - 1, (3 * len(ordered)) // 4)]
    lo, hi = sorted((ordered[0], cut))
    return (lo, hi) if hi > lo else (lo, lo + 1e-12)


def render(studies: list[StudyData]) -> list[go.Figure]:
    figures = []
    for study in trial_studies(studies):
        trials = _scored(study)
        names = _param_names(trials)
        if len(trials) < 2 or not names:
            continue
        metric = study.metric
        assert metric is not None
        shown = f"{len(trials)} trials with a {metric}"
        if len(trials) > MAX_LINES:
            trials, shown = _sample(trials, metric, study.mode), (
                f"the best {MAX_LINES // 2} and a random {MAX_LINES - MAX_LINES // 2} of "
                f"{len(trials)} trials with a {metric}")
        dims = [d for n in names if (d := dimension(n, [t.param(n) for t in trials])) is not None]
        dims = dims[:MAX_DIMENSIONS]
        scores = [t.final(metric) for t in trials]
        dims.append({"label": metric, "values": scores})
        cmin, cmax = colour_range(scores, study.mode)  # type: ignore[arg-type]
        fig = go.Figure(go.Parcoords(
            dimensions=dims,
            line={"color": scores, "colorscale": "Viridis", "showscale": True,
                  "reversescale": study.mode == "min", "cmin": cmin, "cmax": cmax,
                  "colorbar": {"title": {"text": metric}}},
            labelangle=-20,
        ))
        fig.update_layout(title=f"{study.name}: {shown}",
                          height=FIGURE_HEIGHT + 40, template="plotly_white",
                          margin={"l": 70, "r": 40, "t": 110, "b": 40})
        figures.append(fig)
    return figures


def _sample(trials: list[Trial], metric: str, mode: str) -> list[Trial]:
    """The best ``MAX_LINES // 2`` trials and a seeded random draw of the rest, in study order."""
    import random

    order = sorted(range(len(trials)), key=lambda i: trials[i].final(metric),  # type: ignore[arg-type,return-value]
                   reverse=mode != "min")
    best = order[:MAX_LINES // 2]
    rest = random.Random(SEED).sample(order[MAX_LINES // 2:], MAX_LINES - len(best))
    return [trials[i] for i in sorted(best + rest)]


def _scored(study: StudyData) -> list[Trial]:
    metric = study.metric
    if not metric:
        return []
    return [t for t in study.trials if t.final(metric) is not None]


def _param_names(trials: list[Trial]) -> list[str]:
    """Parameters of the trials, most common first."""
    counts: dict[str, int] = {}
    for t in trials:
        for name in t.params:
            counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda n: (-counts[n], n))
