"""The tiny lr_free study through the CLI: Ray Tune runs every trial, MLflow gets each one and
the method's analysis on the parent run, which leads the closing summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


def test_tiny_lr_free_study_through_ray_and_mlflow(tmp_path) -> None:
    import mlflow

    text = (ROOT / "spaces" / "lr_free_tiny.yaml").read_text()
    uri = "sqlite:///" + str(tmp_path / "mlflow.db")
    path = tmp_path / "lr_free_tiny.yaml"
    path.write_text(text + f"tracking: {{uri: '{uri}'}}\n")
    env = {**os.environ, "RAY_AIR_NEW_OUTPUT": "0"}
    proc = subprocess.run([sys.executable, "-m", "searchlab", "run", str(path), "--storage",
                           str(tmp_path / "store"), "--quiet"], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # the AlgoPerf table leads, not a best-trial table mixing synthetic and tabular val_metric
    assert proc.stdout.lstrip().startswith("AlgoPerf scores"), proc.stdout[:300]
    assert "best trials of" not in proc.stdout

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("lr-free-tiny")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(children) == 23  # 4 calibration + 16 scoring + 3 sensitivity trials
    phases = sorted(r.data.tags.get("lr_free.phase") for r in children)
    assert phases.count("calibration") == 4 and phases.count("scoring") == 16
    assert {r.data.params["optimizer"] for r in children} == {"prodigy", "nadamw"}
    for r in children:
        assert len(client.get_metric_history(r.info.run_id, "val_metric")) >= 1
    assert len(parents) == 1
    parent = parents[0]
    assert "score.prodigy.calibrated" in parent.data.metrics
    assert parent.data.tags["searchlab.lead"] == "analysis"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "analysis")}
    assert "analysis/scores.json" in artifacts
    assert "analysis/performance_profiles.plotly.json" in artifacts
    assert "analysis/lr_sensitivity.plotly.json" in artifacts
