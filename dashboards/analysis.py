"""Every figure a method stored for its study, and the method's summary text.

A method summarises a study on the study's parent MLflow run: Plotly figures as
``analysis/<name>.plotly.json`` and a short report as ``analysis/summary.md``. They are drawn
here as stored, titled with the study (and execution) they belong to, so a method gets on the
dashboard by storing figures rather than by adding a panel.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from searchlab.dashboard import StudyData

from ._common import FIGURE_HEIGHT

TITLE = "Stored analyses"
ORDER = 90

LINE_HEIGHT = 24  # pixels per line of the summary table
MIN_SUMMARY_HEIGHT, MAX_SUMMARY_HEIGHT = 220, 640  # a longer summary scrolls in its table


def applies(studies: list[StudyData]) -> bool:
    return any(ex.analysis.figures or ex.analysis.text for s in studies for ex in s.executions)


def render(studies: list[StudyData]) -> list[go.Figure]:
    from .lead import lead_figures

    figures = []
    for study in studies:
        for execution in study.executions:
            label = study.execution_label(execution)
            drawn = set(lead_figures(execution))  # the "Result" panel drew these first
            for name, stored in execution.analysis.figures.items():
                if name not in drawn:
                    figures.append(stored_figure(label, name, stored))
            if execution.analysis.text:
                figures.append(summary_figure(label, execution.analysis.text))
    return figures


def stored_figure(label: str, name: str, stored: dict[str, Any]) -> go.Figure:
    """The stored figure, its title prefixed with ``label`` (its file name if it has none).

    A figure this plotly cannot read is shown as an empty figure that says why."""
    try:
        fig = go.Figure(stored)
    except ValueError as e:
        reason = (str(e).strip().splitlines() or ["invalid figure"])[0][:200]
        fig = go.Figure()
        fig.add_annotation(text=f"analysis/{name}.plotly.json could not be drawn: {reason}",
                           showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    title = fig.layout.title.text or name
    fig.update_layout(title_text=f"{label}: {title}")
    if fig.layout.height is None:
        fig.update_layout(height=FIGURE_HEIGHT)
    return fig


def summary_figure(label: str, text: str) -> go.Figure:
    """The summary text as a one-column table, a line per row."""
    lines = [line for line in text.splitlines() if line.strip()]
    height = min(MAX_SUMMARY_HEIGHT, max(MIN_SUMMARY_HEIGHT, 90 + LINE_HEIGHT * (len(lines) + 1)))
    fig = go.Figure(go.Table(
        header={"values": ["summary (analysis/summary.md)"], "align": "left",
                "fill_color": "#f4f6f8", "font": {"size": 13}},
        cells={"values": [lines], "align": "left", "height": LINE_HEIGHT,
               "font": {"family": "ui-monospace, Menlo, Consolas, monospace", "size": 12}},
    ))
    fig.update_layout(title_text=f"{label}: summary", height=height,
                      margin={"l": 20, "r": 20, "t": 60, "b": 20})
    return fig
