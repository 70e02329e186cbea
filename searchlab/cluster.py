"""Studies on a Ray cluster: ``submit``, ``jobs``, ``status``, ``logs``, ``stop`` (the Ray Jobs
API) and ``server`` (a shared MLflow tracking server for one machine).

A submitted study runs as ``searchlab run FILE`` on the cluster's head node: the same study file
runs unchanged locally and on a cluster. The study file and the user's workload code travel as
the job's runtime environment (``working_dir``); the tracking URI travels as the job's
``MLFLOW_TRACKING_URI``. Nothing is sent before the study file is valid.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from searchlab.errors import SearchlabError

#: never packaged: local results and stores, version control, caches
EXCLUDES = [".searchlab", ".git", "results", "__pycache__", "*.pyc", ".venv", "venv",
            ".mypy_cache", ".pytest_cache", ".ruff_cache", "mlruns", "mlartifacts", "*.db"]
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
LOOPBACK = ("localhost", "127.0.0.1", "::1", "auto")


def register(subparsers: Any) -> None:
    """Add the cluster commands to the ``searchlab`` parser."""
    addr = dict(default=None, metavar="URL",
                help="the cluster's Ray Jobs API, e.g. http://127.0.0.1:8265 (default: RAY_ADDRESS)")

    s = subparsers.add_parser("submit", help="run a study on a Ray cluster (Ray Jobs API); "
                              "prints the job id")
    s.add_argument("file", help="the study file (YAML)")
    s.add_argument("--address", **addr)
    s.add_argument("--tracking-uri", help="MLflow tracking URI the job writes to (default: the "
                   "study's tracking.uri, else MLFLOW_TRACKING_URI)")
    s.add_argument("--working-dir", help="directory packaged with the job; the job runs in it "
                   "(default: the current directory when workload.path is relative, else the "
                   "study file's directory)")
    s.add_argument("--storage", help="results directory on the cluster (passed to `searchlab run`)")
    s.add_argument("--restart", action="store_true", help="passed to `searchlab run`")
    s.add_argument("--job-id", help="submission id to use (default: chosen by Ray)")
    s.add_argument("--no-wait", action="store_true",
                   help="print the job id and return instead of following the job's logs")
    s.set_defaults(func=cmd_submit)

    j = subparsers.add_parser("jobs", help="list the jobs of a Ray cluster")
    j.add_argument("--address", **addr)
    j.set_defaults(func=cmd_jobs)

    st = subparsers.add_parser("status", help="the status of a submitted job")
    st.add_argument("job", metavar="JOB", help="the submission id printed by `searchlab submit` (see `searchlab jobs`)")
    st.add_argument("--address", **addr)
    st.set_defaults(func=cmd_status)

    lg = subparsers.add_parser("logs", help="the output of a submitted job")
    lg.add_argument("job", metavar="JOB", help="the submission id printed by `searchlab submit` (see `searchlab jobs`)")
    lg.add_argument("--address", **addr)
    lg.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    lg.set_defaults(func=cmd_logs)

    sp = subparsers.add_parser("stop", help="stop a submitted job")
    sp.add_argument("job", metavar="JOB", help="the submission id printed by `searchlab submit` (see `searchlab jobs`)")
    sp.add_argument("--address", **addr)
    sp.set_defaults(func=cmd_stop)

    sv = subparsers.add_parser("server", help="start a shared MLflow tracking server "
                               "(SQLite + artifact root; 127.0.0.1 unless --host)")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)")
    sv.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    sv.add_argument("--backend-store-uri",
                    help="default: sqlite:///<cwd>/.searchlab/server/mlflow.db")
    sv.add_argument("--artifacts-destination",
                    help="artifact root (default: <cwd>/.searchlab/server/artifacts)")
    sv.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    sv.add_argument("--allowed-hosts", help="Host headers MLflow accepts (MLflow's default: "
                    "localhost and private IPs)")
    sv.set_defaults(func=cmd_server)


# ---------------------------------------------------------------------------- Jobs API
def _address(args: argparse.Namespace) -> str:
    address = args.address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise SearchlabError("no cluster address: pass --address http://HEAD:8265 (the Ray Jobs "
                             "API of the head node) or set RAY_ADDRESS")
    return address


def _client(address: str) -> Any:
    from searchlab.tracking.store import redact

    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as e:  # ray[default] extras (aiohttp, ...) missing
        raise SearchlabError(f"the Ray Jobs client is not installed ({e}); "
                             "pip install 'ray[default]'") from None
    _use_auth_token()
    try:
        return JobSubmissionClient(address)
    except Exception as e:  # noqa: BLE001 - ConnectionError, ValueError, version mismatch
        if _auth_error(e):
            raise SearchlabError(_auth_message(address)) from None
        raise SearchlabError(f"cannot reach the Ray cluster at {redact(address)}: "
                             f"{_first_line(e)}") from None


def _use_auth_token() -> None:
    """Send Ray's authentication token when one is available, as Ray's own CLI does.

    Ray >= 2.5x starts clusters with token authentication by default; the token is read from
    RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token. RAY_AUTH_MODE, when set, decides.
    """
    if os.environ.get("RAY_AUTH_MODE"):
        return
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # an older Ray: no token authentication
        return
    log = logging.getLogger("ray._private.authentication.authentication_token_setup")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    except Exception:  # noqa: BLE001 - then requests go without a token and fail clearly
        pass
    finally:
        log.setLevel(level)


def _auth_error(e: BaseException) -> bool:
    return type(e).__name__ == "AuthenticationError" or "Authentication required" in str(e) \
        or "Authentication failed" in str(e)


def _auth_message(address: str) -> str:
    from searchlab.tracking.store import redact

    return (f"the Ray cluster at {redact(address)} refused the request: it needs its "
            "authentication token; put it in RAY_AUTH_TOKEN, or in a file named by "
            "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token (`ray get-auth-token` on the head node)")


def _call(address: str, what: str, fn: Any, *a: Any, **k: Any) -> Any:
    from searchlab.tracking.store import redact

    try:
        return fn(*a, **k)
    except Exception as e:  # noqa: BLE001
        if _auth_error(e):
            raise SearchlabError(_auth_message(address)) from None
        msg = _first_line(e)
        if "does not exist" in msg or "404" in msg:
            raise SearchlabError(f"no {what} on the Ray cluster at {redact(address)}") from None
        raise SearchlabError(f"{what} on the Ray cluster at {redact(address)}: {msg}") from None


def _first_line(e: BaseException) -> str:
    from searchlab.tracking.store import redact

    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return redact(lines[0][:300] if lines else type(e).__name__)


def cmd_jobs(args: argparse.Namespace) -> int:
    address = _address(args)
    client = _client(address)
    jobs = _call(address, "job list", client.list_jobs)
    jobs = sorted(jobs, key=lambda j: j.start_time or 0)
    if not jobs:
        print("no jobs", file=sys.stderr)
        return 0
    print(f"{'JOB':<28} {'STATUS':<10} {'STARTED':<20} ENTRYPOINT")
    for j in jobs:
        started = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j.start_time / 1000))
                   if j.start_time else "-")
        print(f"{j.submission_id or j.job_id or '-':<28} {str(j.status.value if hasattr(j.status, 'value') else j.status):<10} "
              f"{started:<20} {_redact(j.entrypoint)}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    address = _address(args)
    client = _client(address)
    info = _call(address, f"job '{args.job}'", client.get_job_info, args.job)
    status = _status(info.status)
    line = f"{args.job}: {status}"
    if info.message:
        line += f" ({_redact(info.message.splitlines()[0])})"
    print(line)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    address = _address(args)
    client = _client(address)
    if not args.follow:
        text = _call(address, f"job '{args.job}'", client.get_job_logs, args.job)
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    _call(address, f"job '{args.job}'", client.get_job_status, args.job)
    return _follow(client, address, args.job)


def cmd_stop(args: argparse.Namespace) -> int:
    address = _address(args)
    client = _client(address)
    status = _status(_call(address, f"job '{args.job}'", client.get_job_status, args.job))
    if status in TERMINAL:
        print(f"{args.job}: already {status}")
        return 0
    _call(address, f"job '{args.job}'", client.stop_job, args.job)
    for _ in range(60):  # Ray sends SIGTERM, then SIGKILL after a grace period
        status = _status(client.get_job_status(args.job))
        if status in TERMINAL:
            break
        time.sleep(0.5)
    print(f"{args.job}: {status}")
    return 0


def _status(s: Any) -> str:
    return str(getattr(s, "value", s))


def _redact(text: str | None) -> str:
    from searchlab.tracking.store import redact

    return redact(text or "")


def _follow(client: Any, address: str, job: str) -> int:
    """Print the job's logs as they come; the job's outcome is the exit code."""
    import asyncio

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job):
            sys.stdout.write(chunk)
            sys.stdout.flush()

    try:
        try:
            asyncio.run(tail())
        except Exception:  # noqa: BLE001 - the log stream broke: poll the status instead
            pass
        status = _status(client.get_job_status(job))
        while status not in TERMINAL:
            time.sleep(1.0)
            status = _status(client.get_job_status(job))
    except KeyboardInterrupt:
        print(f"\nsearchlab: stopped following job {job}; it keeps running "
              f"(searchlab stop {job} --address {shlex.quote(_redact(address))})", file=sys.stderr)
        return 130
    info = client.get_job_info(job)
    msg = f"searchlab: job {job} {status}"
    if status != "SUCCEEDED" and info.message:
        msg += f": {_redact(info.message.splitlines()[0])}"
    print(msg, file=sys.stderr)
    return 0 if status == "SUCCEEDED" else 1


# ---------------------------------------------------------------------------- submit
def _is_loopback(address: str) -> bool:
    host = urlparse(address if "://" in address else f"x://{address}").hostname or address
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_local_store(uri: str) -> bool:
    scheme = urlparse(uri).scheme
    return scheme in ("", "file", "sqlite") or len(scheme) == 1  # a path, or C:\ on Windows


def plan_package(study_file: Path, workload_path: str | None,
                 working_dir: str | None) -> tuple[Path, str, list[str]]:
    """The directory to package, the study file's path inside it, and warnings."""
    warnings: list[str] = []
    study_file = study_file.resolve()
    relative_code = bool(workload_path) and not os.path.isabs(workload_path or "")
    if working_dir:
        root = Path(working_dir).resolve()
        if not root.is_dir():
            raise SearchlabError(f"--working-dir {working_dir} is not a directory")
    elif relative_code:
        root = Path.cwd().resolve()  # relative paths resolve against the current directory
    else:
        root = study_file.parent
    try:
        inside = study_file.relative_to(root)
    except ValueError:
        raise SearchlabError(f"{study_file} is outside the packaged directory {root}; pass "
                             "--working-dir with a directory that contains it") from None
    if relative_code:
        code = (root / workload_path).resolve()  # type: ignore[operator]
        if not code.is_dir():
            raise SearchlabError(f"workload.path '{workload_path}' is not a directory under "
                                 f"{root}, where the job runs; submit from the directory it is "
                                 "relative to, or pass --working-dir")
    elif workload_path:
        code = Path(workload_path).resolve()
        try:
            code.relative_to(root)
            warnings.append(f"workload.path '{workload_path}' is absolute: the job imports from "
                            "that path, which must exist on every node (a relative path is "
                            "packaged)")
        except ValueError:
            warnings.append(f"workload.path '{workload_path}' is absolute and outside {root}: it "
                            "is not packaged and must exist on every node of the cluster")
    return root, inside.as_posix(), warnings


