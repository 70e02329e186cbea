"""Helpers shared by the test modules (a plain module: `conftest` names clash across folders)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).parent
REPO = TESTS.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_runs(uri: str, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment}"
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    return client, [r for r in runs if r.data.tags.get("searchlab.role") == "trial"], \
        [r for r in runs if r.data.tags.get("searchlab.role") == "study"]


def start_mlflow_server(tmp: Path, port: int, backend: str | None = None,
                        env: dict | None = None, args: tuple[str, ...] = (),
                        timeout: float = 180) -> subprocess.Popen:
    """A real ``mlflow server`` on 127.0.0.1:``port`` in its own process group (stop it with
    :func:`stop_group`), backed by ``backend`` (default: SQLite in ``tmp``)."""
    full_env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                "MLFLOW_DISABLE_TELEMETRY": "true", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", backend or f"sqlite:///{tmp / 'server.db'}",
         "--artifacts-destination", str(tmp / "server-artifacts"), "--workers", "1", *args],
        env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/health", timeout, proc)
    return proc


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    if proc is not None:
        stop_group(proc)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to a process group this test started."""
    from searchlab.processes import stop_group as stop

    stop(proc, grace=20)
