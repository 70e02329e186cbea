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

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import html
import importlib
import importlib.util
import json
import math
import os
import pkgutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from searchlab.errors import SearchlabError

PANELS_PACKAGE = "searchlab_dashboards"
# The repository layout: dashboards/ next to the searchlab package.
PANELS_DIR = Path(__file__).resolve().parent.parent / "dashboards"

TRIAL_STATUSES = ("completed", "early_stopped", "timed_out", "diverged", "failed", "running")
_MLFLOW_STATUS = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "failed",
                  "RUNNING": "running", "SCHEDULED": "running"}


def statuses_of(trials: Sequence[Trial]) -> list[str]:
    """The statuses these trials have: the known ones in TRIAL_STATUSES order, then any other."""
    present = {t.status for t in trials}
    return [s for s in TRIAL_STATUSES if s in present] + sorted(present - set(TRIAL_STATUSES))


class DashboardError(SearchlabError):
    """The report cannot be built (unknown experiment, no searchlab runs in it)."""


# --------------------------------------------------------------------------------------------
# What panels see
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricPoint:
    step: int
    timestamp_ms: int
    value: float


@dataclass(frozen=True)
class Trial:
    """One trial: an MLflow child run tagged ``searchlab.role=trial``."""

    run_id: str
    parent_run_id: str
    trial_id: str
    status: str  # one of TRIAL_STATUSES
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]  # last logged value of each metric
    history: dict[str, tuple[MetricPoint, ...]]  # every logged value, in step order
    start_time_ms: int
    end_time_ms: int | None

    def param(self, name: str) -> str | None:
        return self.params.get(name)

    def final(self, metric: str) -> float | None:
        """The last reported value of ``metric`` (None if never reported or not finite)."""
        value = self.metrics.get(metric)
        return value if value is not None and math.isfinite(value) else None

    def curve(self, metric: str) -> tuple[list[int], list[float]]:
        """Steps and values of ``metric``, leaving out non-finite values (a diverged trial's
        last report is ±inf)."""
        points = [p for p in self.history.get(metric, ()) if math.isfinite(p.value)]
        return [p.step for p in points], [p.value for p in points]

    @property
    def last_report_ms(self) -> int:
        """When the trial last reported anything (its end time if nothing was reported)."""
        stamps = [p.timestamp_ms for points in self.history.values() for p in points]
        if stamps:
            return max(stamps)
        return self.end_time_ms if self.end_time_ms is not None else self.start_time_ms


@dataclass(frozen=True)
class StoredAnalysis:
    """A method's summary of one execution, as stored on its parent run (empty if none).

    ``tables``: name -> the JSON of ``analysis/<name>.json``; ``figures``: name -> the Plotly
    figure dict of ``analysis/<name>.plotly.json``; ``text``: ``analysis/summary.md``.
    """

    tables: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    text: str = ""

    def __bool__(self) -> bool:
        return bool(self.tables or self.figures or self.text)


