"""What MLflow holds for a study, as the dashboard's panels see it: studies, their executions
(parent runs, with the method's stored analysis) and their trials (child runs), loaded once."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from searchlab.errors import SearchlabError
from searchlab.methods.base import leads

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

    @property
    def trial_panels(self) -> bool:
        """False when the method's stored analysis is the study's result and replaces the
        generic trial panels (the parent-run tag ``searchlab.lead: analysis``)."""
        return not leads(self.tags)


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

    def has_metric(self, key: str) -> bool:
        return any(key in t.history for t in self.trials)

    def execution_label(self, execution: Execution) -> str:
        if len(self.executions) == 1:
            return self.name
        return f"{self.name} · {execution.run_name}"


# --------------------------------------------------------------------------------------------
# Reading MLflow
# --------------------------------------------------------------------------------------------


def study_names(tracking_uri: str | None = None) -> list[str]:
    """The active experiments that hold a searchlab study run, oldest first."""
    from searchlab.tracking import sql_read

    if tracking_uri and sql_read.supported(tracking_uri):
        with sql_read.StudyTables(tracking_uri) as db:
            return db.study_experiments()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    names = []
    for experiment in sorted(client.search_experiments(), key=lambda e: e.creation_time or 0):
        runs = client.search_runs([experiment.experiment_id], max_results=1,
                                  filter_string="tags.`searchlab.role` = 'study'")
        if runs:
            names.append(experiment.name)
    return names


def load_studies(experiments: Sequence[str], tracking_uri: str | None = None) -> list[StudyData]:
    """Read each named experiment's searchlab runs from MLflow, in the order given."""
    names = list(dict.fromkeys(experiments))
    if not names:
        raise DashboardError("name at least one MLflow experiment (a study name)")
    from searchlab.tracking import sql_read

    if tracking_uri and sql_read.supported(tracking_uri):
        return _load_sql(names, tracking_uri)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    studies = []
    for name in names:
        experiment = client.get_experiment_by_name(name)
        if experiment is None or experiment.lifecycle_stage != "active":
            known = sorted(e.name for e in client.search_experiments())
            listed = ", ".join(known[:15]) + (f" and {len(known) - 15} more"
                                              if len(known) > 15 else "")
            raise DashboardError(
                f"no MLflow experiment named {name!r} at {shown_uri(tracking_uri)}; "
                f"experiments there: {listed or '(none)'}"
            )
        studies.append(_load_study(client, experiment.name, experiment.experiment_id))
    return studies


def _load_sql(names: list[str], uri: str) -> list[StudyData]:
    """:func:`load_studies` on a SQL store: each study's runs, tags, params and every metric
    history in a few queries (:mod:`searchlab.tracking.sql_read`), not a call per trial."""
    from searchlab.tracking.sql_read import StudyTables

    client = _LazyClient(uri)  # only for stored analyses that are not local files
    studies = []
    with StudyTables(uri) as db:
        for name in names:
            experiment = db.experiment(name)
            if experiment is None or experiment.lifecycle_stage != "active":
                known = db.experiment_names()
                listed = ", ".join(known[:15]) + (f" and {len(known) - 15} more"
                                                  if len(known) > 15 else "")
                raise DashboardError(
                    f"no MLflow experiment named {name!r} at {shown_uri(uri)}; "
                    f"experiments there: {listed or '(none)'}")
            runs = db.runs(experiment.experiment_id)
            histories = db.histories(experiment.experiment_id)

            def history(run_id: str, key: str, h: Any = histories) -> list[MetricPoint]:
                return [MetricPoint(*p) for p in h.get(run_id, {}).get(key, ())]

            studies.append(_load_study(client, experiment.name, experiment.experiment_id, runs,
                                       history))
    return studies


class _LazyClient:
    """An ``MlflowClient``, made (and MLflow imported) only if something asks for it."""

    def __init__(self, uri: str) -> None:
        self.uri, self.client = uri, None

    def __getattr__(self, name: str) -> Any:
        if self.client is None:
            from mlflow import MlflowClient

            self.client = MlflowClient(tracking_uri=self.uri)
        return getattr(self.client, name)


