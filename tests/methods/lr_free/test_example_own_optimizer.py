"""examples/lr_free_own_optimizer at a tiny budget, run as a user would: from a fresh directory,
``searchlab run`` on the example's study file (its own optimizer and workload found next to it),
through Ray Tune into MLflow; then ``searchlab show`` and the dashboard lead with the AlgoPerf
table and profiles."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "lr_free_own_optimizer"


def _tiny_copy(where: Path) -> Path:
    """The example, with its study file cut to a tiny budget (and nothing else changed)."""
    shutil.copytree(EXAMPLE, where, ignore=shutil.ignore_patterns("__pycache__"))
    study = yaml.safe_load((where / "study.yaml").read_text())
    m = study["method"]
    mine = next(o for o in m["optimizers"] if isinstance(o, dict))
    m.update(optimizers=["nadamw", mine], workloads=["my_workload:cancer_mlp", "tabular"],
             calibration_trials=2, repeats=1, sensitivity_lrs=[1.0e-3, 1.0e-1])
    (where / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    return where / "study.yaml"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "RAY_AIR_NEW_OUTPUT": "0"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "searchlab", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def test_the_example_runs_from_a_fresh_directory_into_mlflow(tmp_path) -> None:
    from searchlab_testing import child_runs

    study = _tiny_copy(tmp_path / "example")
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    proc = _cli("run", str(study), cwd=fresh)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert out.lstrip().startswith("AlgoPerf scores"), out[:400]
    assert "best trials of" not in out
    assert "| DoWG (yours) | yes |" in out and "| NAdamW | no |" in out
    # 2 optimizers x 2 proposals x 1 calibration workload + 2 workloads x 2 x 2 settings x 1
    # repeat + NAdamW's sweep of 2 lrs (DoWG's sensitivity point is its scoring run)
    assert "14 trials (14 completed)" in out, out[-600:]

    uri = "sqlite:///" + str(fresh / ".searchlab" / "mlflow.db")
    client, trials, parents = child_runs(uri, "lr-free-own-optimizer")
    assert len(trials) == 14 and len(parents) == 1
    assert {t.data.params["optimizer"] for t in trials} == {"nadamw", "dowg:DoWG"}
    assert {t.data.params["workload"] for t in trials} == {"cancer_mlp", "tabular"}
    dowg = [t for t in trials if t.data.params["optimizer"] == "dowg:DoWG"]
    assert all("eps_rel" in t.data.params for t in dowg)
    parent = parents[0]
    assert parent.data.tags["searchlab.lead"] == "analysis"
    assert "score.dowg:DoWG.calibrated" in parent.data.metrics
    names = {a.path for a in client.list_artifacts(parent.info.run_id, "analysis")}
    assert {"analysis/scores.json", "analysis/performance_profiles.plotly.json",
            "analysis/performance_profiles_held_out.plotly.json"} <= names

    shown = _cli("show", "lr-free-own-optimizer", cwd=fresh)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.lstrip().startswith("AlgoPerf scores")
    assert "| DoWG (yours) | yes |" in shown.stdout and "Downloading" not in shown.stderr
    listed = _cli("show", "lr-free-own-optimizer", "--trials", cwd=fresh)
    assert "best trials of lr-free-own-optimizer" in listed.stdout

    report = fresh / "report.html"
    dash = _cli("dashboard", "-o", str(report), cwd=fresh)
    assert dash.returncode == 0, dash.stderr
    from searchlab.dashboard import figures_in

    titles = [f["layout"]["title"]["text"] for f in figures_in(report.read_text())]
    assert titles[:3] == [
        "lr-free-own-optimizer: scores (analysis/scores.json)",
        "lr-free-own-optimizer: Performance profiles (time to target), all 2 scored workloads",
        "lr-free-own-optimizer: Performance profiles (time to target), the 1 held-out "
        "workloads (cancer_mlp)"]
    assert sum("Performance profiles" in t for t in titles) == 2  # drawn once, not again below
