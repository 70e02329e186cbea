"""Helpers shared by the test modules (a plain module: `conftest` names clash across folders)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from searchlab.execution.ray_start import free_port  # noqa: F401 - for the test modules

TESTS = Path(__file__).parent
REPO = TESTS.parent


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


def ray_get_json(url: str, timeout: float = 5) -> dict:
    """GET a Ray REST endpoint (Jobs API, state API) with the cluster's token (Ray >= 2.5x
    starts clusters with token authentication)."""
    import urllib.request

    token = os.environ.get("RAY_AUTH_TOKEN")
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if not token and path.exists():
        token = path.read_text().strip()
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token
                                 else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"{}")
