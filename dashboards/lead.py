"""What a method says its study's result is, first on the page.

A method whose analysis *is* the result (``lr_free``: its trials' ``val_metric`` lie on
different workloads' scales, so a best-trial view would rank apples against pears; CDT, Deep GA,
STN: the trait ``draws_own_analysis``) has its study's parent run tagged
``searchlab.lead=analysis``, with the stored table that leads (``searchlab.lead_table``, a list
of rows in ``analysis/<name>.json``) and the stored figures that lead
(``searchlab.lead_figures``, comma-separated); see :data:`searchlab.methods.base.LEAD_TAG`. This
panel draws them, per execution, before every other panel; the "Stored analyses" panel draws the
rest.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from searchlab.dashboard import Execution, StudyData
from searchlab.methods.base import LEAD_FIGURES_TAG, LEAD_TABLE_TAG

from .analysis import stored_figure

TITLE = "Result"
ORDER = 5

LINE_HEIGHT = 26
MIN_HEIGHT = 220  # a table of one or two rows still reads as a figure (as the summary table)


def leads(execution: Execution) -> bool:
    return not execution.trial_panels


def lead_figures(execution: Execution) -> list[str]:
    """The names of the stored figures that lead (empty unless the execution leads)."""
    if not leads(execution):
        return []
    names = execution.tags.get(LEAD_FIGURES_TAG, "")
    return [n.strip() for n in names.split(",") if n.strip()]


def applies(studies: list[StudyData]) -> bool:
    return any(leads(ex) for s in studies for ex in s.executions)


def render(studies: list[StudyData]) -> list[go.Figure]:
    figures = []
    for study in studies:
        for execution in study.executions:
            if not leads(execution):
                continue
            label = study.execution_label(execution)
            name = execution.tags.get(LEAD_TABLE_TAG)
            rows = execution.analysis.tables.get(name) if name else None
            if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
                figures.append(table_figure(label, name or "", rows))
            for fig_name in lead_figures(execution):
                stored = execution.analysis.figures.get(fig_name)
                if stored is not None:
                    figures.append(stored_figure(label, fig_name, stored))
    return figures


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}" if math.isfinite(v) else str(v)
    return str(v)


def table_figure(label: str, name: str, rows: list[dict[str, Any]]) -> go.Figure:
    """The lead table as a Plotly table: a column per key (in the rows' order), numbers to
    three decimals."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    fig = go.Figure(go.Table(
        header={"values": [c.replace("_", " ") for c in columns], "align": "left",
                "fill_color": "#f4f6f8", "font": {"size": 13}},
        cells={"values": [[_cell(r.get(c)) for r in rows] for c in columns], "align": "left",
               "height": LINE_HEIGHT, "font": {"size": 12}},
    ))
    fig.update_layout(title_text=f"{label}: {name} (analysis/{name}.json)",
                      height=min(700, max(MIN_HEIGHT, 90 + LINE_HEIGHT * (len(rows) + 1))),
                      margin={"l": 20, "r": 20, "t": 60, "b": 20})
    return fig
