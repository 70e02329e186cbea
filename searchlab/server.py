"""``searchlab server``: a shared MLflow tracking server, on PostgreSQL, with a login when asked.

* The database: ``--backend-store-uri`` (an existing PostgreSQL, ``postgresql://...``, or
  SQLite), else a PostgreSQL of the server's own (:mod:`searchlab.postgres`: ``initdb`` and
  ``pg_ctl`` from the system's PostgreSQL, its data in ``.searchlab/server/postgres``, started
  and stopped with the server), else, where PostgreSQL is not installed, SQLite (said so).
* The store is created and migrated before MLflow's workers start, one process at a time
  (:func:`searchlab.tracking.store.open_store`).
* ``--auth``: MLflow's basic-auth app (``mlflow server --app-name basic-auth``). Users and
  passwords come from a file (``--users FILE``: ``name:password`` lines, the first is the
  administrator) or from the environment (``MLFLOW_AUTH_ADMIN_USERNAME``,
  ``MLFLOW_AUTH_ADMIN_PASSWORD``); never from the command line, and they are never printed.
* Bound beyond loopback, it refuses to start without ``--auth`` unless told ``--insecure``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from searchlab.errors import SearchlabError
from searchlab.processes import spawn_tied, stop_group

LOOPBACK = ("127.0.0.1", "localhost", "::1")
PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")


def register(sub: Any, lazy: Any) -> None:
    sv = sub.add_parser("server", help="start a shared MLflow tracking server (PostgreSQL; "
                        "127.0.0.1 unless --host; a login with --auth)")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to bind (default 127.0.0.1; beyond loopback needs --auth, or "
                         "--insecure)")
    sv.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    sv.add_argument("--backend-store-uri",
                    help="the database: postgresql://USER@HOST:PORT/DB (password in ~/.pgpass "
                         "or PGPASSFILE) or sqlite:///FILE (default: a PostgreSQL of the "
                         "server's own in <cwd>/.searchlab/server/postgres)")
    sv.add_argument("--artifacts-destination",
                    help="artifact root (default: <cwd>/.searchlab/server/artifacts)")
    sv.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    sv.add_argument("--allowed-hosts", help="Host headers MLflow accepts (MLflow's default: "
                    "localhost and private IPs)")
    sv.add_argument("--auth", action="store_true",
                    help="require a login (MLflow's basic-auth app); users from --users or "
                         "MLFLOW_AUTH_ADMIN_USERNAME/MLFLOW_AUTH_ADMIN_PASSWORD")
    sv.add_argument("--users", metavar="FILE",
                    help="with --auth: a file of name:password lines (the first is the "
                         "administrator); keep it readable by you alone")
    sv.add_argument("--default-permission", choices=PERMISSIONS, default="EDIT",
                    help="with --auth: what a logged-in user may do with studies others "
                         "started (default EDIT: read and add runs)")
    sv.add_argument("--insecure", action="store_true",
                    help="bind beyond loopback without a login (anyone who reaches the port "
                         "reads and changes runs)")
    sv.set_defaults(func=lazy("searchlab.server:cmd_server"))


# ---------------------------------------------------------------------------- users
def read_users(path: str) -> list[tuple[str, str]]:
    """``name:password`` lines (``#`` comments, blank lines ignored); raises SearchlabError."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise SearchlabError(f"--users {path}: {e.strerror}") from None
    users = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, password = line.partition(":")
        if not sep or not name.strip() or not password:
            raise SearchlabError(f"{path}:{n}: expected name:password")
        users.append((name.strip(), password))
    if not users:
        raise SearchlabError(f"--users {path}: no users in it")
    return users


def _admin_and_users(args: argparse.Namespace) -> tuple[tuple[str, str], list[tuple[str, str]]]:
    if args.users:
        users = read_users(args.users)
        mode = Path(args.users).stat().st_mode
        if mode & 0o077:
            print(f"searchlab: warning: {args.users} is readable by others; chmod 600 it",
                  file=sys.stderr)
        return users[0], users[1:]
    password = os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD")
    if not password:
        raise SearchlabError("--auth needs users: --users FILE (name:password lines, the first "
                             "is the administrator), or MLFLOW_AUTH_ADMIN_PASSWORD (and "
                             "MLFLOW_AUTH_ADMIN_USERNAME, default admin) in the environment")
    return (os.environ.get("MLFLOW_AUTH_ADMIN_USERNAME") or "admin", password), []


def _auth_env(base: Path, admin: tuple[str, str], permission: str) -> dict[str, str]:
    """The basic-auth app's settings: a config file (no password in it), the admin's password
    and the CSRF key in the server's environment only."""
    from filelock import FileLock

    auth_db = f"sqlite:///{base / 'basic_auth.db'}"
    ini = base / "basic_auth.ini"
    ini.write_text("[mlflow]\n"
                   f"default_permission = {permission}\n"
                   f"database_uri = {auth_db}\n"
                   f"admin_username = {admin[0]}\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                   # a password hash per request costs more than the request: checked logins
                   # are kept a minute (MLflow's cache; a changed password applies after it)
                   "auth_cache_ttl_seconds = 60\n")
    key_file = base / "flask-secret-key"
    if not key_file.exists():  # stable across restarts: sessions and CSRF tokens stay valid
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    with FileLock(str(base / "basic_auth.db.lock")):  # its migrations, once, before workers
        from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

        SqlAlchemyStore().init_db(auth_db)
    return {"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_AUTH_ADMIN_USERNAME": admin[0],
            "MLFLOW_AUTH_ADMIN_PASSWORD": admin[1],
            "MLFLOW_FLASK_SERVER_SECRET_KEY": key_file.read_text().strip()}


def _add_users(url: str, admin: tuple[str, str], users: list[tuple[str, str]]) -> None:
    """Create the file's other users (or set their passwords) through MLflow's REST API."""
    import base64
    import urllib.error
    import urllib.request

    token = base64.b64encode(f"{admin[0]}:{admin[1]}".encode()).decode()

    def call(method: str, path: str, body: dict) -> int:
        req = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(),
                                     method=method, headers={"Authorization": f"Basic {token}",
                                                             "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    for name, password in users:
        code = call("POST", "/api/2.0/mlflow/users/create",
                    {"username": name, "password": password})
        if code == 401:
            raise SearchlabError("the administrator's login was refused (the auth database "
                                 "keeps the password it was first given; change it with "
                                 "MLflow's update-password API)")
        if code not in (200, 201):  # there already: the file says what its password is
            call("PATCH", "/api/2.0/mlflow/users/update-password",
                 {"username": name, "password": password})


# ---------------------------------------------------------------------------- the server
def cmd_server(args: argparse.Namespace) -> int:
    from searchlab.tracking.store import sql_driver

    beyond = args.host not in LOOPBACK
    if beyond and not (args.auth or args.insecure):
        raise SearchlabError(f"--host {args.host} exposes the server beyond this machine: anyone "
                             "who reaches the port could read and change runs; add --auth (a "
                             "login), or --insecure to accept that")
    if args.users and not args.auth:
        raise SearchlabError("--users is for --auth")
    admin, users = _admin_and_users(args) if args.auth else (None, [])
    base = Path.cwd().resolve() / ".searchlab" / "server"
    base.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           "MLFLOW_DISABLE_TELEMETRY": "true",
           "PYTHONWARNINGS": "ignore::DeprecationWarning,"
                             "ignore:starlette.middleware.wsgi is deprecated"}
    pg = None
    if args.backend_store_uri:
        backend = sql_driver(args.backend_store_uri)
    else:
        from searchlab.postgres import LocalPostgres, binaries

        if binaries() is None:
            backend = f"sqlite:///{base / 'mlflow.db'}"
            print("searchlab: PostgreSQL is not installed (scripts/setup.sh installs it); "
                  "using SQLite", file=sys.stderr)
        else:
            pg = LocalPostgres(base / "postgres")
            print(f"searchlab: starting PostgreSQL in {pg.directory}", file=sys.stderr)
            backend = pg.start()
            env.update(pg.env())
            os.environ.update(pg.env())  # for open_store here
    artifacts = args.artifacts_destination or str(base / "artifacts")
    try:
        return _serve(args, backend, artifacts, env, base, admin, users, pg)
    finally:
        if pg is not None:
            pg.stop()
            print("searchlab: PostgreSQL stopped", file=sys.stderr)


def _serve(args: argparse.Namespace, backend: str, artifacts: str, env: dict[str, str],
           base: Path, admin: tuple[str, str] | None, users: list[tuple[str, str]],
           pg: Any) -> int:
    from searchlab.tracking.store import check_reachable, open_store, redact

    if "://" not in artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
    if not backend.startswith("sqlite:"):
        check_reachable(backend, advice="start it, or pass another --backend-store-uri")
    try:
        open_store(backend)  # created and migrated here, once, before the workers start
    except Exception as e:  # noqa: BLE001 - a wrong URI, a refused login, no such database
        raise SearchlabError(f"cannot open the database {redact(backend)}: "
                             f"{redact(str(e).splitlines()[0][:300]) if str(e) else e!r}") from None
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", args.host, "--port", str(args.port),
           "--backend-store-uri", backend, "--artifacts-destination", artifacts,
           "--serve-artifacts", "--workers", str(args.workers)]
    if args.allowed_hosts:
        cmd += ["--allowed-hosts", args.allowed_hosts]
    if admin is not None:
        env.update(_auth_env(base, admin, args.default_permission))
        cmd += ["--app-name", "basic-auth"]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{args.port}"
    login = (f"; login required ({len(users) + 1} user(s); clients set MLFLOW_TRACKING_USERNAME "
             "and MLFLOW_TRACKING_PASSWORD)" if admin else "")
    print(f"searchlab: MLflow tracking server at {url} (runs in {redact(backend)}, artifacts in "
          f"{redact(artifacts)}{login}); Ctrl-C stops it", file=sys.stderr)
    if args.host not in LOOPBACK and admin is None:
        print(f"searchlab: warning: bound to {args.host} without --auth (--insecure): anyone who "
              "reaches this port can read and change runs", file=sys.stderr)
    elif args.host in LOOPBACK:
        print(f"searchlab: jobs on this machine use --tracking-uri http://127.0.0.1:{args.port}",
              file=sys.stderr)
    # its own process group: mlflow's server runs uvicorn workers that outlive a signal to it
    # alone; tied to this process, so that it ends with it even when this process is killed with
    # SIGKILL (see spawn_tied)
    proc = spawn_tied(cmd, env=env)

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # `kill`, a service manager: stop it all too
    try:
        if users and admin is not None:
            local = f"http://127.0.0.1:{args.port}" if args.host in ("0.0.0.0", "::") else url
            _wait_up(local, proc)
            _add_users(local, admin, users)
        return proc.wait()
    except KeyboardInterrupt:
        stop_group(proc)
        return 0
    finally:
        if proc.poll() is None:
            stop_group(proc)


def _wait_up(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SearchlabError(f"the MLflow server exited with status {proc.returncode} "
                                 "(see its output above)")
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SearchlabError(f"the MLflow server did not answer at {url} within {timeout:.0f} s")
