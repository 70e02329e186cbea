"""Studies through a real local Ray cluster and a real MLflow SQLite store."""

from __future__ import annotations

import math

import pytest
from searchlab_testing import child_runs

pytestmark = pytest.mark.slow

COND = """\
name: {name}
workload: {{function: "test_workloads_lib:conditional", path: "{{TESTS}}"}}
metric: {{name: loss, mode: min}}
space:
  x1: {{uniform: [0.0, 1.0]}}
  optimizer:
    choice:
      sgd: {{momentum: {{uniform: [0.0, 0.99]}}}}
      adam: {{beta2: {{uniform: [0.9, 0.999]}}}}
search: {{algorithm: {algo}{sampler}, seed: 1}}
budget: {{trials: 8, concurrency: 2}}
tracking: {{enabled: false}}
"""

SEARCHERS = [("random", None), ("optuna", "tpe"), ("optuna", "cmaes"), ("optuna", "gp"),
             ("optuna", "nsga2"), ("optuna", "qmc"), ("nevergrad", "ngopt"), ("nevergrad", "cma"),
             ("nevergrad", "oneplusone"), ("nevergrad", "de"), ("nevergrad", "pso")]


@pytest.mark.parametrize("algo, sampler", SEARCHERS)
def test_each_searcher_on_the_conditional_space(algo, sampler, study_file, run_in_process):
    name = f"cond-{algo}-{sampler}"
    text = COND.format(name=name, algo=algo, sampler=f", sampler: {sampler}" if sampler else "")
    result = run_in_process(study_file(text))
    assert len(result.rows) == 8
    assert all(r.status == "completed" for r in result.rows), [r.status for r in result.rows]
    for r in result.rows:  # the workload raised unless every config matched its branch
        assert r.config["optimizer"] in ("sgd", "adam")
        assert 0.0 <= r.config["x1"] <= 1.0
    assert result.best is not None and result.best.value < 0.5


def test_grid_enumerates_conditional_branches(study_file, run_in_process):
    result = run_in_process(study_file("""
        name: grid
        workload: {function: "test_workloads_lib:conditional", path: "{TESTS}"}
        metric: {name: loss, mode: min}
        space:
          x1: {grid: [0.1, 0.3]}
          optimizer:
            choice:
              sgd: {momentum: {grid: [0.0, 0.5]}}
              adam: {beta2: 0.99}
        search: {algorithm: grid}
        budget: {concurrency: 2}
        tracking: {enabled: false}
    """))
    seen = sorted((r.config["x1"], r.config["optimizer"], r.config.get("optimizer.sgd.momentum"))
                  for r in result.rows)
    assert seen == [(0.1, "adam", None), (0.1, "sgd", 0.0), (0.1, "sgd", 0.5),
                    (0.3, "adam", None), (0.3, "sgd", 0.0), (0.3, "sgd", 0.5)]


CURVE = """\
name: {name}
workload: {{function: "test_workloads_lib:curve", path: "{{TESTS}}"}}
metric: {{name: score, mode: max}}
space:
  q: {{uniform: [0.0, 1.0]}}
search: {{algorithm: random, seed: 3}}
stopping: {stopping}
budget: {{trials: 12, concurrency: 4, max_epochs: 9}}
tracking: {{enabled: false}}
"""


@pytest.mark.parametrize("stopping, stops_some", [
    ("{scheduler: fifo}", False),
    ("{scheduler: asha, grace_period: 1, reduction_factor: 3}", True),
    ("{scheduler: hyperband, reduction_factor: 3}", True),
    ("{scheduler: median, grace_period: 2, min_samples_required: 2}", True),
    ("{scheduler: pbt, perturbation_interval: 3}", False),
])
def test_schedulers(stopping, stops_some, study_file, run_in_process):
    name = "sched-" + stopping.split(",")[0].split(":")[1].strip(" }")
    result = run_in_process(study_file(CURVE.format(name=name, stopping=stopping)))
    assert len(result.rows) == 12
    assert not result.counts.get("failed"), result.counts
    early = result.counts.get("early_stopped", 0)
    if stops_some:
        assert early > 0, result.counts
        # the best trial (highest q) must not have been stopped before the end
        best_q = max(r.config["q"] for r in result.rows)
        assert any(r.config["q"] == best_q and r.epochs == 9 for r in result.rows)
    else:
        assert early == 0 and all(r.epochs == 9 for r in result.rows)


def test_tracking_layout(study_file, run_in_process, mlflow_uri):
    result = run_in_process(study_file("""
        name: layout
        workload: {function: "test_workloads_lib:curve", path: "{TESTS}"}
        metric: {name: score, mode: max}
        space:
          q: {uniform: [0.0, 1.0]}
          optimizer:
            choice:
              sgd: {momentum: {uniform: [0.0, 0.99]}}
              adam: {}
        search: {algorithm: optuna, seed: 0}
        stopping: {scheduler: asha, grace_period: 2}
        budget: {trials: 6, concurrency: 2, max_epochs: 6}
    """))
    client, children, parents = child_runs(mlflow_uri, "layout")
    assert len(parents) == 1 and len(children) == 6
    parent = parents[0]
    tags = parent.data.tags
    assert tags["searchlab.searcher"] == "optuna-tpe" and tags["searchlab.scheduler"] == "asha"
    assert len(tags["searchlab.spec_hash"]) == 16 and tags["searchlab.version"]
    assert parent.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["study.yaml"]
    best = result.best
    assert tags["searchlab.best_trial_id"] == best.trial_id
    assert math.isclose(parent.data.metrics["best_score"], best.value)
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["searchlab.status"] in ("completed", "early_stopped")
        params = run.data.params
        assert params["optimizer"] in ("sgd", "adam")
        assert ("optimizer.sgd.momentum" in params) == (params["optimizer"] == "sgd")
        hist = client.get_metric_history(run.info.run_id, "score")
        steps = [m.step for m in hist]
        assert steps == list(range(1, len(steps) + 1))  # every report, with its epoch as step
        expected = 6 if run.data.tags["searchlab.status"] == "completed" else len(steps)
        assert len(steps) == expected
        assert "time_total_s" in run.data.metrics


