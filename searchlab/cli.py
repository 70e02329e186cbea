"""The ``searchlab`` command. User errors print one line each and exit 2; no tracebacks."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from typing import TYPE_CHECKING, Any

from searchlab import __version__, refs
from searchlab.errors import SearchlabError, StudyInterrupted
from searchlab.processes import spawn_tied, stop_group

if TYPE_CHECKING:
    from searchlab.spec.models import Study


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        # references in the study file (CDT's bandit class, data files) resolve from its directory
        with refs.reading(getattr(args, "file", None)):
            return int(args.func(args) or 0)
    except StudyInterrupted as e:
        print(f"\nsearchlab: {e}", file=sys.stderr)
        return e.exit_code
    except SearchlabError as e:
        for line in e.lines():  # every error of a study file, one line each
            print(f"searchlab: error: {line}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        again = f"; to resume it, run: {_resume_command(args)}" if args.command == "run" else ""
        print(f"\nsearchlab: interrupted{again}", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="searchlab", description="Hyperparameter and evolutionary "
                                "search on Ray Tune, described by one YAML file, "
                                "tracked in MLflow.")
    p.add_argument("--version", action="version", version=f"searchlab {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="run a study on a local Ray cluster "
                       "(resumes an interrupted one)")
    r.add_argument("file", help="the study file (YAML)")
    r.add_argument("--storage", help="results directory (default: ./.searchlab/studies)")
    r.add_argument("--restart", action="store_true", help="discard an earlier run and start over")
    r.add_argument("--more", type=int, metavar="N",
                   help="add N trials to the study's budget: a finished or interrupted study "
                        "goes on, its finished trials kept")
    r.add_argument("--no-tracking", action="store_true", help="do not write to MLflow")
    r.add_argument("--quiet", "-q", action="store_true", help="no live progress")
    r.add_argument("--gpus", type=float,
                   help="logical GPUs for the local cluster (default: detected)")
    r.add_argument("--address", help="connect to this Ray cluster instead of starting one")
    r.set_defaults(func=_cmd_run)

    v = sub.add_parser("validate", help="check a study file; print its space and trial plan")
    v.add_argument("file", help="the study file (YAML)")
    v.set_defaults(func=_cmd_validate)

    sh = sub.add_parser("show", help="a study's result (its best trials, or the method's "
                                     "analysis where that leads), read back from MLflow")
    sh.add_argument("name", help="the study's name (its MLflow experiment)")
    sh.add_argument("--tracking-uri",
                    help="default: MLFLOW_TRACKING_URI, else ./.searchlab/mlflow.db")
    sh.add_argument("--top", type=int, default=10, help="how many trials to list (default: 10)")
    sh.add_argument("--trials", action="store_true",
                    help="list the best trials even where the method's analysis leads (lr_free)")
    sh.set_defaults(func=_cmd_show)

    u = sub.add_parser("ui", help="open the MLflow UI on the study store (127.0.0.1)")
    u.add_argument("--tracking-uri",
                   help="default: MLFLOW_TRACKING_URI, else ./.searchlab/mlflow.db")
    u.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only)")
    u.add_argument("--port", type=int,
                   help="port (default: 5000, or the next free one); an error when taken")
    u.set_defaults(func=_cmd_ui)

    rp = sub.add_parser("replay", help="rebuild a Deep GA elite from its seed list and play it "
                        "(prints returns, draws a frame strip)")
    rp.add_argument("elite", help="an elite.json written by a deep_ga trial (MLflow artifact "
                    "trial/elite.json), the trial's directory, or a study's name")
    rp.add_argument("--trial", help="with a study's name: the trial to replay (default: the "
                    "run with the best elite score)")
    rp.add_argument("--tracking-uri", help="with a study's name: the MLflow store (default: "
                    "MLFLOW_TRACKING_URI, else ./.searchlab/mlflow.db)")
    rp.add_argument("--storage", help="with a study's name: the studies' folder (default "
                    "./.searchlab/studies)")
    rp.add_argument("--episodes", type=int, default=1, help="episodes to play (seeds 0, 1, ...)")
    rp.add_argument("--out", help="frame strip PNG (default: next to the elite file)")
    rp.add_argument("--frames", type=int, default=8, help="frames in the strip")
    rp.add_argument("--path", help="directory of the modules the elite's env or policy name "
                    "(default: the study's, kept in the elite file)")
    rp.set_defaults(func=_cmd_replay)

    d = sub.add_parser("dashboard", help="write a cross-study HTML report from MLflow")
    d.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                   help="MLflow experiments (study names) to compare (default: every study in "
                        "the store)")
    d.add_argument("-o", "--output", default="report.html",
                   help="the HTML file to write (default: report.html)")
    d.add_argument("--tracking-uri",
                   help="default: MLFLOW_TRACKING_URI, else ./.searchlab/mlflow.db")
    d.set_defaults(func=_cmd_dashboard)
    from searchlab.cluster import register
    register(sub)
    return p


# ---------------------------------------------------------------------------- commands
def _run_label(s: Study) -> str:
    """What drives the study, for the line that starts it: the method, then the searcher and
    the stopping rule where the method uses them (``Study.drivers``: "stn", not "stn, random,
    fifo")."""
    return ", ".join([s.method.name] + [d for d in s.drivers if d is not None])


def _cmd_validate(args: argparse.Namespace) -> int:
    from searchlab.preflight import preflight_study
    from searchlab.spec.parse import load_study

    loaded = load_study(args.file)
    preflight_study(loaded)  # its packages, workload and data are here: checked before "valid"
    s = loaded.study
    objective = s.method.objective(s)
    print(f"{args.file}: valid study '{s.name}' (spec {loaded.hash})")
    print(f"  method     {s.method.name}")
    if s.workload is not None:
        print(f"  workload   {s.workload.function}" +
              (f" {s.workload.args}" if s.workload.args else ""))
    print(f"  metric     {objective.metric} ({objective.mode})"
          + "".join(f", {m} ({d})" for m, d in objective.more)
          + (" - the first leads; Pareto front over all" if objective.more else ""))
    if s.space is not None:
        print("  space")
        for line in s.space.describe("    "):
            print(line)
    if s.searched:
        points = s.search.settings.points
        print(f"  search     {s.search.label} (seed {s.search.settings.seed})"
              + (f", {len(points)} known point(s) first" if points else ""))
    if s.drivers[1] is not None:  # only where the method uses a stopping rule
        print(f"  stopping   {s.stopping.name} {_settings(s.stopping.settings)}".rstrip())
    for line in s.method.describe(s):
        print(f"  {line}")
    b = s.budget
    if b.time_limit:
        print(f"  time limit {b.time_limit:g} s")
    r = s.resources
    pool = (f", {r.workers} pool workers x {r.worker_cpu:g} CPU {r.worker_gpu:g} GPU"
            if r.workers else "")
    print(f"  resources  {r.cpu:g} CPU, {r.gpu:g} GPU per trial{pool}")
    from searchlab.tracking.store import redact, resolve_uri

    uri = resolve_uri(s.tracking.uri)
    print(f"  tracking   {redact(uri) if s.tracking.enabled else 'off'}")
    return 0


def _settings(model: Any) -> str:
    d = model.model_dump(exclude_defaults=True)
    return " ".join(f"{k}={v}" for k, v in d.items())


def _cmd_run(args: argparse.Namespace) -> int:
    from searchlab.spec.parse import load_study

    loaded = load_study(args.file)  # nothing starts before the file is valid
    from searchlab.runner import RunOptions, run_study

    opts = RunOptions(storage=args.storage, restart=args.restart, quiet=args.quiet,
                      tracking=not args.no_tracking, gpus=args.gpus, address=args.address,
                      command=_resume_command(args), more=args.more)
    s = loaded.study

    def announce(verb: str, grown: str) -> None:
        if not args.quiet:
            more = f": {grown}, its finished trials kept" if grown else ""
            print(f"searchlab: {verb} study '{s.name}' ({_run_label(s)}){more}", file=sys.stderr)

    result = run_study(loaded, opts, on_start=announce)
    _print_summary(result, loaded.study, args)
    failed = result.counts.get("failed", 0)
    return 1 if failed and failed == len(result.rows) else 0


def _resume_command(args: argparse.Namespace) -> str:
    """The command that resumes this run: the same one, without --restart, and without --more
    (the study keeps the budget it was given)."""
    words = ["searchlab", "run", args.file]
    for flag, value in (("--storage", args.storage), ("--gpus", args.gpus),
                        ("--address", args.address)):
        if value is not None:
            words += [flag, str(value)]
    words += [w for w, on in (("--no-tracking", args.no_tracking), ("--quiet", args.quiet)) if on]
    return " ".join(shlex.quote(w) for w in words)


def _print_summary(result: Any, study: Any, args: argparse.Namespace) -> None:
    from rich.console import Console

    from searchlab.methods.base import leads as method_leads
    from searchlab.show import best_table

    console = Console(width=None if sys.stdout.isatty() else 140)
    leads = bool(method_leads(result.analysis.tags) and result.analysis.text)
    if leads:  # the method's analysis is the result (lr_free's AlgoPerf table, CDT's regrets)
        console.print(result.analysis.text, soft_wrap=True, markup=False)
    else:
        console.print(best_table(result.rows, result.metric, result.mode,
                                 f"best trials of {result.name} ({result.metric}, {result.mode})"))
    if result.objectives:
        names = ", ".join(f"{m} {d}" for m, d in result.objectives)
        console.print(f"Pareto front: {len(result.pareto)} trials ({names}): "
                      f"{', '.join(result.pareto) or 'none completed'}",
                      soft_wrap=True, markup=False)
    counts = ", ".join(f"{v} {k}" for k, v in sorted(result.counts.items()))
    console.print(f"{len(result.rows)} trials ({counts}) in {result.elapsed_s:.1f} s"
                  + (" (resumed)" if result.resumed else ""))
    if result.analysis.text and not leads:
        console.print(result.analysis.text, soft_wrap=True, markup=False)
    failed = [r for r in result.rows if r.status in ("failed", "timed_out")]
    if failed:
        where = ("in MLflow (artifact trial/error.txt) and " if result.tracking_uri else "") + \
            f"under {result.study_dir}"
        console.print(f"[yellow]{len(failed)} trial(s) failed; their errors are {where}"
                      "[/yellow]")
        errors: dict[str, int] = {}
        for r in failed:
            errors[r.error or r.status] = errors.get(r.error or r.status, 0) + 1
        for message, n in sorted(errors.items(), key=lambda kv: -kv[1])[:3]:
            console.print(f"  {n} x {message}", soft_wrap=True, markup=False)
    if result.tracking_uri:
        from searchlab.tracking.store import default_uri, redact

        cmd = "searchlab ui"
        if result.tracking_uri != default_uri() or args.storage:
            cmd += f" --tracking-uri {shlex.quote(redact(result.tracking_uri))}"
        console.print(f"open in MLflow: {cmd}   (experiment '{study.experiment_name}', "
                      f"parent run {result.parent_run_id})", soft_wrap=True)


def _cmd_ui(args: argparse.Namespace) -> int:
    """The MLflow UI as a child process group: one quiet worker, stopped with us (Ctrl-C,
    SIGTERM, or SIGKILL: see spawn_tied), and a clear line when the port is taken."""
    from searchlab.tracking.store import prepare_local, redact, resolve_uri

    uri = args.tracking_uri or resolve_uri(None)
    if uri.startswith(("http://", "https://")):
        return _server_ui(uri)
    prepare_local(uri)
    port = _ui_port(args.host, args.port)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
           "--host", args.host, "--port", str(port), "--workers", "1",
           "--uvicorn-opts", "--log-level warning"]
    print(f"searchlab: MLflow UI for {redact(uri)} at http://{args.host}:{port} (Ctrl-C stops)",
          file=sys.stderr)
    # no background job workers (they outlive the UI), no telemetry, no library deprecation noise
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_LOGGING_LEVEL": "WARNING",
           "PYTHONWARNINGS": "ignore::DeprecationWarning,"
                             "ignore:starlette.middleware.wsgi is deprecated"}
    # its own group, which we stop; tied to this process, so that it ends with it even when this
    # process is killed with SIGKILL
    proc = spawn_tied(cmd, env=env)

    def stop(sig: int, frame: Any) -> None:
        raise _Stop

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        rc = proc.wait()
    except _Stop:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
        stop_group(proc)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if rc:
        raise SearchlabError(f"the MLflow UI exited with status {rc} (see its output above)")
    return 0


