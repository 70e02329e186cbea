"""``searchlab server``: a shared MLflow tracking server for one machine (SQLite and an artifact
root, on 127.0.0.1 unless told otherwise)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from searchlab.processes import spawn_tied, stop_group


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
    # its own process group: mlflow's server runs uvicorn workers that outlive a signal to it
    # alone; tied to this process, so that it ends with it even when this process is killed with
    # SIGKILL (see spawn_tied)
    proc = spawn_tied(cmd)

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # `kill`, a service manager: stop it all too
    try:
        return proc.wait()
    except KeyboardInterrupt:
        stop_group(proc)
        return 0