def _load_study(client: Any, name: str, experiment_id: str, runs: list[Any] | None = None,
                history: Any = None) -> StudyData:
    """``runs``: the experiment's runs, when read already; ``history(run_id, key)``: a metric's
    points, when read already (else one MLflow call per trial and metric)."""
    if runs is None:
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
                sorted((_trial(client, r, history) for r in children.get(p.info.run_id, [])),
                       key=lambda t: (t.start_time_ms, t.trial_id))
            ),
            metrics={k: _value(v) for k, v in p.data.metrics.items()},
            analysis=_stored_analysis(client, p.info.run_id,
                                      getattr(p.info, "artifact_uri", None)),
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


def _trial(client: Any, run: Any, read: Any = None) -> Trial:
    tags = dict(run.data.tags)
    status = tags.get("searchlab.status") or _MLFLOW_STATUS.get(run.info.status, "running")
    history = {}
    for key in run.data.metrics:
        if read is not None:
            history[key] = tuple(read(run.info.run_id, key))  # in step order, values as logged
            continue
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


def _stored_analysis(client: Any, run_id: str, artifact_uri: str | None = None) -> StoredAnalysis:
    """The ``analysis/`` artifacts of a parent run: one listing, then one download if any.
    Artifacts in a local directory (``artifact_uri``) that has no ``analysis/`` are known to be
    absent without asking MLflow."""
    local = _local_dir(artifact_uri)
    if local is not None and not (local / ANALYSIS_DIR).is_dir():
        return StoredAnalysis()
    try:
        listed = [f for f in client.list_artifacts(run_id, ANALYSIS_DIR) if not f.is_dir]
        if not listed:
            return StoredAnalysis()
        with tempfile.TemporaryDirectory(prefix="searchlab-analysis-") as tmp, _quiet_downloads():
            folder = Path(client.download_artifacts(run_id, ANALYSIS_DIR, tmp))
            names = [f.path.rsplit("/", 1)[-1] for f in listed]
            files = {n: (folder / n).read_text(encoding="utf-8") for n in names}
    except Exception as e:  # noqa: BLE001 - any artifact store failure: said, the rest drawn
        reason = (str(e).splitlines() or [type(e).__name__])[0][:300]
        return _unreadable(f"cannot read the stored analysis of run {run_id}: {reason}")
    tables: dict[str, Any] = {}
    figures: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for name in sorted(files):
        suffix = next((x for x in (_FIGURE_SUFFIX, _TABLE_SUFFIX) if name.endswith(x)), None)
        if suffix is None:
            continue
        try:
            value = json.loads(files[name])
        except ValueError as e:
            problems.append(f"run {run_id}: {ANALYSIS_DIR}/{name} is not valid JSON ({e})")
            _warn(problems[-1])
            continue
        (figures if suffix == _FIGURE_SUFFIX else tables)[name[:-len(suffix)]] = value
    text = "\n".join([files.get(_SUMMARY, "").strip(), *problems]).strip()
    return StoredAnalysis(tables=tables, figures=figures, text=text)


def _local_dir(artifact_uri: str | None) -> Path | None:
    """The directory of a local artifact URI (``file:///...`` or a path), else None."""
    if not artifact_uri:
        return None
    if artifact_uri.startswith("file://"):
        from urllib.parse import unquote

        return Path(unquote(urlsplit(artifact_uri).path))
    if "://" not in artifact_uri and ":" not in artifact_uri.split("/")[0]:
        return Path(artifact_uri)
    return None


def _warn(problem: str) -> None:
    print(f"searchlab: warning: {problem}", file=sys.stderr)


def _unreadable(problem: str) -> StoredAnalysis:
    """An analysis that could not be read: one warning, and the reason where it would be drawn."""
    _warn(problem)
    return StoredAnalysis(text=problem)


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


def _value(v: float) -> float:
    """A metric value as logged: MLflow stores ±inf (a diverged trial's last report) as
    ±sys.float_info.max."""
    v = float(v)
    return math.copysign(math.inf, v) if abs(v) >= sys.float_info.max else v


# --------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------


def shown_uri(tracking_uri: str | None) -> str:
    """The tracking URI for the page, without any user name or password in it."""
    if tracking_uri:
        uri = tracking_uri
    else:
        import mlflow

        uri = mlflow.get_tracking_uri()
    parts = urlsplit(uri)
    if not (parts.username or parts.password):
        return uri
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=host))