def _server_ui(uri: str) -> int:
    """A tracking server serves the MLflow UI itself (MLflow's UI cannot sit in front of
    another server): check that it answers and that the login in MLFLOW_TRACKING_USERNAME /
    MLFLOW_TRACKING_PASSWORD works, then say where to open it."""
    from urllib.parse import urlsplit, urlunsplit

    from searchlab.show import require_store
    from searchlab.tracking.store import login_message, login_problem, redact

    require_store(uri)  # answers, or one line
    from mlflow.tracking import MlflowClient

    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except Exception as e:  # noqa: BLE001
        if login_problem(e):
            raise SearchlabError(login_message(uri)) from None
        raise SearchlabError(f"cannot read MLflow at {redact(uri)}: "
                             f"{redact(str(e).splitlines()[0][:200]) if str(e) else e!r}") from None
    parts = urlsplit(uri)
    bare = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    login = f"; log in as {user} when the browser asks" if user else ""
    print(f"searchlab: the tracking server serves the MLflow UI: open {bare} in a browser"
          f"{login}", file=sys.stderr)
    return 0


class _Stop(Exception):
    """SIGTERM or Ctrl-C reached ``searchlab ui``."""


UI_PORT = 5000


def _ui_port(host: str, port: int | None) -> int:
    """The port asked for, which must be free; without one, 5000 or the next free port."""
    import errno
    import socket

    def free(p: int) -> bool:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            try:
                s.bind((host, p))
            except OSError as e:
                if e.errno in (errno.EADDRINUSE, errno.EACCES):
                    return False
                raise SearchlabError(f"cannot listen on {host}:{p}: {e.strerror or e}") from None
            return True

    if port is not None:
        if not free(port):
            raise SearchlabError(f"port {port} on {host} is in use (another MLflow UI?); "
                                 "pick another with --port, or leave --port out")
        return port
    for p in range(UI_PORT, UI_PORT + 20):
        if free(p):
            if p != UI_PORT:
                print(f"searchlab: port {UI_PORT} is in use; using {p}", file=sys.stderr)
            return p
    raise SearchlabError(f"ports {UI_PORT}-{UI_PORT + 19} on {host} are all in use; "
                         "pick one with --port")