def _tracking(args: argparse.Namespace, study: Any, address: str) -> tuple[str | None, list[str]]:
    """The MLFLOW_TRACKING_URI the job gets (None: none set), and warnings."""
    from searchlab.tracking.store import default_uri, redact

    if not study.tracking.enabled:
        return None, []
    warnings: list[str] = []
    if args.tracking_uri and study.tracking.uri and args.tracking_uri != study.tracking.uri:
        raise SearchlabError(f"the study file sets tracking.uri ({redact(study.tracking.uri)}), "
                             "which wins over --tracking-uri; drop one of them")
    explicit = args.tracking_uri or study.tracking.uri
    uri = explicit or os.environ.get("MLFLOW_TRACKING_URI")
    local_cluster = _is_loopback(address)
    if uri is None:
        if not local_cluster:
            raise SearchlabError(
                f"no shared MLflow tracking server for the job on {redact(address)}: pass "
                "--tracking-uri http://HOST:5000 with a server every node reaches (`searchlab "
                "server`), set MLFLOW_TRACKING_URI, or set tracking.enabled: false")
        uri = default_uri()  # same machine: the store a local `searchlab run` would use
        warnings.append(f"tracking to {redact(uri)} on this machine (no --tracking-uri)")
    elif _is_local_store(uri):
        if not local_cluster and not explicit:
            raise SearchlabError(
                f"MLFLOW_TRACKING_URI is a local store ({redact(uri)}) but the cluster at "
                f"{redact(address)} is remote: its head node would write to a file there that "
                "nobody else sees; pass --tracking-uri http://HOST:5000 (`searchlab server`)")
        if not local_cluster:
            warnings.append(f"tracking to {redact(uri)}: a file on the cluster's head node, "
                            "not shared with this machine or other nodes")
    elif not local_cluster and _is_loopback(urlparse(uri).hostname or ""):
        warnings.append(f"tracking URI {redact(uri)} is a loopback address: the job on the "
                        "cluster looks for MLflow on the head node itself")
    return uri, warnings


