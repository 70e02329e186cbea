"""The MLflow tracking server goes away mid-study and comes back: nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from searchlab_testing import REPO, child_runs, free_port

pytestmark = pytest.mark.slow


def start_server(tmp_path, port: int) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    stop_server(proc)
    pytest.fail("mlflow server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_server_down_mid_study_then_back(tmp_path):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, port)
    study = tmp_path / "outage.yaml"
    study.write_text(f"""name: outage
workload: {{function: "test_workloads_lib:slow_curve", path: "{REPO / 'tests'}"}}
metric: {{name: loss, mode: min}}
space: {{x1: {{uniform: [0, 1]}}}}
budget: {{trials: 12, concurrency: 2, max_epochs: 5}}
tracking: {{uri: "{uri}"}}
""")
    proc = subprocess.Popen([sys.executable, "-m", "searchlab", "run", str(study), "--storage",
                             str(tmp_path / "store")], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        # wait until some child runs exist, then take the server away
        deadline = time.time() + 240
        while time.time() < deadline:
            try:
                _, children, _ = child_runs(uri, "outage")
                if len(children) >= 2:
                    break
            except Exception:  # noqa: BLE001 - experiment not created yet
                pass
            time.sleep(1)
        stop_server(server)
        time.sleep(10)  # trials keep training meanwhile
        assert proc.poll() is None, "the study stopped when MLflow went away"
        server = start_server(tmp_path, port)
        out, _ = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        assert proc.returncode == 0, out[-3000:]
        assert "MLflow unreachable" in out and "training goes on" in out
        assert "reachable again" in out
        client, children, parents = child_runs(uri, "outage")
        assert len(parents) == 1 and parents[0].info.status == "FINISHED"
        assert len(children) == 12 and all(c.info.status == "FINISHED" for c in children)
        for c in children:
            history = client.get_metric_history(c.info.run_id, "loss")
            assert [m.step for m in history] == [1, 2, 3, 4, 5]
    finally:
        stop_server(server)
