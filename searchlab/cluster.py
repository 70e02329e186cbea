"""Studies on a Ray cluster: the commands ``submit`` (:mod:`searchlab.submit`), ``jobs``,
``status``, ``logs``, ``stop`` (the Ray Jobs API, here) and ``server`` (a shared MLflow tracking
server, :mod:`searchlab.server`)."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from typing import Any

from searchlab.errors import SearchlabError

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
LOOPBACK = ("localhost", "127.0.0.1", "::1", "auto")


def register(subparsers: Any) -> None:
    """Add the cluster commands to the ``searchlab`` parser."""
    addr = dict(default=None, metavar="URL",
                help="the cluster's Ray Jobs API, e.g. http://127.0.0.1:8265 "
                     "(default: RAY_ADDRESS)")

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
    s.set_defaults(func=_lazy("searchlab.submit:cmd_submit"))

    j = subparsers.add_parser("jobs", help="list the jobs of a Ray cluster")
    j.add_argument("--address", **addr)
    j.set_defaults(func=cmd_jobs)

    st = subparsers.add_parser("status", help="the status of a submitted job")
    st.add_argument("job", metavar="JOB",
                    help="the submission id printed by `searchlab submit` (see `searchlab jobs`)")
    st.add_argument("--address", **addr)
    st.set_defaults(func=cmd_status)

    lg = subparsers.add_parser("logs", help="the output of a submitted job")
    lg.add_argument("job", metavar="JOB",
                    help="the submission id printed by `searchlab submit` (see `searchlab jobs`)")
    lg.add_argument("--address", **addr)
    lg.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    lg.set_defaults(func=cmd_logs)

    sp = subparsers.add_parser("stop", help="stop a submitted job")
    sp.add_argument("job", metavar="JOB",
                    help="the submission id printed by `searchlab submit` (see `searchlab jobs`)")
    sp.add_argument("--address", **addr)
    sp.set_defaults(func=cmd_stop)

    from searchlab.server import register as register_server

    register_server(subparsers, _lazy)


def _lazy(ref: str) -> Any:
    def call(args: argparse.Namespace) -> int:
        from searchlab.registry import load

        return int(load(ref)(args) or 0)

    return call


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


#: what a cluster still starting answers ("Request failed with status code 500: No available
#: agent to submit job, please try again later.")
_STARTING = ("No available agent", "please try again later", "status code 503")


def _starting(e: BaseException) -> bool:
    return any(s in str(e) for s in _STARTING)


def _call(address: str, what: str, fn: Any, *a: Any, patience: float = 0.0,
          pause: float = 0.5, **k: Any) -> Any:
    """``fn(*a, **k)``, its errors as one line naming the cluster. A cluster still starting
    (its job agent not up yet) is asked again, waiting ``pause`` seconds and twice as long each
    time (up to 8 s), for up to ``patience`` seconds in all."""
    from searchlab.tracking.store import redact

    deadline, said = time.monotonic() + patience, False
    while True:
        try:
            return fn(*a, **k)
        except Exception as e:  # noqa: BLE001
            if _starting(e) and time.monotonic() + pause <= deadline:
                if not said:
                    print(f"searchlab: the Ray cluster at {redact(address)} is still starting "
                          f"(no job agent yet); trying again for up to {patience:.0f} s",
                          file=sys.stderr)
                    said = True
                time.sleep(pause)
                pause = min(pause * 2, 8.0)
                continue
            if _auth_error(e):
                raise SearchlabError(_auth_message(address)) from None
            msg = _first_line(e)
            if _starting(e) and patience:
                raise SearchlabError(f"{what} on the Ray cluster at {redact(address)}: the "
                                     f"cluster had no job agent ready after {patience:.0f} s "
                                     f"({msg}); is it still starting? try again") from None
            if "does not exist" in msg or "404" in msg:
                raise SearchlabError(f"no {what} on the Ray cluster at {redact(address)}") \
                    from None
            raise SearchlabError(f"{what} on the Ray cluster at {redact(address)}: {msg}") \
                from None


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
        print(f"{j.submission_id or j.job_id or '-':<28} "
              f"{str(j.status.value if hasattr(j.status, 'value') else j.status):<10} "
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


