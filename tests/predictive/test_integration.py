"""Small predictive studies through a real Ray Tune run, and through searchlab's runner + MLflow."""

from __future__ import annotations

import numpy as np
import pytest

from searchlab.predictive.curves import CurveSet
from searchlab.predictive.factory import PredictiveSettings, build_scheduler

from .synthetic import pool

pytestmark = pytest.mark.slow
EPOCHS = 10


def tune_run(settings: PredictiveSettings, n: int, tmp_path, concurrency: int | None = 2):
    from ray import tune

    configs, curves = pool(n, EPOCHS, seed=1)
    order = {c["a"]: i for i, c in enumerate(configs)}

    def trainable(config):
        row = curves[order[config["hp"]["a"]]]
        for value in row:
            tune.report({"acc": float(value)})

    scheduler = build_scheduler(settings, metric="acc", mode="max", max_t=EPOCHS)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"hp": tune.grid_search(configs)},
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=concurrency),
        run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
    grid = tuner.fit()
    epochs = {r.config["hp"]["a"]: r.metrics["training_iteration"] for r in grid}
    return scheduler, curves, configs, epochs


def test_predictive_study_stops_bad_trials_and_keeps_the_best(ray_cluster, tmp_path):
    scheduler, curves, configs, epochs = tune_run(PredictiveSettings(min_finished=8), 40, tmp_path)
    assert len(scheduler.stopped_by_rule) >= 10
    assert sum(epochs.values()) < 0.7 * 40 * EPOCHS
    best = configs[int(np.argmax(curves[:, -1]))]["a"]
    assert epochs[best] == EPOCHS  # the truly best configuration was trained to the end


def test_predictive_inside_hyperband_brackets(ray_cluster, tmp_path):
    settings = PredictiveSettings(min_finished=4, bracket="hyperband")
    scheduler, curves, configs, epochs = tune_run(settings, 40, tmp_path, concurrency=None)
    assert len(epochs) == 40 and scheduler.rule.predictor.n >= 4
    assert sum(epochs.values()) < 40 * EPOCHS


STUDY = """\
name: predictive-replay
workload: {{function: replay, args: {{curves: "{curves}"}}}}
metric: {{name: acc, mode: max}}
space:
  curve: {{grid: {grid}}}
search: {{algorithm: grid}}
stopping: {{scheduler: predictive, min_finished: 6, delta: 0.05}}
budget: {{concurrency: 2, max_epochs: {epochs}}}
"""


def test_study_file_through_the_runner_logs_decisions_to_mlflow(study_file, run_in_process,
                                                               mlflow_uri, tmp_path):
    from searchlab_testing import child_runs

    configs, curves = pool(24, EPOCHS, seed=2)
    path = tmp_path / "curves.npz"
    CurveSet([{"curve": i} for i in range(len(configs))], {"acc": curves}).save(path)
    result = run_in_process(study_file(STUDY.format(curves=path, grid=list(range(24)),
                                                    epochs=EPOCHS)))
    assert len(result.rows) == 24
    stopped = [r for r in result.rows if r.status == "early_stopped"]
    assert stopped, [r.status for r in result.rows]
    client, trials, parents = child_runs(mlflow_uri, "predictive-replay")
    reasons = [r for r in trials if "predictive:" in r.data.tags.get("searchlab.stop_reason", "")]
    assert reasons, "no stop reason logged"
    history = client.get_metric_history(reasons[0].info.run_id, "p_beat_best")
    assert history and min(m.value for m in history) < 0.05
    assert "predictor_r2_at_0.5" in parents[0].data.metrics


