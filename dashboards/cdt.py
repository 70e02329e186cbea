"""CDT: cumulative regret per chunk, mean over seeds with a 95% confidence band, by tuner.

Read from the child runs' ``cum_regret`` (step = chunk index) and their ``environment``,
``bandit``, ``tuner``, ``seed`` and ``fixed`` params; one figure per environment and bandit.
Of the oracle's fixed-value runs only the best fixed value in hindsight (lowest mean final
regret) is drawn. The hyperparameters the tuners chose (every other metric logged per chunk,
such as ``alpha``) get one figure each.
"""

from __future__ import annotations

import statistics

import plotly.graph_objects as go

from searchlab.dashboard import StudyData, Trial

from ._common import FIGURE_HEIGHT, color, mean_band, rgba

TITLE = "CDT regret"
ORDER = 50

REGRET = "cum_regret"
NOT_CHOSEN = frozenset({REGRET, "round", "time_total_s"})  # per-chunk metrics that aren't choices


def applies(studies: list[StudyData]) -> bool:
    return any(s.has_metric(REGRET) for s in studies)


def band_traces(label: str, c: str, curves: list[dict[int, float]], metric: str) -> list[go.Scatter]:
    """A shaded confidence band and the mean line over it, sharing one legend entry."""
    steps, mean, low, high = mean_band(curves)
    return [
        go.Scatter(x=steps + steps[::-1], y=high + low[::-1], fill="toself",
                   fillcolor=rgba(c, 0.18), line={"width": 0}, hoverinfo="skip",
                   name=f"{label} 95% CI", legendgroup=label, showlegend=False),
        go.Scatter(x=steps, y=mean, mode="lines", line={"color": c, "width": 2.5},
                   name=f"{label} (n={len(curves)})", legendgroup=label,
                   hovertemplate=f"{label}<br>chunk %{{x}}: mean {metric} %{{y:.4g}}<extra></extra>"),
    ]


def tuner_groups(runs: list[Trial]) -> dict[str, list[Trial]]:
    """Runs by tuner; the oracle's fixed values reduced to the best one in hindsight."""
    groups: dict[str, list[Trial]] = {}
    fixed: dict[str, list[Trial]] = {}
    for t in sorted(runs, key=lambda t: (t.param("tuner") or "", t.param("fixed") or "")):
        tuner = t.param("tuner") or "(no tuner)"
        value = t.param("fixed")
        if tuner == "fixed" and value not in (None, "-"):
            fixed.setdefault(value, []).append(t)  # type: ignore[arg-type]
        else:
            groups.setdefault(tuner, []).append(t)
    if fixed:
        best = min(fixed, key=lambda v: statistics.mean(
            t.curve(REGRET)[1][-1] for t in fixed[v] if t.curve(REGRET)[1]))
        groups[f"best fixed ({best})"] = fixed[best]
    return groups


def chosen_metrics(runs: list[Trial]) -> list[str]:
    """Metrics logged at more than one chunk that record a choice (e.g. ``alpha``)."""
    return sorted({k for t in runs for k, points in t.history.items()
                   if len(points) > 1 and k not in NOT_CHOSEN})


def render(studies: list[StudyData]) -> list[go.Figure]:
    figures = []
    for study in studies:
        runs = [t for t in study.trials if t.history.get(REGRET)]
        cells = sorted({(t.param("environment") or "", t.param("bandit") or "") for t in runs})
        for env, bandit in cells:
            here = [t for t in runs
                    if (t.param("environment") or "", t.param("bandit") or "") == (env, bandit)]
            groups = tuner_groups(here)
            where = ", ".join(x for x in (study.name, env, bandit) if x)
            for metric in [REGRET, *chosen_metrics(here)]:
                fig = go.Figure()
                for i, (label, members) in enumerate(groups.items()):
                    curves = [_curve(t, metric) for t in members if t.history.get(metric)]
                    if curves:
                        fig.add_traces(band_traces(label, color(i), curves, metric))
                if not fig.data:
                    continue
                what = "cumulative regret" if metric == REGRET else f"{metric} chosen"
                fig.update_layout(
                    title=f"{where}: {what} per chunk (mean over seeds, 95% CI)",
                    height=FIGURE_HEIGHT, template="plotly_white",
                    xaxis_title="chunk", yaxis_title=metric, legend_title_text="tuner",
                )
                figures.append(fig)
    return figures


def _curve(trial: Trial, metric: str) -> dict[int, float]:
    steps, values = trial.curve(metric)
    return dict(zip(steps, values, strict=True))
