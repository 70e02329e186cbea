"""One flattener: a predictive study warm-started from an earlier study of the same workload on
a conditional space, run with another searcher, sees the same parameter names the earlier study
logged (``optimizer``, ``optimizer.sgd.momentum``; never ``optimizer.__option__``)."""

from __future__ import annotations

import pytest
from searchlab_testing import child_runs

pytestmark = pytest.mark.slow

SPACE = """space:
  x1: {uniform: [0, 1]}
  optimizer:
    choice:
      sgd: {momentum: {uniform: [0.0, 0.9]}}
      adam: {beta2: {uniform: [0.9, 0.999]}}
"""


def test_warm_start_across_searchers_uses_the_same_names(study_file, run_in_process, mlflow_uri):
    from searchlab.predictive.curves import from_mlflow

    workload = 'workload: {function: "test_workloads_lib:conditional_curve", path: "{TESTS}"}'
    run_in_process(study_file(f"""name: earlier
{workload}
metric: {{name: loss, mode: min}}
{SPACE}
search: {{algorithm: random, seed: 1}}
budget: {{trials: 8, concurrency: 2, max_epochs: 4}}
""", "earlier.yaml"))
    configs, curves = from_mlflow(mlflow_uri, "test_workloads_lib:conditional_curve", "loss", 4)
    assert len(configs) == 8
    names = set().union(*configs)
    assert names <= {"x1", "optimizer", "optimizer.sgd.momentum", "optimizer.adam.beta2"}
    assert not [n for n in names if "__option__" in n]
    for c in configs:
        assert ("optimizer.sgd.momentum" in c) == (c["optimizer"] == "sgd")

    result = run_in_process(study_file(f"""name: later
{workload}
metric: {{name: loss, mode: min}}
{SPACE}
search: {{algorithm: optuna, seed: 2}}
stopping: {{scheduler: predictive, min_finished: 4, min_epoch: 1, warm_start: {{mlflow: true}}}}
budget: {{trials: 6, concurrency: 2, max_epochs: 4}}
""", "later.yaml"))
    assert len(result.rows) == 6
    client, children, _ = child_runs(mlflow_uri, "later")
    # with 8 warm curves the predictor judges the very first trials
    predicted = [c for c in children if client.get_metric_history(c.info.run_id, "predicted_final")]
    assert predicted
    for c in children:
        assert set(c.data.params) <= names | {"x1", "optimizer"}
