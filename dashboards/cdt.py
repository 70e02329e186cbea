"""CDT: the regret table per environment and bandit, then cumulative regret per chunk, mean
over seeds with a 95% confidence band, by tuner.

The table is CDT's own summary as it stored it (its ``final_regret`` table on the study's parent
run): per tuner the mean final regret over seeds with its 95 % interval, the excess over the best
fixed value in hindsight and the paired difference from CDT, then the best and the worst fixed
value of the oracle's grid. The curves are read from the child runs' ``cum_regret`` (step =
chunk index) and their ``environment``,
``bandit``, ``tuner``, ``seed`` and ``fixed`` params; one figure per execution, environment and
bandit. Of the oracle's fixed-value runs only the best fixed value in hindsight is drawn, as CDT
stored it (its ``best_fixed`` table on the study's parent run); without that table no best-fixed
band is drawn. The hyperparameters the tuners chose (every other metric logged per chunk, such
as ``alpha``) get one figure each.
"""

from __future__ import annotations

import plotly.graph_objects as go

from searchlab.dashboard import Execution, StudyData, Trial

from ._common import FIGURE_HEIGHT, color, mean_band, rgba

TITLE = "CDT regret"
ORDER = 50

REGRET = "cum_regret"
NOT_CHOSEN = frozenset({REGRET, "round", "time_total_s"})  # per-chunk metrics that aren't choices


def applies(studies: list[StudyData]) -> bool:
    return any(s.has_metric(REGRET) for s in studies)


def band_traces(label: str, c: str, curves: list[dict[int, float]],
                metric: str) -> list[go.Scatter]:
    """A shaded confidence band and the mean line over it, sharing one legend entry."""
    steps, mean, low, high = mean_band(curves)
    return [
        go.Scatter(x=steps + steps[::-1], y=high + low[::-1], fill="toself",
                   fillcolor=rgba(c, 0.18), line={"width": 0}, hoverinfo="skip",
                   name=f"{label} 95% CI", legendgroup=label, showlegend=False),
        go.Scatter(x=steps, y=mean, mode="lines", line={"color": c, "width": 2.5},
                   name=f"{label} (n={len(curves)})", legendgroup=label,
                   hovertemplate=f"{label}<br>chunk %{{x}}: mean {metric} "
                                 f"%{{y:.4g}}<extra></extra>"),
    ]


def best_fixed(execution: Execution) -> dict[tuple[str, str], str]:
    """(environment, bandit) -> the best fixed value in hindsight (e.g. ``alpha=1``), from the
    ``best_fixed`` table CDT stored on the execution's parent run (empty when absent)."""
    rows = execution.analysis.tables.get("best_fixed")
    if not isinstance(rows, list):
        return {}
    return {(str(r["environment"]), str(r["bandit"])): str(r["fixed"]) for r in rows
            if isinstance(r, dict) and {"environment", "bandit", "fixed"} <= r.keys()}


def tuner_groups(runs: list[Trial], best: str | None) -> dict[str, list[Trial]]:
    """Runs by tuner, then (last) the oracle's runs with the ``best`` fixed value; the oracle's
    other fixed values are left out."""
    groups: dict[str, list[Trial]] = {}
    for t in sorted(runs, key=lambda t: t.param("tuner") or ""):
        tuner = t.param("tuner") or "(no tuner)"
        if tuner != "fixed" or t.param("fixed") in (None, "-"):
            groups.setdefault(tuner, []).append(t)
    oracle = [t for t in runs if t.param("tuner") == "fixed" and best is not None
              and t.param("fixed") == best]
    if oracle:
        groups[f"best fixed ({best})"] = oracle
    return groups


def chosen_metrics(runs: list[Trial]) -> list[str]:
    """Metrics logged at more than one chunk that record a choice (e.g. ``alpha``)."""
    return sorted({k for t in runs for k, points in t.history.items()
                   if len(points) > 1 and k not in NOT_CHOSEN})


def render(studies: list[StudyData]) -> list[go.Figure]:
    figures = []
    for study in studies:
        for execution in study.executions:
            figures += _execution_figures(study.execution_label(execution), execution)
    return figures


def regret_tables(label: str, execution: Execution) -> list[go.Figure]:
    """One table per (environment, bandit) from the stored ``final_regret`` rows: the tuners,
    then the best and the worst fixed value (empty when CDT stored no table)."""
    rows = execution.analysis.tables.get("final_regret")
    if not isinstance(rows, list):
        return []
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if isinstance(r, dict) and {"environment", "bandit", "tuner", "final_regret"} <= r.keys():
            groups.setdefault((str(r["environment"]), str(r["bandit"])), []).append(r)
    figures = []
    for (env, bandit), here in sorted(groups.items()):
        fixed = sorted((r for r in here if str(r["tuner"]).startswith("fixed ")),
                       key=lambda r: r["final_regret"])
        shown = [r for r in here if not str(r["tuner"]).startswith("fixed ")]
        shown += [(fixed[0], "best fixed"), (fixed[-1], "worst fixed")][:min(2, len(fixed))] \
            if fixed else []
        names, seeds, regret, over, paired = [], [], [], [], []
        lead = next((str(r["paired_against"]) for r in here if r.get("paired_against")), "cdt")
        for item in shown:
            r, what = item if isinstance(item, tuple) else (item, "")
            names.append(f"{what}: {r['tuner'][len('fixed '):]}" if what else str(r["tuner"]))
            seeds.append(str(r.get("seeds", "")))
            ci = r.get("ci95")
            regret.append(f"{r['final_regret']:.1f}" + (f" ± {ci:.1f}" if ci is not None else ""))
            v = r.get("vs_best_fixed")
            over.append("" if v is None else f"{100 * v:+.1f} %")
            d, dci = r.get("cdt_minus"), r.get("cdt_minus_ci95")
            paired.append("" if d is None else f"{d:+.1f} ± {dci or 0:.1f}")
        where = ", ".join(x for x in (label, env, bandit) if x)
        fig = go.Figure(go.Table(
            header={"values": ["tuner", "seeds", "final regret (mean ± 95% CI)",
                               "over best fixed", f"{lead} − tuner (paired)"],
                    "align": "left", "fill_color": "#f4f6f8"},
            cells={"values": [names, seeds, regret, over, paired], "align": "left",
                   "height": 24}))
        fig.update_layout(title=f"{where}: final regret over seeds ({len(fixed)} fixed values "
                                f"in the oracle's grid)",
                          height=min(640, 140 + 26 * len(names)), template="plotly_white",
                          margin={"l": 20, "r": 20, "t": 60, "b": 20})
        figures.append(fig)
    return figures


def _execution_figures(label: str, execution: Execution) -> list[go.Figure]:
    runs = [t for t in execution.trials if t.history.get(REGRET)]
    best = best_fixed(execution)
    figures = regret_tables(label, execution)
    for env, bandit in sorted({(t.param("environment") or "", t.param("bandit") or "")
                               for t in runs}):
        here = [t for t in runs
                if (t.param("environment") or "", t.param("bandit") or "") == (env, bandit)]
        groups = tuner_groups(here, best.get((env, bandit)))
        where = ", ".join(x for x in (label, env, bandit) if x)
        for metric in [REGRET, *chosen_metrics(here)]:
            fig = go.Figure()
            for i, (name, members) in enumerate(groups.items()):
                curves = [_curve(t, metric) for t in members if t.history.get(metric)]
                if curves:
                    fig.add_traces(band_traces(name, color(i), curves, metric))
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
