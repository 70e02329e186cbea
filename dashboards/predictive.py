"""Predictive scheduler: predicted against actual final values, and the chance to beat the best.

Trials that ran to the end show how close each prediction (``predicted_final`` at every epoch)
came to the value the trial really finished at; points on the diagonal were exact. The second
figure follows ``p_beat_best`` per epoch, so the scheduler's stop decisions
(tag ``searchlab.stop_reason``) can be checked against it.
"""

from __future__ import annotations

import plotly.graph_objects as go

from searchlab.dashboard import StudyData

from ._common import FIGURE_HEIGHT, curves_by_status

TITLE = "Predicted final values"
ORDER = 60

PREDICTED = "predicted_final"
P_BEAT = "p_beat_best"


def applies(studies: list[StudyData]) -> bool:
    return any(s.has_metric(PREDICTED) and s.metric for s in studies)


def prediction_points(study: StudyData) -> tuple[list[float], list[float], list[int], list[str]]:
    """(actual final, predicted, epoch of prediction, trial id) for trials that completed."""
    metric = study.metric
    actual, predicted, epochs, ids = [], [], [], []
    for t in study.trials:
        final = t.final(metric) if metric else None
        if t.status != "completed" or final is None:
            continue
        for p in t.history.get(PREDICTED, ()):
            actual.append(final)
            predicted.append(p.value)
            epochs.append(p.step)
            ids.append(t.trial_id)
    return actual, predicted, epochs, ids


def render(studies: list[StudyData]) -> list[go.Figure]:
    figures = []
    for study in studies:
        if not (study.has_metric(PREDICTED) and study.metric):
            continue
        actual, predicted, epochs, ids = prediction_points(study)
        if actual:
            lo, hi = min(actual + predicted), max(actual + predicted)
            fig = go.Figure([
                go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="exact",
                           line={"color": "#9aa5b1", "dash": "dash"}, hoverinfo="skip"),
                go.Scatter(x=actual, y=predicted, mode="markers", name="prediction", text=ids,
                           marker={"color": epochs, "colorscale": "Viridis", "size": 7,
                                   "showscale": True, "colorbar": {"title": {"text": "epoch"}}},
                           customdata=epochs,
                           hovertemplate="%{text}, epoch %{customdata}<br>actual %{x:.4g}"
                                         "<br>predicted %{y:.4g}<extra></extra>"),
            ])
            fig.update_layout(
                title=f"{study.name}: predicted vs actual final {study.metric} (completed trials)",
                height=FIGURE_HEIGHT + 40, template="plotly_white",
                xaxis_title=f"actual final {study.metric}",
                yaxis_title=f"predicted final {study.metric}", showlegend=False,
            )
            figures.append(fig)
        if study.has_metric(P_BEAT):
            figures.append(_p_beat_figure(study))
    return figures


def _p_beat_figure(study: StudyData) -> go.Figure:
    fig = go.Figure()
    trials = [t for t in study.trials if t.history.get(P_BEAT)]
    for trace in curves_by_status(
            trials, P_BEAT,
            lambda t: f"{t.trial_id} {t.tags.get('searchlab.stop_reason', '')}".strip(),
            hovertemplate="%{text}<br>epoch %{x}: p=%{y:.3f}<extra></extra>"):
        fig.add_trace(trace)
    fig.update_layout(
        title=f"{study.name}: probability of beating the best trial, by epoch",
        height=FIGURE_HEIGHT, template="plotly_white", xaxis_title="epoch",
        yaxis={"title": P_BEAT, "range": [-0.02, 1.02]}, legend_title_text="trial status",
    )
    return fig
