"""Every registered searcher, scheduler and method: study file -> Ray Tune -> MLflow.

Each runs a tiny study on the session's Ray cluster and must leave exactly one finished child run
per trial, every reported step of the metric in MLflow, a valid status on every trial, and one
finished parent run. Resume after ``kill -9``: see test_resume.py.
"""

from __future__ import annotations

import pytest
from searchlab_testing import child_runs

from searchlab import methods, searchers, status, stopping

SPACE = "space: {x1: {uniform: [-1.0, 1.0]}, x2: {uniform: [-1.0, 1.0]}}"

SEARCHER_STUDY = """name: s-{name}
workload: sphere_curve
metric: {{name: loss, mode: min}}
{space}
search: {{algorithm: {name}, seed: 1}}
budget: {{{trials}concurrency: 2, max_epochs: 3}}
"""
# a workload that checkpoints, so paused trials continue where they stopped
SCHEDULER_STUDY = """name: sch-{name}
workload: {{function: "test_workloads_lib:curve", path: "{{TESTS}}"}}
metric: {{name: score, mode: max}}
space: {{q: {{uniform: [0.0, 1.0]}}}}
stopping: {stopping}
budget: {{trials: 6, concurrency: 2, max_epochs: 4}}
"""
SCHEDULER_SETTINGS = {
    "fifo": "{scheduler: fifo}",
    "asha": "{scheduler: asha, grace_period: 1}",
    "hyperband": "{scheduler: hyperband}",
    "median": "{scheduler: median, grace_period: 1, min_samples_required: 2}",
    "pbt": "{scheduler: pbt, perturbation_interval: 1}",
    "predictive": "{scheduler: predictive, min_finished: 3, min_epoch: 1}",
}
METHOD_STUDIES = {
    "search": SEARCHER_STUDY.format(name="random", space=SPACE, trials="trials: 4, ")
    .replace("name: s-random", "name: m-search"),
    "cdt": """name: m-cdt
method:
  name: cdt
  environments: [{kind: linear, arms: 5, dim: 3, horizon: 60}]
  bandits: [linucb]
  tuners: [cdt, theoretical]
  seeds: 2
  chunks: 6
budget: {concurrency: 2}
""",
    "deep_ga": """name: m-deep_ga
method:
  name: deep_ga
  hidden: [4]
  population: 8
  truncation: 2
  elite_candidates: 1
  elite_episodes: 1
  generations: 2
  max_steps: 20
  final_episodes: 1
  seeds: 2
budget: {concurrency: 2}
""",
    "stn": """name: m-stn
method: {name: stn, data: digits, epochs: 2, warmup_epochs: 1, train_size: 100, val_size: 100,
         test_size: 100, batch_size: 25, rank: 8}
space: {dropout1: {uniform: [0.0, 0.9]}}
""",
    "lr_free": """name: m-lr_free
method:
  name: lr_free
  optimizers: [adamw]
  calibration_workloads: ["searchlab.methods.lr_free.synthetic:synthetic"]
  workloads: ["searchlab.methods.lr_free.synthetic:synthetic"]
  calibration_trials: 1
  repeats: 1
  sensitivity_workload: null
budget: {concurrency: 2}
""",
}


def _check(uri: str, experiment: str, metric: str, expect_trials: int | None = None) -> list:
    client, children, parents = child_runs(uri, experiment)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    ids = [c.data.tags["searchlab.trial_id"] for c in children]
    assert len(ids) == len(set(ids)) > 0
    if expect_trials is not None:
        assert len(ids) == expect_trials
    for c in children:
        state = c.data.tags["searchlab.status"]
        assert state in status.STATUSES and state != "interrupted"
        assert c.info.status == status.MLFLOW_STATUS[state]
        steps = sorted(m.step for m in client.get_metric_history(c.info.run_id, metric))
        assert steps == list(range(1, len(steps) + 1)) and steps, (state, steps)
    return children


def test_the_registries_are_covered():
    """The searcher test iterates the registry; schedulers and methods need a study each."""
    assert set(SCHEDULER_SETTINGS) == set(stopping.REGISTRY)
    assert set(METHOD_STUDIES) == set(methods.REGISTRY)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(searchers.REGISTRY))
def test_searcher_through_tune_into_mlflow(name, study_file, run_in_process, mlflow_uri):
    space = SPACE if name != "grid" else "space: {x1: {grid: [-1.0, 0.5]}, x2: {grid: [0.0, 1.0]}}"
    trials = "" if name == "grid" else "trials: 4, "
    result = run_in_process(study_file(SEARCHER_STUDY.format(name=name, space=space,
                                                             trials=trials)))
    assert len(result.rows) == 4 and all(r.status == "completed" for r in result.rows)
    _check(mlflow_uri, f"s-{name}", "loss", 4)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(stopping.REGISTRY))
def test_scheduler_through_tune_into_mlflow(name, study_file, run_in_process, mlflow_uri):
    result = run_in_process(study_file(SCHEDULER_STUDY.format(
        name=name, stopping=SCHEDULER_SETTINGS[name])))
    assert len(result.rows) == 6
    assert {r.status for r in result.rows} <= {"completed", "early_stopped"}
    _check(mlflow_uri, f"sch-{name}", "score", 6)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(methods.REGISTRY))
def test_method_through_tune_into_mlflow(name, study_file, run_in_process, mlflow_uri):
    result = run_in_process(study_file(METHOD_STUDIES[name]))
    assert result.rows and all(r.status == "completed" for r in result.rows)
    _check(mlflow_uri, f"m-{name}", result.metric, len(result.rows))
