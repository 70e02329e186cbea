"""STN: each run against the plain run of its seed, its final hyperparameters, and the schedules.

Drawn from what STN stored on the study's parent run (``analysis/stn_runs.json``: one row per
run; ``analysis/stn_schedules.json``: one row per run and epoch, see
``searchlab.methods.stn.analysis``): first a table (best validation loss, the difference to the
plain run, compute against it, final hyperparameters), then one panel per hyperparameter and one
for the validation loss, a line per run, the plain runs dashed.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from searchlab.dashboard import Execution, StudyData

from ._common import color

TITLE = "STN against the plain run"
ORDER = 70  # the trial panels leave STN studies out: for them this comes first

RUNS, SCHEDULES = "stn_runs", "stn_schedules"
NOT_HYPER = frozenset({"variant", "seed", "epoch", "val_loss"})


def applies(studies: list[StudyData]) -> bool:
    return any(_rows(ex, RUNS) for s in studies for ex in s.executions)


def render(studies: list[StudyData]) -> list[go.Figure]:
    figures = []
    for study in studies:
        for execution in study.executions:
            runs = _rows(execution, RUNS)
            if not runs:
                continue
            label = study.execution_label(execution)
            figures.append(_table(label, runs))
            schedules = _rows(execution, SCHEDULES)
            if schedules:
                figures.append(_schedules(label, schedules))
    return figures


def _rows(execution: Execution, name: str) -> list[dict[str, Any]]:
    rows = execution.analysis.tables.get(name)
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _num(v: Any, digits: int = 4) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) else "-"


def _table(label: str, runs: list[dict[str, Any]]) -> go.Figure:
    names = sorted({k.removeprefix("final.") for r in runs for k in r if k.startswith("final.")})
    ordered = sorted(runs, key=lambda r: (r.get("variant") == "plain", str(r.get("variant")),
                                          str(r.get("seed"))))
    columns = {
        "run": [f"{r.get('variant')} seed {r.get('seed')}" for r in ordered],
        "best val loss": [_num(r.get("best_val_loss")) for r in ordered],
        "minus plain": [_num(r.get("minus_plain")) if "minus_plain" in r else "-"
                        for r in ordered],
        "epoch": [str(r.get("best_epoch", "-")) for r in ordered],
        "test loss at best": [_num(r.get("test_loss_at_best")) for r in ordered],
        "CPU s (x plain)": [
            (f"{r['cpu_seconds']:.0f}" if isinstance(r.get("cpu_seconds"), (int, float)) else "-")
            + (f" ({r['cpu_over_plain']:.2f}x)" if "cpu_over_plain" in r else "")
            for r in ordered],
        **{f"final {n}": [_num(r.get(f"final.{n}"), 3) for r in ordered] for n in names},
    }
    fig = go.Figure(go.Table(
        header={"values": list(columns), "align": "left", "fill_color": "#f4f6f8"},
        cells={"values": list(columns.values()), "align": "left", "height": 24}))
    fig.update_layout(title_text=f"{label}: STN against the plain run (final hyperparameters)",
                      height=min(600, max(240, 140 + 26 * len(ordered))),
                      margin={"l": 20, "r": 20, "t": 60, "b": 20})
    return fig


def _schedules(label: str, rows: list[dict[str, Any]]) -> go.Figure:
    names = sorted({k for r in rows for k in r if k not in NOT_HYPER})
    panels = [*names, "val_loss"]
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, subplot_titles=panels,
                        vertical_spacing=0.06)
    runs = list(dict.fromkeys((r.get("variant"), r.get("seed")) for r in rows))
    for i, (variant, seed) in enumerate(runs):
        mine = [r for r in rows if r.get("variant") == variant and r.get("seed") == seed]
        name = f"{variant} seed {seed}"
        line = {"color": color(i), "dash": "dash" if variant == "plain" else "solid"}
        for j, panel in enumerate(panels, 1):
            fig.add_scatter(x=[r.get("epoch") for r in mine], y=[r.get(panel) for r in mine],
                            mode="lines", name=name, legendgroup=name, showlegend=j == 1,
                            line=line, row=j, col=1,
                            hovertemplate=f"{name}<br>epoch %{{x}}: {panel} %{{y:.4g}}"
                                          "<extra></extra>")
    fig.update_layout(title_text=f"{label}: learned schedules and validation loss (plain runs "
                                 "dashed)", height=180 * len(panels) + 80)
    fig.update_xaxes(title_text="epoch", row=len(panels), col=1)
    return fig