def test_shipped_study_file_through_the_cli(tmp_path):
    """spaces/lcbench_predictive.yaml, with a smaller budget, through `searchlab run`."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from searchlab.workloads import lcbench

    if not lcbench.available():
        pytest.skip("YAHPO LCBench data not found (set SEARCHLAB_YAHPO_DATA)")
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "spaces" / "lcbench_predictive.yaml").read_text()
    small = (text.replace("budget: {trials: 100, concurrency: 2, max_epochs: 52}",
                          "budget: {trials: 20, concurrency: 2, max_epochs: 12}")
                 .replace("min_finished: 15", "min_finished: 5"))
    assert small != text
    study = tmp_path / "study.yaml"
    study.write_text(small)
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
               SEARCHLAB_YAHPO_DATA=str(lcbench.data_dir()))
    proc = subprocess.run([sys.executable, "-m", "searchlab", "run", str(study), "--storage",
                           str(tmp_path / "store"), "--quiet"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from searchlab_testing import child_runs

    _, trials, _ = child_runs(env["MLFLOW_TRACKING_URI"], "lcbench-predictive")
    assert len(trials) == 20
    assert any("predictive:" in r.data.tags.get("searchlab.stop_reason", "") for r in trials)


CALIBRATED = """\
name: predictive-calibrated
workload: {{function: replay, args: {{curves: "{curves}"}}}}
metric: {{name: acc, mode: max}}
space:
  curve: {{grid: {grid}}}
search: {{algorithm: grid}}
stopping:
  scheduler: predictive
  calibration: conformal
  reference: rank
  rank: 2
  min_seen: 3
  rungs: geometric
  delta: 0.1
  prior: {{file: "{prior}", use_config: false, takeover: 1000}}
budget: {{concurrency: 2, max_epochs: {epochs}}}
"""


def test_calibrated_rule_with_a_prior_through_the_cli(study_file, tmp_path):
    """The calibrated rank rule with a prior of other tasks' curves, through `searchlab run`:
    it stops trials before any trial of the study has finished."""
    from searchlab_testing import child_runs

    from searchlab.cli import main
    from searchlab.predictive.prior import TaskCurves

    from .synthetic import tasks

    configs, curves = pool(24, EPOCHS, seed=2)
    path = tmp_path / "curves.npz"
    CurveSet([{"curve": i} for i in range(len(configs))], {"acc": curves}).save(path)
    other_configs, other_curves, labels = tasks(4, 30, EPOCHS, seed=4)
    prior = tmp_path / "prior.npz"
    TaskCurves(other_configs, other_curves, labels).save(prior)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    text = CALIBRATED.format(curves=path, grid=list(range(24)), epochs=EPOCHS, prior=prior)
    study = study_file(text + f"tracking: {{uri: \"{uri}\"}}\n")
    main(["run", str(study), "--storage", str(tmp_path / "store")])
    _, trials, _ = child_runs(uri, "predictive-calibrated")
    reasons = [r.data.tags.get("searchlab.stop_reason", "") for r in trials]
    assert any("rank-2 estimate" in r and "prior predictor" in r for r in reasons), reasons


PFN_STUDY = """\
name: predictive-pfn
workload: {{function: replay, args: {{curves: "{curves}"}}}}
metric: {{name: acc, mode: max}}
space:
  curve: {{grid: {grid}}}
search: {{algorithm: grid}}
stopping: {{scheduler: predictive, model: pfn, reference: rank, rank: 1, min_seen: 3,
           delta: 0.05, rungs: geometric}}
budget: {{concurrency: 2, max_epochs: {epochs}}}
"""


def test_pfn_study_through_the_cli_stops_trials_before_any_finished(study_file, tmp_path):
    """``model: pfn`` end to end: `searchlab run` on a study file, the shipped network deciding
    from the first trials on (no finished trial, no prior), its stop reasons in MLflow."""
    from searchlab_testing import child_runs

    from searchlab.cli import main
    from searchlab.predictive.pfn import WEIGHTS

    if not WEIGHTS.exists():
        pytest.skip("no shipped PFN weights")
    configs, curves = pool(16, EPOCHS, seed=3)
    path = tmp_path / "curves.npz"
    CurveSet([{"curve": i} for i in range(len(configs))], {"acc": curves}).save(path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    text = PFN_STUDY.format(curves=path, grid=list(range(16)), epochs=EPOCHS)
    main(["run", str(study_file(text + f"tracking: {{uri: \"{uri}\"}}\n")), "--storage",
          str(tmp_path / "store")])
    _, trials, _ = child_runs(uri, "predictive-pfn")
    assert len(trials) == 16
    reasons = [r.data.tags.get("searchlab.stop_reason", "") for r in trials]
    assert any(r.startswith("predictive (pfn): P(final beats rank-1 estimate") for r in reasons)
    best = int(np.argmax(curves[:, -1]))
    kept = [r for r in trials if r.data.params.get("curve") == str(best)]
    assert kept and not kept[0].data.tags.get("searchlab.stop_reason")
