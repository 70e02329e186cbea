"""STN: the hyperparameter schedules each trial followed.

Read from child-run metrics named ``hp.<name>`` (step = epoch); one row per hyperparameter, one
line per trial, coloured by trial status.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from searchlab.dashboard import StudyData

from ._common import STATUS_COLORS, legend_once

TITLE = "STN hyperparameter schedules"
ORDER = 80

PREFIX = "hp."


def applies(studies: list[StudyData]) -> bool:
    return any(_schedules(s) for s in studies)


def render(studies: list[StudyData]) -> list[go.Figure]:
    figures = []
    for study in studies:
        names = _schedules(study)
        if not names:
            continue
        fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                            subplot_titles=[n[len(PREFIX):] for n in names])
        seen: set[str] = set()
        for row, name in enumerate(names, start=1):
            for t in study.trials:
                steps, values = t.curve(name)
                if not steps:
                    continue
                fig.add_trace(go.Scatter(
                    x=steps, y=values, mode="lines", name=t.status, legendgroup=t.status,
                    showlegend=legend_once(seen, t.status),
                    line={"color": STATUS_COLORS.get(t.status, "#333333"), "width": 1.5},
                    hovertemplate=f"{t.trial_id}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
                ), row=row, col=1)
        fig.update_xaxes(title_text="epoch", row=len(names), col=1)
        fig.update_layout(title=f"{study.name}: hyperparameter schedules",
                          height=160 + 220 * len(names), template="plotly_white",
                          legend_title_text="trial status")
        figures.append(fig)
    return figures


def _schedules(study: StudyData) -> list[str]:
    return sorted({k for t in study.trials for k in t.history if k.startswith(PREFIX)})
