"""Helpers shared by the panels: colours, directions, parameter columns."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from searchlab.dashboard import StudyData, statuses_of

STATUS_COLORS = {
    "completed": "#2e7d32",
    "early_stopped": "#8d99ae",
    "timed_out": "#b8860b",
    "diverged": "#ef6c00",
    "failed": "#c62828",
    "running": "#6a1b9a",
}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22")
FIGURE_HEIGHT = 420

def trial_studies(studies: Sequence[StudyData]) -> list[StudyData]:
    """The studies the generic trial panels (curves, best so far, space, importance) cover: those
    with an execution whose stored analysis does not replace them. A method whose trials are not
    configurations scored epoch by epoch (bandit runs, GA runs, benchmark cells, hypernetwork
    training) says so in its analysis; its figures come from that analysis (the ``analysis``
    panel) or a panel of its own."""
    return [s for s in studies if any(e.trial_panels for e in s.executions)]


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def is_better(a: float, b: float, mode: str) -> bool:
    return a < b if mode == "min" else a > b


def best_so_far(values: Iterable[float], mode: str) -> list[float]:
    """Running best of ``values`` (min or max), in the order given."""
    out: list[float] = []
    for v in values:
        out.append(v if not out or is_better(v, out[-1], mode) else out[-1])
    return out


def parse_number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def numeric_column(values: Sequence[str | None]) -> bool:
    """True if every present value parses as a finite number (booleans stay categorical)."""
    present = [v for v in values if v is not None]
    return bool(present) and all(parse_number(v) is not None for v in present)


def log_scaled(numbers: Sequence[float]) -> bool:
    """Positive values spanning more than two orders of magnitude read better on a log axis."""
    return bool(numbers) and min(numbers) > 0 and max(numbers) / min(numbers) > 100


def legend_once(seen: set[str], key: str) -> bool:
    """True the first time ``key`` is seen: show one legend entry per group."""
    if key in seen:
        return False
    seen.add(key)
    return True


def mean_band(
    curves: Sequence[Mapping[int, float]], z: float = 1.96
) -> tuple[list[int], list[float], list[float], list[float]]:
    """Steps, mean and a normal-approximation confidence band (mean ± z·sem) over ``curves``.

    Each curve maps step -> value; a step's statistics use the curves that reach it.
    """
    steps = sorted({s for c in curves for s in c})
    mean, low, high = [], [], []
    for step in steps:
        col = [c[step] for c in curves if step in c and math.isfinite(c[step])]
        m = sum(col) / len(col) if col else math.nan
        half = 0.0
        if len(col) > 1:
            sd = math.sqrt(sum((x - m) ** 2 for x in col) / (len(col) - 1))
            half = z * sd / math.sqrt(len(col))
        mean.append(m)
        low.append(m - half)
        high.append(m + half)
    return steps, mean, low, high


def time_unit(max_seconds: float) -> tuple[str, float]:
    """A readable unit for a time axis: (name, seconds per unit)."""
    if max_seconds > 3 * 3600:
        return "h", 3600.0
    if max_seconds > 3 * 60:
        return "min", 60.0
    return "s", 1.0


def axis_title(metric: str, mode: str) -> str:
    return f"{metric} ({'lower' if mode == 'min' else 'higher'} is better)"


def curves_by_status(trials: Sequence[Any], key: str, text: Callable[[Any], str],
                     hovertemplate: str, **style: Any) -> list[Any]:
    """One line trace per trial status, each trial's ``key`` history separated by gaps
    (a trace per status rather than per trial keeps the page light)."""
    import plotly.graph_objects as go

    traces = []
    for status in statuses_of(trials):
        group = [t for t in trials if t.status == status]
        if not group:
            continue
        xs: list[float | None] = []
        ys: list[float | None] = []
        texts: list[str | None] = []
        for t in group:
            steps, values = t.curve(key)
            xs += [*steps, None]
            ys += [*values, None]
            texts += [text(t)] * len(steps) + [None]
        traces.append(go.Scatter(
            x=xs, y=ys, text=texts, mode="lines+markers", connectgaps=False,
            name=f"{status} ({len(group)})",
            line={"color": STATUS_COLORS.get(status, "#333333"), "width": 1.5},
            marker={"size": 4}, hovertemplate=hovertemplate.replace("{status}", status), **style,
        ))
    return traces
