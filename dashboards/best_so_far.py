"""Best value so far against wall time and against the number of finished trials, per study.

Each line is one study execution; its time axis starts when the study's parent run started.
A trial counts when it last reported, with its last reported value. Studies are overlaid when
they optimise the same metric in the same direction.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from searchlab.dashboard import Execution, StudyData

from ._common import (
    FIGURE_HEIGHT,
    axis_title,
    best_so_far,
    color,
    scatter,
    time_unit,
    trial_studies,
)

TITLE = "Best so far"
ORDER = 10


def applies(studies: list[StudyData]) -> bool:
    return any(_finished(ex) for s in trial_studies(studies) for ex in s.executions)


def trace_points(execution: Execution) -> tuple[list[float], list[float], list[str]]:
    """(seconds since study start, value, trial id) for each trial with a value, by finish time."""
    metric = execution.metric
    assert metric is not None  # _finished() only keeps executions with a metric
    done = sorted(_finished(execution), key=lambda t: t.last_report_ms)
    seconds = [(t.last_report_ms - execution.start_time_ms) / 1000 for t in done]
    return seconds, [t.final(metric) for t in done], [t.trial_id for t in done]  # type: ignore[misc]


def render(studies: list[StudyData]) -> list[go.Figure]:
    groups: dict[tuple[str, str], list[tuple[str, Execution]]] = {}
    for study in trial_studies(studies):
        for ex in study.executions:
            if _finished(ex):
                groups.setdefault((ex.metric, ex.mode), []).append(  # type: ignore[arg-type]
                    (study.execution_label(ex), ex))
    figures = []
    for (metric, mode), members in groups.items():
        fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                            subplot_titles=("against wall time", "against finished trials"))
        points = [trace_points(ex) for _, ex in members]
        unit, scale = time_unit(max(max(p[0]) for p in points))
        for i, ((label, _), (seconds, values, ids)) in enumerate(zip(members, points, strict=True)):
            best = best_so_far(values, mode)
            times = [s / scale for s in seconds]
            n = list(range(1, len(values) + 1))
            c = color(i)
            trace = scatter(len(values))
            for col, x in ((1, times), (2, n)):
                fig.add_trace(trace(
                    x=x, y=best, mode="lines", line={"color": c, "width": 2.5, "shape": "hv"},
                    name=label, legendgroup=label, showlegend=col == 1,
                    hovertemplate=f"{label}<br>best %{{y:.4g}}<extra></extra>",
                ), row=1, col=col)
                fig.add_trace(trace(
                    x=x, y=values, mode="markers", marker={"color": c, "size": 5, "opacity": 0.35},
                    name=f"{label} trials", legendgroup=label, showlegend=False, text=ids,
                    hovertemplate="%{text}: %{y:.4g}<extra></extra>",
                ), row=1, col=col)
        fig.update_xaxes(title_text=f"wall time since study start ({unit})", row=1, col=1)
        fig.update_xaxes(title_text="finished trials", row=1, col=2)
        fig.update_yaxes(title_text=axis_title(metric, mode), row=1, col=1)
        fig.update_layout(title=f"Best {metric} so far", height=FIGURE_HEIGHT,
                          template="plotly_white", legend={"orientation": "h", "y": -0.2})
        figures.append(fig)
    return figures


def _finished(execution: Execution) -> list:
    metric = execution.metric
    if not metric:
        return []
    return [t for t in execution.trials if t.final(metric) is not None]