def cmd_submit(args: argparse.Namespace) -> int:
    from searchlab.spec.parse import load_study
    from searchlab.tracking.store import redact

    loaded = load_study(args.file)  # nothing is sent before the file is valid
    study = loaded.study
    wpath = study.workload.path if study.workload is not None else None
    address = _address(args)
    root, inside, warnings = plan_package(Path(args.file), wpath, args.working_dir)
    if study.workload is not None:  # the workload imports here as it will there: fail early
        from searchlab.workloads import check_signature, resolve

        code = wpath if not wpath or os.path.isabs(wpath) else str(root / wpath)
        check_signature(resolve(study.workload.function, code), study.workload.function,
                        study.workload.args)
    uri, more = _tracking(args, study, address)
    warnings += more

    entry = ["searchlab", "run", inside, "--quiet"]
    if args.storage:
        entry += ["--storage", args.storage]
    if args.restart:
        entry.append("--restart")
    # trials stay in the job's directory (the unpacked package, on every node) instead of Tune's
    # per-trial directory, so that relative paths (workload.path, data files) resolve there
    env = {"PYTHONUNBUFFERED": "1", "RAY_CHDIR_TO_TRIAL_DIR": "0"}
    if uri:
        env["MLFLOW_TRACKING_URI"] = uri
    runtime_env = {"working_dir": str(root), "excludes": EXCLUDES, "env_vars": env}

    client = _client(address)  # connection errors name the address
    for w in warnings:
        print(f"searchlab: warning: {w}", file=sys.stderr)
    kwargs: dict[str, Any] = {"entrypoint": shlex.join(entry), "runtime_env": runtime_env}
    if args.job_id:
        kwargs["submission_id"] = args.job_id
    job = _call(address, "job submission", client.submit_job, **kwargs)
    where = redact(address)
    if args.no_wait:
        print(job)
        print(f"searchlab: submitted study '{study.name}' to {where} as job {job} "
              f"(packaged {root}); follow it with: searchlab logs {job} --follow --address "
              f"{shlex.quote(where)}", file=sys.stderr)
        return 0
    print(f"searchlab: submitted study '{study.name}' to {where} as job {job} (packaged {root}); "
          "following its logs (Ctrl-C stops following, not the job)", file=sys.stderr)
    print(job)
    sys.stdout.flush()
    return _follow(client, address, job)


