"""Learning-rate-free optimizers: performance profiles of time to target (Dolan & Moré, 2002).

For each optimizer, the fraction of workloads on which its time to reach the target is within
a factor τ of the fastest optimizer's on that workload. Read from child-run params
``optimizer`` and ``workload`` and metric ``time_to_target``; a run that never reached the
target has no ``time_to_target``. Seeds are summarised by their median (a run that missed
counts as infinitely slow). Curves further up and to the left are better.
"""

from __future__ import annotations

import math
import statistics

import plotly.graph_objects as go

from searchlab.dashboard import StudyData, Trial

from ._common import FIGURE_HEIGHT, color

TITLE = "Performance profiles"
ORDER = 90

METRIC = "time_to_target"


def applies(studies: list[StudyData]) -> bool:
    return any(_runs(s) for s in studies)


def performance_profile(times: dict[tuple[str, str], list[float]]) -> dict[str, list[float]]:
    """Each optimizer's sorted performance ratios over all workloads (inf: never reached).

    ``times`` maps (optimizer, workload) to the times of its seeds (inf for a miss).
    """
    optimizers = sorted({o for o, _ in times})
    workloads = sorted({w for _, w in times})
    summary = {key: statistics.median(values) for key, values in times.items()}
    ratios: dict[str, list[float]] = {o: [] for o in optimizers}
    for w in workloads:
        finite = [summary[(o, w)] for o in optimizers
                  if (o, w) in summary and math.isfinite(summary[(o, w)])]
        best = min(finite) if finite else math.inf
        for o in optimizers:
            t = summary.get((o, w), math.inf)
            if not math.isfinite(t):
                ratios[o].append(math.inf)
            elif best > 0:
                ratios[o].append(t / best)
            else:  # a zero time: only other zero times tie with it
                ratios[o].append(1.0 if t <= best else math.inf)
    return {o: sorted(r) for o, r in ratios.items()}


def render(studies: list[StudyData]) -> list[go.Figure]:
    figures = []
    for study in studies:
        runs = _runs(study)
        if not runs:
            continue
        times: dict[tuple[str, str], list[float]] = {}
        for t in runs:
            workload = t.param("workload") or t.tags.get("searchlab.workload", "?")
            value = t.final(METRIC)
            times.setdefault((t.param("optimizer") or "?", workload), []).append(
                math.inf if value is None else value)
        profile = performance_profile(times)
        finite = [r for rs in profile.values() for r in rs if math.isfinite(r)]
        tau_max = max(2.0, max(finite, default=1.0) * 1.25)
        n_workloads = len({w for _, w in times})
        fig = go.Figure()
        for i, (optimizer, ratios) in enumerate(profile.items()):
            xs, ys = [1.0], [0.0]
            for k, r in enumerate(ratios, start=1):
                if math.isfinite(r):
                    xs.append(r)
                    ys.append(k / len(ratios))
            xs.append(tau_max)
            ys.append(ys[-1])
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines", line={"shape": "hv", "width": 2.5, "color": color(i)},
                name=optimizer,
                hovertemplate=f"{optimizer}<br>τ=%{{x:.3g}}: %{{y:.0%}} of workloads<extra></extra>",
            ))
        fig.update_layout(
            title=f"{study.name}: performance profile of {METRIC} ({n_workloads} workloads)",
            height=FIGURE_HEIGHT, template="plotly_white",
            xaxis={"title": "τ (time relative to the fastest optimizer)", "type": "log"},
            yaxis={"title": "fraction of workloads within τ", "range": [0, 1.05],
                   "tickformat": ".0%"},
            legend_title_text="optimizer",
        )
        figures.append(fig)
    return figures


def _runs(study: StudyData) -> list[Trial]:
    """Finished runs with an optimizer, in studies that record a time to target at all."""
    if not any(METRIC in t.metrics for t in study.trials):
        return []
    return [t for t in study.trials if t.param("optimizer") is not None and t.status != "running"]
