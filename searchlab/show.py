"""``searchlab show NAME``: a finished study's best trials, read back from MLflow.

The layout is the one the writer produces (``searchlab/tracking/writer.py``): the experiment is
named after the study; each execution of the study is a parent run tagged
``searchlab.role=study`` (with ``searchlab.metric`` and ``searchlab.mode``); each trial is a child
run tagged ``searchlab.role=trial``, ``searchlab.trial_id`` and ``searchlab.status``, its flat
config as params and its metrics at step = epoch. The latest execution is read.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from searchlab.errors import SearchlabError
from searchlab.methods.base import leads as method_leads
from searchlab.results import TrialRow
from searchlab.status import UNSCORED


@dataclass
class StoredStudy:
    name: str
    metric: str
    mode: str
    parent_run_id: str
    run_status: str  # the parent run's MLflow status: FINISHED, RUNNING, KILLED, ...
    tracking_uri: str
    rows: list[TrialRow] = field(default_factory=list)
    #: the method's analysis leads (parent tag searchlab.lead=analysis): its summary.md
    lead: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts


def require_store(uri: str) -> str:
    """``uri``, once it is known to hold a store: reading a SQLite file that is not there would
    create an empty one (and print MLflow's migration log) where the user only meant to look."""
    from searchlab.tracking.store import READ_ADVICE, check_reachable, fail_fast, redact

    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        raise SearchlabError(f"no MLflow store at {redact(uri)}; pass --tracking-uri (or set "
                             "MLFLOW_TRACKING_URI) to where the study was tracked")
    # a server that is down: one line, not minutes of retries
    check_reachable(uri, advice=READ_ADVICE)
    fail_fast()
    return uri


def _latest(name: str, tracking_uri: str | None) -> tuple[Any, Any, Any, str]:
    """The MLflow client, experiment, latest study run and store URI of study ``name``."""
    from searchlab.tracking.store import login_message, login_problem, redact, resolve_uri

    uri = require_store(tracking_uri or resolve_uri(None))
    client = _client(uri)
    try:
        exp = client.get_experiment_by_name(name)
    except Exception as e:  # noqa: BLE001 - an unreachable server or a broken store
        if login_problem(e):
            raise SearchlabError(login_message(uri)) from None
        raise SearchlabError(
            f"cannot read MLflow at {redact(uri)}: "
            f"{str(e).splitlines()[0][:200] if str(e) else type(e).__name__}") from None
    if exp is None or exp.lifecycle_stage == "deleted":
        known = sorted(e.name for e in client.search_experiments() if e.name != "Default")
        hint = _suggest(name, known) or (f"; studies there: {', '.join(known[:10])}" if known
                                         else "; it has no studies")
        raise SearchlabError(f"no study '{name}' in {redact(uri)}{hint}")
    parents = client.search_runs([exp.experiment_id],
                                 filter_string="tags.`searchlab.role` = 'study'",
                                 order_by=["attributes.start_time DESC"], max_results=1)
    if not parents:
        raise SearchlabError(f"experiment '{name}' in {redact(uri)} holds no searchlab study run")
    return client, exp, parents[0], uri


def read_tables(name: str, tracking_uri: str | None = None) -> dict[str, Any]:
    """The method's analysis tables (``analysis/<name>.json`` on the latest study run), by
    name; empty where the method stored none."""
    import tempfile

    from searchlab.dashboard.data import _quiet_downloads  # no MLflow progress bar

    client, _, parent, _ = _latest(name, tracking_uri)
    run_id = parent.info.run_id
    tables: dict[str, Any] = {}
    try:
        files = [f.path for f in client.list_artifacts(run_id, "analysis")
                 if f.path.endswith(".json") and not f.path.endswith(".plotly.json")]
        with tempfile.TemporaryDirectory(prefix="searchlab-load-") as tmp, _quiet_downloads():
            for path in files:
                local = client.download_artifacts(run_id, path, tmp)
                tables[Path(path).name[:-len(".json")]] = json.loads(Path(local).read_text())
    except Exception as e:  # noqa: BLE001 - an unreachable server or a broken store
        raise SearchlabError(f"cannot read the analysis of study '{name}': "
                             f"{str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
                             ) from None
    return tables


def read_study(name: str, tracking_uri: str | None = None) -> StoredStudy:
    """The latest execution of study ``name`` (its MLflow experiment) with all its trials.
    Raises :class:`SearchlabError` (one line) when the store or the study is not there."""
    from searchlab.tracking.store import redact, resolve_uri

    uri = require_store(tracking_uri or resolve_uri(None))
    from searchlab.tracking import sql_read

    if sql_read.supported(uri):
        try:
            return _read_sql(name, uri)
        except SearchlabError:
            raise
        except Exception as e:  # noqa: BLE001 - an unreadable database: said in one line
            raise SearchlabError(f"cannot read MLflow at {redact(uri)}: "
                                 f"{redact(str(e).splitlines()[0][:200]) if str(e) else e!r}"
                                 ) from None
    client, exp, parent, uri = _latest(name, uri)

    def last_step(run: Any, metric: str) -> int:
        return max((m.step for m in getattr(run.data, "_metric_objs", []) if m.key == metric),
                   default=0)

    return _stored(name, uri, parent, _children(client, exp.experiment_id, parent.info.run_id),
                   last_step)


def _read_sql(name: str, uri: str) -> StoredStudy:
    """:func:`read_study` on a SQL store, in a few queries (:mod:`searchlab.tracking.sql_read`)."""
    from searchlab.tracking.sql_read import StudyTables
    from searchlab.tracking.store import redact

    with StudyTables(uri) as db:
        exp = db.experiment(name)
        if exp is None or exp.lifecycle_stage == "deleted":
            known = [n for n in db.experiment_names() if n != "Default"]
            hint = _suggest(name, known) or (f"; studies there: {', '.join(known[:10])}" if known
                                             else "; it has no studies")
            raise SearchlabError(f"no study '{name}' in {redact(uri)}{hint}")
        parent = db.latest_study_run(exp.experiment_id)
        if parent is None:
            raise SearchlabError(f"experiment '{name}' in {redact(uri)} holds no searchlab study "
                                 "run")
        children = db.runs(exp.experiment_id, parent=parent.info.run_id, role="trial")
    return _stored(name, uri, parent, children,
                   lambda run, metric: run.data.steps.get(metric, 0))


def _stored(name: str, uri: str, parent: Any, children: list[Any], last_step: Any) -> StoredStudy:
    tags = parent.data.tags
    study = StoredStudy(name, tags.get("searchlab.metric", "?"), tags.get("searchlab.mode", "max"),
                        parent.info.run_id, parent.info.status, uri)
    if method_leads(tags):  # the method's summary.md, through MLflow's client (artifacts)
        study.lead = _summary(_client(uri), parent.info.run_id)
    for run in children:
        t = run.data.tags
        status = t.get("searchlab.status", "unknown")
        value = run.data.metrics.get(study.metric)
        if status in UNSCORED or value is None or not math.isfinite(value):
            value = None
        study.rows.append(TrialRow(
            t.get("searchlab.trial_id", run.info.run_name or run.info.run_id), status, value,
            last_step(run, study.metric), {k: _param_value(v) for k, v in run.data.params.items()},
            run.info.run_id, t.get("searchlab.error") or None,
            {k: v for k, v in run.data.metrics.items()  # MLflow keeps ±inf as ±float max
             if math.isfinite(v) and abs(v) < sys.float_info.max}))
    study.rows.sort(key=lambda r: r.trial_id)
    return study


def ranked(rows: list[Any], mode: str) -> list[Any]:
    """Trials with a value, best first, ties by fewer epochs then trial id (the one order of
    :func:`searchlab.results.best_first`)."""
    from searchlab.results import rank_rows

    return rank_rows(rows, mode)


def best_table(rows: list[Any], metric: str, mode: str, title: str, limit: int = 5) -> Any:
    """A rich table of the best ``limit`` trials (rows: TrialRow)."""
    from rich.table import Table

    best = ranked(rows, mode)[:limit]
    table = Table(title=title, title_justify="left")
    fixed = ("trial", metric, "epochs", "status")
    for name, justify in zip(fixed, ("left", "right", "right", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    # five config values that read as one cell: a method's structured settings (a list of
    # hyperparameter specs, say, or its JSON text as a trial's config carries it) would fill
    # the table, and stay in MLflow's params. Keys whose value differs between the study's
    # trials come first: a setting every trial shares (a GA's population) tells trials apart
    # less than the one they differ in (its seed).
    keys: list[str] = []
    for r in best:
        keys += [k for k, v in r.config.items() if k not in keys and not isinstance(
            _param_value(v) if isinstance(v, str) else v, (list, tuple, dict))]
    shared = {k for k in keys if len({str(r.config.get(k)) for r in rows}) == 1}
    keys = sorted(keys, key=lambda k: k in shared)[:5]
    for k in keys:
        table.add_column(f"{k} (config)" if k in fixed else k, overflow="fold")
    for r in best:
        table.add_row(r.trial_id, f"{r.value:.4g}", str(r.epochs), r.status,
                      *[_short(r.config.get(k, "")) for k in keys])
    return table


def cmd_show(args: Any) -> int:
    import sys

    from rich.console import Console

    from searchlab.tracking.store import redact

    study = read_study(args.name, args.tracking_uri)
    console = Console(width=None if sys.stdout.isatty() else 140)
    if not study.rows:
        console.print(f"study '{study.name}' has no trials in MLflow (parent run "
                      f"{study.parent_run_id}, {study.run_status})")
        return 0
    if study.lead and not getattr(args, "trials", False):
        console.print(study.lead, soft_wrap=True, markup=False)
        console.print("(the method's analysis leads: its trials report values on different "
                      "scales; list them with --trials)", soft_wrap=True, markup=False)
    else:
        console.print(best_table(study.rows, study.metric, study.mode,
                                 f"best trials of {study.name} ({study.metric}, {study.mode})",
                                 limit=args.top))
    counts = ", ".join(f"{v} {k}" for k, v in sorted(study.counts.items()))
    state = "" if study.run_status == "FINISHED" else \
        f"; the study is not finished (its run is {study.run_status})"
    console.print(f"{len(study.rows)} trials ({counts}){state}")
    console.print(f"MLflow: {redact(study.tracking_uri)}, experiment '{study.name}', parent run "
                  f"{study.parent_run_id}", soft_wrap=True)
    return 0


def _summary(client: Any, run_id: str) -> str | None:
    """The method's ``analysis/summary.md`` on the parent run (None when it cannot be read)."""
    import tempfile

    from searchlab.dashboard.data import _quiet_downloads  # no MLflow progress bar

    try:
        with tempfile.TemporaryDirectory(prefix="searchlab-show-") as tmp, _quiet_downloads():
            path = client.download_artifacts(run_id, "analysis/summary.md", tmp)
            return Path(path).read_text(encoding="utf-8").strip() or None
    except Exception:  # noqa: BLE001 - no stored summary: show the best-trial table instead
        return None


def _children(client: Any, experiment_id: str, parent_run_id: str) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = client.search_runs([experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                                  max_results=1000, page_token=token)
        out += [r for r in page if r.data.tags.get("searchlab.role") == "trial"]
        token = page.token
        if not token:
            return out


def _client(uri: str) -> Any:
    import logging
    import os

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return MlflowClient(uri)


def _param_value(text: str) -> Any:
    """A param as the writer stored it (``str(v)``, JSON for lists and dicts) -> the value."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _suggest(word: str, valid: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, valid, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