# ---------------------------------------------------------------------------- server
def cmd_server(args: argparse.Namespace) -> int:
    from searchlab.tracking.store import prepare_local, redact

    base = Path.cwd().resolve() / ".searchlab" / "server"
    backend = args.backend_store_uri or f"sqlite:///{base / 'mlflow.db'}"
    artifacts = args.artifacts_destination or str(base / "artifacts")
    prepare_local(backend)
    if "://" not in artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", args.host, "--port", str(args.port),
           "--backend-store-uri", backend, "--artifacts-destination", artifacts,
           "--serve-artifacts", "--workers", str(args.workers)]
    if args.allowed_hosts:
        cmd += ["--allowed-hosts", args.allowed_hosts]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"searchlab: MLflow tracking server at http://{shown}:{args.port} "
          f"(runs in {redact(backend)}, artifacts in {redact(artifacts)}); Ctrl-C stops it",
          file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"searchlab: warning: bound to {args.host}: anyone who reaches this port can read "
              "and write runs (MLflow has no authentication here); prefer 127.0.0.1 and an SSH "
              "tunnel", file=sys.stderr)
    else:
        print(f"searchlab: jobs on this machine use --tracking-uri http://127.0.0.1:{args.port}",
              file=sys.stderr)
    # its own process group: mlflow's server runs uvicorn workers that outlive a signal to it alone
    proc = subprocess.Popen(cmd, start_new_session=True)

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # `kill`, a service manager: stop it all too
    try:
        return proc.wait()
    except KeyboardInterrupt:
        _stop_group(proc)
        return 0


def _stop_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            time.sleep(0.5)  # the group's other members
        except subprocess.TimeoutExpired:
            continue
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
