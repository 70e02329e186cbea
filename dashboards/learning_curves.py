"""Learning curves: the study metric at each epoch of every trial, coloured by trial status.

Early-stopped trials end where the scheduler stopped them; diverged and failed trials stand out.
"""

from __future__ import annotations

import plotly.graph_objects as go

from searchlab.dashboard import StudyData, statuses_of

from ._common import FIGURE_HEIGHT, STATUS_COLORS, axis_title, trial_studies

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
        for status in statuses_of(trials):
            group = [t for t in trials if t.status == status]
            if not group:
                continue
            # One trace per status: curves separated by gaps keep the page light.
            xs: list[float | None] = []
            ys: list[float | None] = []
            texts: list[str | None] = []
            for t in group:
                steps, values = t.curve(metric)
                xs += [*steps, None]
                ys += [*values, None]
                texts += [t.trial_id] * len(steps) + [None]
            fig.add_trace(go.Scatter(
                x=xs, y=ys, text=texts, mode="lines+markers", connectgaps=False,
                name=f"{status} ({len(group)})",
                line={"color": STATUS_COLORS.get(status, "#333333"), "width": 1.5},
                marker={"size": 4}, opacity=0.85,
                hovertemplate=f"%{{text}} ({status})<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
            ))
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
