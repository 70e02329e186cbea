"""Where tracking goes, and the study's parent run (opened before trials, closed after)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from searchlab import __version__

DEFAULT_DIR = ".searchlab"
_SECRET = re.compile(r"(?<=://)([^/@:\s]+)(:[^/@\s]*)?@")  # user[:password]@ in any URI


def default_uri(cwd: str | Path | None = None) -> str:
    base = Path(cwd or os.getcwd()).resolve() / DEFAULT_DIR
    return f"sqlite:///{base / 'mlflow.db'}"


def resolve_uri(study_uri: str | None) -> str:
    """The study file's URI, else MLFLOW_TRACKING_URI, else an SQLite file in ./.searchlab."""
    return study_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri()


def redact(text: str) -> str:
    """Hide credentials in URIs: ``http://user:pw@host`` -> ``http://***@host`` (any text)."""
    return _SECRET.sub("***@", text)


def prepare_local(uri: str) -> None:
    """Create the directory of a local SQLite store (MLflow does not), and have this process's
    SQLite connections use write-ahead logging: a commit then costs no fsync of the database,
    and a crash of the process (``kill -9``) still loses nothing committed."""
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        _sqlite_wal()


_WAL_ON = False


def _sqlite_wal() -> None:
    global _WAL_ON
    if _WAL_ON:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    event.listen(Engine, "connect", on_connect)
    _WAL_ON = True


def ensure_experiment(client: Any, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:///"):
        artifact_location = (Path(uri[len("sqlite:///"):]).parent / "artifacts" / name).as_uri()
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except Exception:  # noqa: BLE001 - created concurrently by another process
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def open_parent_run(client: Any, experiment_id: str, *, study_name: str, tags: dict[str, str],
                    study_text: str, resume_run_id: str | None) -> tuple[str, bool]:
    """Reuse the parent run of an interrupted execution, else start a new one.
    Returns the run id and whether it was created now."""
    if resume_run_id:
        try:
            run = client.get_run(resume_run_id)
            if run.info.lifecycle_stage == "active":
                client.update_run(resume_run_id, status="RUNNING")
                client.set_tag(resume_run_id, "searchlab.resumed", str(int(time.time())))
                return resume_run_id, False
        except Exception:  # noqa: BLE001 - deleted or another store: start afresh
            pass
    run = client.create_run(experiment_id, run_name=f"{study_name}-{time.strftime('%Y%m%d-%H%M%S')}",
                            tags={**tags, "searchlab.role": "study", "searchlab.version": __version__})
    client.log_text(run.info.run_id, study_text, "study.yaml")
    return run.info.run_id, True


def abandon_parent_run(client: Any, run_id: str) -> None:
    """An execution that died before it could be resumed: end its runs as KILLED."""
    try:
        run = client.get_run(run_id)
        if run.info.status == "RUNNING":
            client.set_terminated(run_id, "KILLED")
        for child in client.search_runs([run.info.experiment_id],
                                        filter_string=f"tags.mlflow.parentRunId = '{run_id}'",
                                        max_results=5000):
            if child.info.status == "RUNNING":
                client.set_terminated(child.info.run_id, "KILLED")
    except Exception:  # noqa: BLE001 - gone or unreachable: nothing to tidy
        pass
