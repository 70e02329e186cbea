"""Where tracking goes, and the study's parent run (opened before trials, closed after)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from searchlab import __version__
from searchlab.errors import SearchlabError

DEFAULT_DIR = ".searchlab"
_SECRET = re.compile(r"(?<=://)([^/@:\s]+)(:[^/@\s]*)?@")  # user[:password]@ in any URI


def default_uri(cwd: str | Path | None = None) -> str:
    base = Path(cwd or os.getcwd()).resolve() / DEFAULT_DIR
    return f"sqlite:///{base / 'mlflow.db'}"


def resolve_uri(study_uri: str | None) -> str:
    """The study file's URI, else MLFLOW_TRACKING_URI, else an SQLite file in ./.searchlab."""
    return sql_driver(study_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri())


def sql_driver(uri: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.1 means psycopg 3 by
    it, searchlab installs psycopg2 (``psycopg2-binary``)."""
    import importlib.util

    for plain in ("postgresql://", "postgres://"):
        if uri.startswith(plain) and importlib.util.find_spec("psycopg") is None \
                and importlib.util.find_spec("psycopg2") is not None:
            return "postgresql+psycopg2://" + uri[len(plain):]
    return uri


def redact(text: str) -> str:
    """Hide credentials in URIs: ``http://user:pw@host`` -> ``http://***@host`` (any text)."""
    return _SECRET.sub("***@", text)


def fail_fast() -> None:
    """MLflow's HTTP client retries an unreachable server for minutes by default: here a
    request fails after one retry and 15 s, and the caller (the writer) retries on its own."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")


RUN_ADVICE = ("start it (searchlab server), point tracking.uri or MLFLOW_TRACKING_URI at a "
              "running one, or run with --no-tracking")
READ_ADVICE = "start it (searchlab server), or pass --tracking-uri with a running one"


def check_reachable(uri: str, timeout: float = 5.0, advice: str = RUN_ADVICE) -> None:
    """Raise :class:`SearchlabError` (one line, credentials hidden) when the tracking server
    or database of ``uri`` does not answer within ``timeout`` seconds: before any trial starts,
    instead of MLflow's minutes of silent retries."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    scheme = parts.scheme.split("+")[0]
    if scheme not in ("http", "https", "postgresql", "postgres", "mysql", "mssql"):
        return
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host:
        return
    port = port or {"http": 80, "https": 443, "postgresql": 5432, "postgres": 5432,
                    "mysql": 3306, "mssql": 1433}[scheme]
    problem = None
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        problem = "timed out" if isinstance(e, TimeoutError) else (e.strerror or type(e).__name__)
    if problem is None and scheme in ("http", "https"):
        problem = _http_problem(uri, timeout)
        if problem is None and _login_refused(uri, timeout):
            raise SearchlabError(login_message(uri))
    if problem:
        what = "tracking server" if scheme.startswith("http") else "tracking database"
        raise SearchlabError(
            f"cannot reach the MLflow {what} at {redact(uri)} ({problem}); {advice}")


def _bare(uri: str) -> str:
    """``uri`` without credentials and a trailing slash (credentials go in headers)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path.rstrip("/"),
                       "", ""))


def _login_refused(uri: str, timeout: float) -> bool:
    """The server answers a request made with this process's login (MLflow's environment
    variables, or the URI's user:password) with 401: no login, or a wrong one."""
    import base64
    import urllib.error
    import urllib.request
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(uri)
    user = os.environ.get("MLFLOW_TRACKING_USERNAME") or unquote(parts.username or "")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or unquote(parts.password or "")
    headers = {}
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
    elif user:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    req = urllib.request.Request(_bare(uri) + "/api/2.0/mlflow/experiments/search?max_results=1",
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout):
            return False
    except urllib.error.HTTPError as e:
        return e.code == 401
    except (urllib.error.URLError, OSError, ValueError):
        return False  # the real requests will say what is wrong


def _http_problem(uri: str, timeout: float) -> str | None:
    """Why an MLflow server at ``uri`` gives no answer (any HTTP answer counts), or None."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(_bare(uri) + "/health", timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return f"no answer within {timeout:g} s"
        return redact(str(reason))[:200]


def login_problem(error: BaseException) -> bool:
    """The server refused the request for want of (valid) credentials."""
    text = str(error)
    return any(s in text for s in ("401", "Unauthorized", "UNAUTHENTICATED",
                                   "You are not authenticated"))


def login_message(uri: str) -> str:
    if os.environ.get("MLFLOW_TRACKING_USERNAME"):
        return (f"the MLflow server at {redact(uri)} refused the login of user "
                f"'{os.environ['MLFLOW_TRACKING_USERNAME']}'; check MLFLOW_TRACKING_USERNAME "
                "and MLFLOW_TRACKING_PASSWORD")
    return (f"the MLflow server at {redact(uri)} needs a login: set MLFLOW_TRACKING_USERNAME "
            "and MLFLOW_TRACKING_PASSWORD (never put them on the command line)")


def open_store(uri: str) -> Any:
    """An ``MlflowClient`` on ``uri`` whose store exists. A fresh SQLite file or SQL database is
    created and migrated by one process at a time (a file lock beside the SQLite file, a
    PostgreSQL advisory lock): two drivers starting on a fresh store at once both work."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # after import: mlflow sets INFO
    fail_fast()
    prepare_local(uri)
    # the client builds the store (and creates and migrates a fresh one) as it is made
    if uri.startswith("sqlite:///"):
        from filelock import FileLock

        with FileLock(uri[len("sqlite:///"):] + ".lock"):
            return MlflowClient(uri)
    if uri.split(":", 1)[0].split("+")[0] in ("postgresql", "postgres"):
        with _advisory_lock(uri):
            return MlflowClient(uri)
    return MlflowClient(uri)


_CREATE_LOCK_KEY = 0x5EA4C41AB  # pg_advisory_lock key: "searchlab creates the MLflow schema"


class _advisory_lock:
    """A PostgreSQL session advisory lock, held on a connection of its own."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __enter__(self) -> None:
        import sqlalchemy

        self.engine = sqlalchemy.create_engine(self.uri, poolclass=sqlalchemy.pool.NullPool)
        self.conn = self.engine.connect()
        self.conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _CREATE_LOCK_KEY})

    def __exit__(self, *exc: Any) -> None:
        import sqlalchemy

        try:
            self.conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"),
                              {"k": _CREATE_LOCK_KEY})
        finally:
            self.conn.close()
            self.engine.dispose()


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
    run = client.create_run(experiment_id,
                            run_name=f"{study_name}-{time.strftime('%Y%m%d-%H%M%S')}",
                            tags={**tags, "searchlab.role": "study",
                                  "searchlab.version": __version__})
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
