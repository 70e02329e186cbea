"""The stn method: space checks, run_local end to end, the analysis; and one slow CLI run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from searchlab.methods.local import run_local
from searchlab.spec.parse import parse_text

STUDY = """
name: stn-tiny
method:
  name: stn
  model: mlp
  data: digits
  variants: [stn, delta_stn]
  seeds: 1
  epochs: 3
  warmup_epochs: 1
  train_size: 100
  val_size: 100
  batch_size: 25
  train_steps: 1
  rank: 8
  init: {dropout1: 0.1}
space:
  dropout1: {uniform: [0.0, 0.9]}
  noise: {loguniform: [0.001, 1.0]}
"""


def _study(text: str = STUDY):
    return parse_text(text).study


def _check_error(text: str) -> None:
    from searchlab.errors import SpecError

    try:
        _study(text)
    except SpecError as e:
        raise ValueError(str(e).split(": ", 2)[-1]) from None


def test_check_names_the_parameter_it_cannot_tune() -> None:
    bad = STUDY.replace("noise: {loguniform: [0.001, 1.0]}", "lr: {loguniform: [0.001, 1.0]}")
    with pytest.raises(ValueError, match="'lr'.*dropout1") as e:
        _check_error(bad)
    assert "\n" not in str(e.value)
    choice = STUDY.replace("noise: {loguniform: [0.001, 1.0]}", "noise: {choice: [0.1, 0.2]}")
    with pytest.raises(ValueError, match="'noise': must be"):
        _check_error(choice)
    cnn = STUDY.replace("model: mlp", "model: cnn").replace(
        "noise: {loguniform: [0.001, 1.0]}", "cutout_holes: {uniform: [0, 3]}").replace(
        "dropout1", "dropout_fc")
    with pytest.raises(ValueError, match="cutout_holes.*int"):
        _check_error(cnn)
    init = STUDY.replace("init: {dropout1: 0.1}", "init: {dropout1: 0.95}")
    with pytest.raises(ValueError, match="outside"):
        _check_error(init)


def test_run_local_reports_schedules_and_summarizes() -> None:
    study = _study()
    assert study.method.objective(study).metric == "val_loss"
    out = run_local(study)
    assert [r.status for r in out.results] == ["completed", "completed"]
    assert [r.request.config["variant"] for r in out.results] == ["stn", "delta_stn"]
    for r in out.results:
        assert len(r.history) == 3
        assert {"train_loss", "val_loss", "val_accuracy", "dropout1", "noise",
                "sigma.dropout1", "test_loss"} <= set(r.history[-1])
        assert r.history[0]["dropout1"] == pytest.approx(0.1, rel=1e-3)  # warm-up: unchanged
        assert 0.0 <= r.history[-1]["dropout1"] <= 0.9
    a = out.analysis
    assert set(a.metrics) == {"stn.best_val_loss_mean", "delta_stn.best_val_loss_mean"}
    schedules = a.tables["stn_schedules"]
    assert len(schedules) == 2 * 3  # two runs x three epochs
    assert {"variant", "seed", "epoch", "val_loss", "dropout1", "noise"} == set(schedules[0])
    json.dumps(a.tables)
    rows = a.tables["stn_runs"]
    assert len(rows) == 2 and all("final.dropout1" in r for r in rows)
    assert "minus_plain" not in rows[0]  # no plain run in this study: nothing to compare with


@pytest.mark.slow
def test_cli_end_to_end(tmp_path: Path) -> None:
    """Through the CLI, Ray Tune and MLflow (SQLite): one MLflow run per (variant, seed), every
    tuned hyperparameter a metric with one value per epoch (the schedule)."""
    from searchlab.cli import main

    db = tmp_path / "mlflow.db"
    study = tmp_path / "stn.yaml"
    study.write_text(STUDY.replace("seeds: 1", "seeds: 1\n  threads: 1")
                     + f"tracking: {{uri: 'sqlite:///{db}'}}\n")
    assert main(["run", str(study), "--storage", str(tmp_path / "store")]) == 0
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    runs = mlflow.search_runs(experiment_names=["stn-tiny"], output_format="list")
    children = [r for r in runs if "dropout1" in r.data.metrics]
    assert len(children) == 2
    client = mlflow.MlflowClient()
    for child in children:
        for name, low, high in (("dropout1", 0.0, 0.9), ("noise", 0.001, 1.0)):
            hist = client.get_metric_history(child.info.run_id, name)
            assert sorted(m.step for m in hist) == [1, 2, 3]  # the schedule, epoch by epoch
            assert all(low <= m.value <= high for m in hist)
        assert len(client.get_metric_history(child.info.run_id, "val_loss")) == 3
    assert {c.data.tags.get("stn.variant") for c in children} == {"stn", "delta_stn"}


def test_the_torch_free_table_names_what_each_model_tunes() -> None:
    from searchlab.methods.stn.method import TUNABLE
    from searchlab.methods.stn.models import MODELS

    assert set(TUNABLE) == set(MODELS)
    for name, model in MODELS.items():
        assert TUNABLE[name] == (frozenset(model.HYPERS), model.DISCRETE), name


def test_a_workload_or_a_metric_is_refused_with_its_line() -> None:
    from searchlab.errors import SpecError

    with pytest.raises(SpecError, match="does not use 'workload'") as e:
        parse_text(STUDY + "workload: digits_mlp\n", "stn.yaml")
    assert e.value.line == STUDY.count("\n") + 1
    with pytest.raises(SpecError, match="does not use 'metric'"):
        parse_text(STUDY + "metric: {name: val_loss, mode: min}\n", "stn.yaml")


def test_algorithm_modules_import_without_ray() -> None:
    import subprocess
    import sys

    code = ("import sys; import searchlab.methods.stn.method, searchlab.methods.stn.train, "
            "searchlab.methods.stn.augment; print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fixed_workload_trains_the_plain_network_at_fixed_values() -> None:
    from searchlab.methods.stn.method import fixed_workload
    from searchlab.workloads.api import Context

    settings = {"model": "mlp", "data": "digits", "epochs": 2, "warmup_epochs": 1,
                "train_size": 100, "val_size": 100, "batch_size": 25}
    rows = list(fixed_workload({"dropout1": 0.5, "noise": 0.1}, Context(), settings, seed=3))
    assert len(rows) == 2
    assert {"val_loss", "best_val_loss", "test_loss", "seconds", "cpu_seconds"} <= set(rows[-1])
    assert rows[-1]["best_val_loss"] == min(r["val_loss"] for r in rows)
    again = list(fixed_workload({"dropout1": 0.5, "noise": 0.1}, Context(), settings, seed=3))
    assert again[-1]["val_loss"] == rows[-1]["val_loss"]  # the trial's seed: reruns agree
    with pytest.raises(ValueError, match="'lr'.*takes"):
        list(fixed_workload({"lr": 0.1}, Context(), settings))
