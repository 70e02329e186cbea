"""examples/deep_ga_pendulum as a user runs it, at a tiny budget: copied into an empty directory,
`searchlab run` from another one (the module is found next to the study file) through Ray Tune
into MLflow, then `searchlab replay` of the best run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from searchlab_testing import REPO

EXAMPLE = REPO / "examples" / "deep_ga_pendulum"
TINY = {"population": "8", "truncation": "2", "elite_candidates": "2", "elite_episodes": "1",
        "generations": "2", "max_frames": "5000", "final_episodes": "2", "seeds": "2"}


def _tiny(text: str) -> str:
    for key, value in TINY.items():
        text, n = re.subn(rf"^(  {key}: )\S+", rf"\g<1>{value}", text, flags=re.M)
        assert n == 1, key
    return text


def test_the_example_validates_as_shipped() -> None:
    from searchlab.cli import main

    assert main(["validate", str(EXAMPLE / "study.yaml")]) == 0


@pytest.mark.slow
def test_the_example_runs_from_a_fresh_directory(tmp_path) -> None:
    import mlflow

    copy = tmp_path / "deep_ga_pendulum"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    study = copy / "study.yaml"
    study.write_text(_tiny(study.read_text()))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AIR_NEW_OUTPUT": "0",
           "MLFLOW_TRACKING_URI": uri}

    def searchlab(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "searchlab", *args], env=env, cwd=elsewhere,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout

    out = searchlab("run", str(study))
    assert "Deep GA on pendulum_ga:make_env: 2 runs" in out, out
    assert "replay it: searchlab replay deep-ga-pendulum --trial" in out

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name("deep-ga-pendulum")
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.data.params["seed"] for r in children) == ["10", "11"]
    for r in children:
        assert r.data.params["env"] == "pendulum_ga:make_env"
        assert r.data.params["policy"] == "pendulum_ga:policy"
        assert r.data.params["path"] == str(copy)  # made absolute from the study file
        assert -2000 < r.data.metrics["final_score"] <= 0 and r.data.metrics["frames"] > 0
        assert "trial/elite.json" in [a.path for a in client.list_artifacts(r.info.run_id,
                                                                            "trial")]
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert "analysis/summary.md" in [a.path for a in client.list_artifacts(parent.info.run_id,
                                                                          "analysis")]
    # the GA runs' table and curves are the result (summary, `searchlab show`, the dashboard)
    tags = parent.data.tags
    assert tags["searchlab.lead"] == "analysis"
    assert tags["searchlab.lead_table"] == "runs"
    assert tags["searchlab.lead_figures"] == "learning_curves"
    assert tags["searchlab.headline"].startswith("Deep GA on pendulum_ga:make_env: 2 runs")
    assert "replay: searchlab replay deep-ga-pendulum --trial" in tags["searchlab.headline"]
    assert "best trials of" not in out
    shown = searchlab("show", "deep-ga-pendulum")
    assert "Deep GA on pendulum_ga:make_env: 2 runs" in shown and "best trials" not in shown
    searchlab("dashboard", "deep-ga-pendulum", "-o", "report.html")
    page = (elsewhere / "report.html").read_text()
    result, rest = page.split('<section id="lead">', 1)[1].split("</section>", 1)
    assert "runs (analysis\\u002fruns.json)" in result  # the table of runs, first on the page
    assert "elite score against frames" in result  # and the learning curves
    assert '<section id="best_so_far">' not in rest  # no best-trial panels for GA runs

    replayed = searchlab("replay", "deep-ga-pendulum", "--episodes", "2")
    assert "mean return" in replayed
    assert list(elsewhere.glob("elite_strip_*.png"))
