"""Cross-study HTML reports built from MLflow alone.

``build_report`` reads the runs searchlab wrote to MLflow (one experiment per study, one parent
run per study execution, one nested child run per trial), hands them to every panel found in the
``dashboards/`` folder, and writes one self-contained HTML page: plotly.js is inlined once, so the
page works offline and can be mailed around.

A panel is a module in ``dashboards/`` (import name ``searchlab_dashboards``) with::

    TITLE: str                                    # section heading
    ORDER: int                                    # position on the page (smaller first)
    def applies(studies: list[StudyData]) -> bool
    def render(studies: list[StudyData]) -> list[plotly.graph_objects.Figure]

Adding a method's panel is adding a file there. Panels see only the :class:`StudyData` below,
never the study's private files. A method's own summary of a study (tables, Plotly figures, a
text report: :class:`searchlab.methods.base.Analysis`, stored under ``analysis/`` on the parent
run) is loaded into each :class:`Execution`; panels draw what is stored rather than recomputing
a method's analysis.
"""

from searchlab.dashboard.data import (
    DashboardError,
    Execution,
    MetricPoint,
    StoredAnalysis,
    StudyData,
    Trial,
    load_studies,
    statuses_of,
    study_names,
)
from searchlab.dashboard.report import build_report, figures_in, load_panels

__all__ = ["DashboardError", "Execution", "MetricPoint", "StoredAnalysis", "StudyData", "Trial",
           "build_report", "figures_in", "load_panels", "load_studies", "statuses_of",
           "study_names"]
