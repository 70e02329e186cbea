"""A tiny CDT study through the CLI: Ray Tune runs the trials, MLflow gets the regret curves."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

STUDY = """
name: cdt-e2e
method:
  name: cdt
  environments:
    - {kind: linear, arms: 10, dim: 4, horizon: 400}
  bandits: [linucb]
  tuners: [cdt, theoretical]
  seeds: 2
  chunks: 20
resources: {cpu: 1}
"""


def test_cdt_study_through_ray_and_mlflow(tmp_path) -> None:
    import mlflow

    path = tmp_path / "cdt.yaml"
    path.write_text(textwrap.dedent(STUDY))
    uri = "sqlite:///" + str(tmp_path / "mlflow.db")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "RAY_AIR_NEW_OUTPUT": "0"}
    proc = subprocess.run([sys.executable, "-m", "searchlab", "run", str(path), "--storage",
                           str(tmp_path / "store"), "--quiet"], env=env, capture_output=True,
                          text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("cdt-e2e")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 4  # 2 tuners x 2 seeds
    assert {(r.data.params["tuner"], r.data.params["seed"]) for r in children} == {
        ("cdt", "0"), ("cdt", "1"), ("theoretical", "0"), ("theoretical", "1")}
    for r in children:
        history = client.get_metric_history(r.info.run_id, "cum_regret")
        assert len(history) == 20
        values = [m.value for m in sorted(history, key=lambda m: m.step)]
        assert values == sorted(values) and values[-1] > 0
        assert len(client.get_metric_history(r.info.run_id, "alpha")) >= 19
