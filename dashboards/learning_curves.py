"""Learning curves: the study metric at each epoch of every trial, coloured by trial status.

Early-stopped trials end where the scheduler stopped them; diverged and failed trials stand out.
"""

from __future__ import annotations

import plotly.graph_objects as go

from searchlab.dashboard import StudyData

from ._common import FIGURE_HEIGHT, axis_title, curves_by_status, trial_studies

TITLE = "Learning curves"
ORDER = 20


def applies(studies: list[StudyData]) -> bool:
    return any(_with_curves(s) for s in trial_studies(studies))


def render(studies: list[StudyData]) -> list[go.Figure]:
    figures = []
    for study in trial_studies(studies):
        trials = _with_curves(study)
        if not trials:
            continue
        metric = study.metric
        assert metric is not None  # _with_curves() needs one
        fig = go.Figure()
        for trace in curves_by_status(
                trials, metric, lambda t: t.trial_id, opacity=0.85,
                hovertemplate="%{text} ({status})<br>epoch %{x}: %{y:.4g}<extra></extra>"):
            fig.add_trace(trace)
        fig.update_layout(
            title=f"{study.name}: {metric} by epoch", height=FIGURE_HEIGHT,
            template="plotly_white", xaxis_title="epoch",
            yaxis_title=axis_title(metric, study.mode), legend_title_text="trial status",
        )
        figures.append(fig)
    return figures


def _with_curves(study: StudyData) -> list:
    metric = study.metric
    if not metric:
        return []
    return [t for t in study.trials if t.curve(metric)[0]]