def _cmd_show(args: argparse.Namespace) -> int:
    from searchlab.show import cmd_show

    return cmd_show(args)


def _cmd_replay(args: argparse.Namespace) -> int:
    from searchlab.methods.deep_ga.replay import main as replay

    argv = [args.elite, "--episodes", str(args.episodes), "--frames", str(args.frames)]
    for flag in ("trial", "tracking_uri", "storage", "path", "out"):
        value = getattr(args, flag)
        if value:
            argv += [f"--{flag.replace('_', '-')}", value]
    return replay(argv)  # a bad elite or study: one line "error: ...", exit status 2


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from searchlab.dashboard import DashboardError, build_report, study_names
    from searchlab.show import require_store
    from searchlab.tracking.store import redact, resolve_uri

    uri = require_store(args.tracking_uri or resolve_uri(None))
    try:
        names = args.experiments or study_names(uri)
        if not names:
            raise DashboardError(f"no searchlab studies at {redact(uri)}; run one first, or "
                                 "pass --tracking-uri")
        path = build_report(names, args.output, uri)
    except DashboardError as e:
        raise SearchlabError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - MLflow refused or failed: one line
        from searchlab.tracking.store import login_message, login_problem

        if login_problem(e):
            raise SearchlabError(login_message(uri)) from None
        raise SearchlabError(f"cannot read MLflow at {redact(uri)}: "
                             f"{redact(str(e).splitlines()[0][:200]) if str(e) else e!r}") from None
    print(f"searchlab: wrote {path} ({len(names)} {'study' if len(names) == 1 else 'studies'}: "
          f"{', '.join(names)})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