@dataclass(frozen=True)
class Execution:
    """One run of a study: an MLflow parent run tagged ``searchlab.role=study``.

    ``metrics`` are the parent run's own metrics (the study's outcome and the method's headline
    numbers); ``analysis`` is what the method stored under ``analysis/``.
    """

    run_id: str
    run_name: str
    tags: dict[str, str]
    start_time_ms: int
    end_time_ms: int | None
    trials: tuple[Trial, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    analysis: StoredAnalysis = field(default_factory=StoredAnalysis)

    @property
    def metric(self) -> str | None:
        return self.tags.get("searchlab.metric")

    @property
    def mode(self) -> str:
        return self.tags.get("searchlab.mode", "max")

    @property
    def method(self) -> str:
        return self.tags.get("searchlab.method", "search")

    @property
    def best_run_id(self) -> str | None:
        return self.tags.get("searchlab.best_run_id")


@dataclass(frozen=True)
class StudyData:
    """Everything MLflow holds for one study (experiment), newest execution first."""

    name: str
    experiment_id: str
    executions: tuple[Execution, ...]

    @property
    def trials(self) -> list[Trial]:
        return [t for e in self.executions for t in e.trials]

    @property
    def latest(self) -> Execution:
        return self.executions[0]

    @property
    def metric(self) -> str | None:
        return self.latest.metric

    @property
    def mode(self) -> str:
        return self.latest.mode

    @property
    def methods(self) -> set[str]:
        return {e.method for e in self.executions}

    def has_metric(self, key: str) -> bool:
        return any(key in t.history for t in self.trials)

    def execution_label(self, execution: Execution) -> str:
        if len(self.executions) == 1:
            return self.name
        return f"{self.name} · {execution.run_name}"


# --------------------------------------------------------------------------------------------
# Reading MLflow
# --------------------------------------------------------------------------------------------


def load_studies(experiments: Sequence[str], tracking_uri: str | None = None) -> list[StudyData]:
    """Read each named experiment's searchlab runs from MLflow, in the order given."""
    from mlflow import MlflowClient

    names = list(dict.fromkeys(experiments))
    if not names:
        raise DashboardError("name at least one MLflow experiment (a study name)")
    client = MlflowClient(tracking_uri=tracking_uri)
    studies = []
    for name in names:
        experiment = client.get_experiment_by_name(name)
        if experiment is None or experiment.lifecycle_stage != "active":
            known = sorted(e.name for e in client.search_experiments())
            listed = ", ".join(known[:15]) + (f" and {len(known) - 15} more" if len(known) > 15 else "")
            raise DashboardError(
                f"no MLflow experiment named {name!r} at {_shown_uri(tracking_uri)}; "
                f"experiments there: {listed or '(none)'}"
            )
        studies.append(_load_study(client, experiment.name, experiment.experiment_id))
    return studies


def _load_study(client: Any, name: str, experiment_id: str) -> StudyData:
    runs = _all_runs(client, experiment_id)
    parents = [r for r in runs if r.data.tags.get("searchlab.role") == "study"]
    if not parents:
        raise DashboardError(
            f"experiment {name!r} holds no searchlab study run (tag searchlab.role=study); "
            "was it written by searchlab?"
        )
    children: dict[str, list[Any]] = {}
    for run in runs:
        tags = run.data.tags
        if tags.get("searchlab.role") == "trial" and "mlflow.parentRunId" in tags:
            children.setdefault(tags["mlflow.parentRunId"], []).append(run)
    parents.sort(key=lambda r: r.info.start_time or 0, reverse=True)
    executions = tuple(
        Execution(
            run_id=p.info.run_id,
            run_name=p.info.run_name or p.info.run_id[:8],
            tags=dict(p.data.tags),
            start_time_ms=p.info.start_time or 0,
            end_time_ms=p.info.end_time,
            trials=tuple(
                sorted((_trial(client, r) for r in children.get(p.info.run_id, [])),
                       key=lambda t: (t.start_time_ms, t.trial_id))
            ),
            metrics={k: _value(v) for k, v in p.data.metrics.items()},
            analysis=_stored_analysis(client, p.info.run_id),
        )
        for p in parents
    )
    return StudyData(name=name, experiment_id=experiment_id, executions=executions)


def _all_runs(client: Any, experiment_id: str) -> list[Any]:
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _trial(client: Any, run: Any) -> Trial:
    tags = dict(run.data.tags)
    status = tags.get("searchlab.status") or _MLFLOW_STATUS.get(run.info.status, "running")
    history = {}
    for key in run.data.metrics:
        points = client.get_metric_history(run.info.run_id, key)
        history[key] = tuple(
            MetricPoint(int(m.step), int(m.timestamp), _value(m.value))
            for m in sorted(points, key=lambda m: (m.step, m.timestamp))
        )
    return Trial(
        run_id=run.info.run_id,
        parent_run_id=tags["mlflow.parentRunId"],
        trial_id=tags.get("searchlab.trial_id", run.info.run_name or run.info.run_id[:8]),
        status=status,
        params=dict(run.data.params),
        tags=tags,
        metrics={k: _value(v) for k, v in run.data.metrics.items()},
        history=history,
        start_time_ms=run.info.start_time or 0,
        end_time_ms=run.info.end_time,
    )


ANALYSIS_DIR = "analysis"
_FIGURE_SUFFIX, _TABLE_SUFFIX, _SUMMARY = ".plotly.json", ".json", "summary.md"


def _stored_analysis(client: Any, run_id: str) -> StoredAnalysis:
    """The ``analysis/`` artifacts of a parent run: one listing, then one download if any."""
    try:
        listed = [f for f in client.list_artifacts(run_id, ANALYSIS_DIR) if not f.is_dir]
        if not listed:
            return StoredAnalysis()
        with tempfile.TemporaryDirectory(prefix="searchlab-analysis-") as tmp, _quiet_downloads():
            folder = Path(client.download_artifacts(run_id, ANALYSIS_DIR, tmp))
            names = [f.path.rsplit("/", 1)[-1] for f in listed]
            files = {n: (folder / n).read_text(encoding="utf-8") for n in names}
    except Exception as e:  # noqa: BLE001 - any artifact store failure, said in one line
        reason = (str(e).splitlines() or [type(e).__name__])[0][:300]
        raise DashboardError(f"cannot read the stored analysis of run {run_id}: {reason}") from None
    tables: dict[str, Any] = {}
    figures: dict[str, dict[str, Any]] = {}
    for name in sorted(files):
        if name.endswith(_FIGURE_SUFFIX):
            figures[name[:-len(_FIGURE_SUFFIX)]] = _json_artifact(run_id, name, files[name])
        elif name.endswith(_TABLE_SUFFIX):
            tables[name[:-len(_TABLE_SUFFIX)]] = _json_artifact(run_id, name, files[name])
    return StoredAnalysis(tables=tables, figures=figures, text=files.get(_SUMMARY, "").strip())


@contextlib.contextmanager
def _quiet_downloads() -> Iterator[None]:
    """No MLflow download progress bar on stderr while the report is built."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def _json_artifact(run_id: str, name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as e:
        raise DashboardError(f"run {run_id}: {ANALYSIS_DIR}/{name} is not valid JSON ({e})") from None


def _value(v: float) -> float:
    """A metric value as logged: MLflow stores ±inf (a diverged trial's last report) as
    ±sys.float_info.max."""
    v = float(v)
    return math.copysign(math.inf, v) if abs(v) >= sys.float_info.max else v


# --------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------


def load_panels(folder: Path | None = None) -> list[ModuleType]:
    """The panel modules, in ``ORDER``.

    Without ``folder``: the ``dashboards/`` folder next to the ``searchlab`` package in use (a
    source checkout: the panels that go with this code), else the installed
    ``searchlab_dashboards`` package.
    """
    package = _panels_package(folder)
    panels = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        missing = [a for a in ("TITLE", "applies", "render") if not hasattr(module, a)]
        if missing:
            raise TypeError(f"panel {module.__file__} lacks {', '.join(missing)}")
        panels.append(module)
    return sorted(panels, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def _panels_package(folder: Path | None) -> ModuleType:
    if folder is None:
        if PANELS_PACKAGE in sys.modules:
            return sys.modules[PANELS_PACKAGE]
        if (PANELS_DIR / "__init__.py").is_file():
            return _import_folder(PANELS_PACKAGE, PANELS_DIR)
        return importlib.import_module(PANELS_PACKAGE)
    folder = folder.resolve()
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:12]
    return _import_folder(f"_searchlab_panels_{digest}", folder)


def _import_folder(name: str, folder: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    init = folder / "__init__.py"
    if not init.is_file():
        raise DashboardError(f"no dashboard panels at {folder} (missing __init__.py)")
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None  # a file location always has both
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------


@dataclass
class _Section:
    title: str
    anchor: str
    description: str
    figures: list[Any] = field(default_factory=list)


def build_report(
    experiments: list[str],
    output: str | Path,
    tracking_uri: str | None = None,
    *,
    panels_dir: Path | None = None,
) -> Path:
    """Write one self-contained HTML report comparing ``experiments``; returns its path."""
    studies = load_studies(experiments, tracking_uri)
    sections, skipped = [], []
    for panel in load_panels(panels_dir):
        if not panel.applies(studies):
            skipped.append(panel.TITLE)
            continue
        figures = list(panel.render(studies))
        if figures:
            anchor = panel.__name__.rsplit(".", 1)[-1]
            doc = (panel.__doc__ or "").strip().split("\n\n")[0].replace("``", "")
            sections.append(_Section(panel.TITLE, anchor, " ".join(doc.split()), figures))
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(studies, sections, skipped, tracking_uri), encoding="utf-8")
    return path


def _page(studies: list[StudyData], sections: list[_Section], skipped: list[str],
          tracking_uri: str | None) -> str:
    from plotly.offline import get_plotlyjs

    esc = html.escape
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = "searchlab report: " + ", ".join(s.name for s in studies)
    nav = "".join(f'<a href="#{s.anchor}">{esc(s.title)}</a>' for s in sections)
    body = [_summary_table(studies)]
    n = 0
    for section in sections:
        body.append(f'<section id="{section.anchor}"><h2>{esc(section.title)}</h2>')
        if section.description:
            body.append(f'<p class="doc">{esc(section.description)}</p>')
        for fig in section.figures:
            n += 1
            body.append(f'<div class="sl-figure" id="fig-{n}"></div>')
            body.append(f'<script type="application/json" class="sl-figure-json" '
                        f'data-target="fig-{n}">{_json_in_script(fig.to_json())}</script>')
        body.append("</section>")
    if skipped:
        body.append('<p class="skipped">Panels with nothing to show for these studies: '
                    + esc(", ".join(skipped)) + ".</p>")
    return _TEMPLATE.format(
        title=esc(title),
        css=_CSS,
        plotlyjs=_script_safe(get_plotlyjs()),
        heading=esc(title),
        meta=esc(f"generated {now} from MLflow at {_shown_uri(tracking_uri)}"),
        nav=nav,
        body="\n".join(body),
        boot=_BOOT,
    )


def _summary_table(studies: list[StudyData]) -> str:
    esc = html.escape
    head = ("<tr><th>study</th><th>execution</th><th>method</th><th>searcher</th>"
            "<th>scheduler</th><th>metric</th><th>trials</th><th>by status</th>"
            "<th>best</th><th>best trial</th></tr>")
    rows = []
    for study in studies:
        for ex in study.executions:
            counts: dict[str, int] = {}
            for t in ex.trials:
                counts[t.status] = counts.get(t.status, 0) + 1
            by_status = ", ".join(f"{counts[s]} {s}" for s in statuses_of(ex.trials))
            best = next((t for t in ex.trials if t.run_id == ex.best_run_id), None)
            best_value = best.final(ex.metric) if best is not None and ex.metric else None
            cells = [
                study.name, ex.run_name, ex.method, ex.tags.get("searchlab.searcher", ""),
                ex.tags.get("searchlab.scheduler", ""),
                f"{ex.metric or ''} ({ex.mode})" if ex.metric else "",
                str(len(ex.trials)), by_status,
                "" if best_value is None else f"{best_value:.6g}",
                ex.tags.get("searchlab.best_trial_id", ""),
            ]
            rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    return f'<table class="summary">{head}{"".join(rows)}</table>'


def _shown_uri(tracking_uri: str | None) -> str:
    """The tracking URI for the page, without any user name or password in it."""
    import mlflow

    uri = tracking_uri or mlflow.get_tracking_uri()
    parts = urlsplit(uri)
    if not (parts.username or parts.password):
        return uri
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=host))


def _script_safe(text: str) -> str:
    """JavaScript that cannot close the <script> element it is embedded in."""
    return text.replace("</script", "<\\/script")


def _json_in_script(text: str) -> str:
    """JSON with every ``<`` escaped: it cannot end or comment out its <script> element."""
    return text.replace("<", "\\u003c")


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1280px; padding: 0 24px 48px; color: #1f2933; }
header { border-bottom: 1px solid #d9dee4; padding: 16px 0 8px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 4px; }
.meta, .doc, .skipped { color: #5c6b7a; font-size: 13px; margin: 4px 0 8px; }
nav a { margin-right: 14px; font-size: 13px; color: #2563eb; text-decoration: none; }
table.summary { border-collapse: collapse; font-size: 13px; margin-top: 16px; width: 100%; }
table.summary th, table.summary td { border-bottom: 1px solid #e5e9ee; padding: 4px 8px;
       text-align: left; }
table.summary th { background: #f4f6f8; }
.sl-figure { width: 100%; margin: 8px 0 16px; }
"""

_BOOT = """
document.querySelectorAll("script.sl-figure-json").forEach(function (node) {
  var fig = JSON.parse(node.textContent);
  var config = {responsive: true, displaylogo: false};
  Plotly.newPlot(node.dataset.target, fig.data, fig.layout, config);
});
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{css}</style>
<script>{plotlyjs}</script>
</head>
<body>
<header>
<h1>{heading}</h1>
<p class="meta">{meta}</p>
<nav>{nav}</nav>
</header>
{body}
<script>{boot}</script>
</body>
</html>
"""


def figures_in(page: str) -> list[dict[str, Any]]:
    """The plotly figures (data and layout, as JSON) embedded in a report page, in page order."""
    marker = 'class="sl-figure-json"'
    figures = []
    for chunk in page.split(marker)[1:]:
        start = chunk.index(">") + 1
        end = chunk.index("</script>", start)
        figures.append(json.loads(chunk[start:end]))
    return figures
