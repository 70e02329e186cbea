"""Deep GA: best and mean fitness per generation.

Read from the child runs' ``best_fitness`` and ``mean_fitness`` metrics (step = generation);
one line pair per run, best solid and mean dotted.
"""

from __future__ import annotations

import plotly.graph_objects as go

from searchlab.dashboard import StudyData

from ._common import FIGURE_HEIGHT, color

TITLE = "Deep GA fitness"
ORDER = 70

BEST, MEAN = "best_fitness", "mean_fitness"


def applies(studies: list[StudyData]) -> bool:
    return any(s.has_metric(BEST) for s in studies)


def render(studies: list[StudyData]) -> list[go.Figure]:
    figures = []
    for study in studies:
        runs = [t for t in study.trials if t.history.get(BEST)]
        if not runs:
            continue
        fig = go.Figure()
        for i, t in enumerate(runs):
            c = color(i)
            for metric, dash in ((BEST, "solid"), (MEAN, "dot")):
                steps, values = t.curve(metric)
                if not steps:
                    continue
                fig.add_trace(go.Scatter(
                    x=steps, y=values, mode="lines", line={"color": c, "dash": dash, "width": 2},
                    name=f"{t.trial_id} {metric.split('_')[0]}", legendgroup=t.trial_id,
                    hovertemplate=f"{t.trial_id}<br>generation %{{x}}: {metric} %{{y:.4g}}"
                                  "<extra></extra>",
                ))
        fig.update_layout(title=f"{study.name}: fitness per generation", height=FIGURE_HEIGHT,
                          template="plotly_white", xaxis_title="generation",
                          yaxis_title="fitness")
        figures.append(fig)
    return figures
