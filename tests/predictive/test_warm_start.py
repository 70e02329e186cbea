"""Warm start from MLflow: finished trials of earlier studies of the same workload."""

from __future__ import annotations

from searchlab.predictive.curves import from_mlflow
from searchlab.predictive.factory import PredictiveSettings, build_rule


def log_trial(client, experiment_id, workload, config, curve):
    run = client.create_run(experiment_id, tags={"searchlab.role": "trial",
                                                 "searchlab.workload": workload})
    for k, v in config.items():
        client.log_param(run.info.run_id, k, v)
    for step, value in enumerate(curve, start=1):
        client.log_metric(run.info.run_id, "acc", value, step=step)
    client.set_terminated(run.info.run_id)


def test_curves_of_the_same_workload_are_read_back(tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("earlier")
    for i in range(4):
        log_trial(client, exp, "lcbench", {"lr": 0.1 * (i + 1), "opt": "sgd", "layers": i},
                  [0.1 * i + 0.01 * e for e in range(1, 6)])
    log_trial(client, exp, "lcbench", {"lr": 0.5}, [0.5, 0.6])  # unfinished: too short
    log_trial(client, exp, "digits_mlp", {"lr": 0.5}, [0.5] * 5)  # another workload
    configs, curves = from_mlflow(uri, "lcbench", "acc", max_t=5)
    assert len(configs) == 4 and all(len(c) == 5 for c in curves)
    assert {c["layers"] for c in configs} == {0, 1, 2, 3}  # params parsed back to numbers
    assert all(isinstance(c["lr"], float) and c["opt"] == "sgd" for c in configs)

    settings = PredictiveSettings(min_finished=4, warm_start={"mlflow": True})
    rule = build_rule(settings, metric="acc", mode="max", max_t=5, tracking_uri=uri,
                                workload="lcbench")
    assert rule.predictor.n == 4


def test_prior_from_earlier_studies_of_other_workloads(tmp_path):
    """`prior.mlflow_workloads`: finished trials of other workloads, one task per workload."""
    import numpy as np

    from .synthetic import tasks

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow_client(uri)
    exp = client.create_experiment("earlier")
    configs, curves, labels = tasks(2, 6, 5)
    for config, curve, label in zip(configs, curves, labels):
        log_trial(client, exp, f"workload_{label}", config, list(curve))
    log_trial(client, exp, "this_study", {"lr": 0.5}, [0.5] * 5)  # not asked for
    settings = PredictiveSettings(calibration="conformal", prior={
        "mlflow_workloads": ["workload_task0", "workload_task1"], "use_config": False})
    rule = build_rule(settings, metric="acc", mode="max", max_t=5, tracking_uri=uri)
    assert rule.prior.n == 12 and rule.prior.tasks == ["workload_task0", "workload_task1"]
    mean, residuals = rule.prior.distribution({"other": 1}, list(curves[0][:2]))
    assert np.isfinite(mean) and len(residuals) == 12


def mlflow_client(uri):
    import mlflow

    return mlflow.MlflowClient(uri)