def test_nan_and_raising_trials_are_marked_and_the_study_goes_on(study_file, run_in_process,
                                                                 mlflow_uri):
    result = run_in_process(study_file("""
        name: faults
        workload: {function: "test_workloads_lib:diverges", path: "{TESTS}"}
        metric: {name: loss, mode: min}
        space: {x1: {grid: [0.2, 0.9]}}
        search: {algorithm: grid}
        budget: {max_epochs: 4}
    """))
    status = {r.config["x1"]: r.status for r in result.rows}
    assert status == {0.2: "completed", 0.9: "diverged"}
    assert result.best.config["x1"] == 0.2
    # a searcher that learns from every epoch (Optuna) is not told the diverged ones
    result = run_in_process(study_file("""
        name: faults-optuna
        workload: {function: "test_workloads_lib:diverges", path: "{TESTS}"}
        metric: {name: loss, mode: min}
        space: {x1: {uniform: [0.0, 1.0]}}
        search: {algorithm: optuna, seed: 3, points: [{x1: 0.9}]}
        budget: {max_epochs: 4, trials: 3}
    """, "optuna.yaml"))
    assert len(result.rows) == 3 and "diverged" in {r.status for r in result.rows}
    result = run_in_process(study_file("""
        name: raises
        workload: {function: "test_workloads_lib:raises", path: "{TESTS}"}
        metric: {name: loss, mode: min}
        space: {x1: {grid: [0.2, 0.9]}}
        search: {algorithm: grid}
    """, "raises.yaml"))
    assert {r.config["x1"]: r.status for r in result.rows} == {0.2: "completed", 0.9: "failed"}
    client, children, _ = child_runs(mlflow_uri, "faults")
    div = [r for r in children if r.data.params["x1"] == "0.9"][0]
    assert div.data.tags["searchlab.status"] == "diverged"
    assert "loss" in div.data.metrics and math.isfinite(div.data.metrics["loss"])
    client, children, _ = child_runs(mlflow_uri, "raises")
    failed = [r for r in children if r.data.params["x1"] == "0.9"][0]
    assert failed.info.status == "FAILED" and failed.data.tags["searchlab.status"] == "failed"
    assert "boom" in failed.data.tags["searchlab.error"]
    text = client.download_artifacts(failed.info.run_id, "trial/error.txt")
    assert "boom: this trial failed on purpose" in open(text).read()


def test_failed_trial_is_retried_from_its_checkpoint(study_file, run_in_process, mlflow_uri,
                                                     tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    result = run_in_process(study_file(f"""
        name: retry
        workload: {{function: "test_workloads_lib:flaky", path: "{{TESTS}}", args: {{marker_dir: "{marks}"}}}}
        metric: {{name: loss, mode: min}}
        space: {{x1: {{grid: [0.25]}}}}
        search: {{algorithm: grid}}
        budget: {{max_epochs: 5, retries: 2}}
    """))  # noqa: E501 (the study file's workload line)
    assert [r.status for r in result.rows] == ["completed"]
    starts = sorted(p.name.split("-")[2] for p in marks.glob("start-*"))
    assert starts == ["1", "3"]  # the retry resumed after epoch 2's checkpoint
    client, children, _ = child_runs(mlflow_uri, "retry")
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    assert children[0].data.tags["searchlab.retries"] == "1"
    steps = [m.step for m in client.get_metric_history(children[0].info.run_id, "loss")]
    assert steps == [1, 2, 3, 4, 5]


def test_fractional_gpus_share_one_logical_gpu(study_file, run_in_process, tmp_path):
    marks = tmp_path / "gpu"
    marks.mkdir()
    run_in_process(study_file(f"""
        name: gpu
        workload: {{function: "test_workloads_lib:gpu_share", path: "{{TESTS}}", args: {{marker_dir: "{marks}"}}}}
        metric: {{name: loss, mode: min}}
        space: {{x1: {{uniform: [0, 1]}}}}
        budget: {{trials: 4, concurrency: 4}}
        resources: {{cpu: 0.5, gpu: 0.25}}
        tracking: {{enabled: false}}
    """))  # noqa: E501 (the study file's workload line)
    rows = [p.read_text().split() for p in marks.glob("seen-*")]
    assert len(rows) == 4
    assert [r[0] for r in rows] == ["4"] * 4, \
        "the 4 trials at 0.25 GPU did not run together on 1 GPU"
    assert {r[1] for r in rows} == {"cpu"}  # honest: no CUDA here, so the workload gets the CPU
    assert {r[2] for r in rows} == {"0"}  # but Ray did assign them the (logical) GPU 0
