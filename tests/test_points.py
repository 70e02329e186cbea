"""Known configurations first (``search.points``): checked against the space at parse time, run
before the searcher's own configs, counted in ``budget.trials``; Optuna learns from them."""

from __future__ import annotations

import pytest

from searchlab.methods.local import run_local
from searchlab.spec.loader import SpecError
from searchlab.spec.parse import parse_text

BASE = """\
name: pts
workload: sphere
metric: {name: loss, mode: min}
space:
  x1: {uniform: [-2.0, 2.0]}
  x2: {int: [-5, 5]}
  optimizer:
    choice:
      sgd: {momentum: {uniform: [0.0, 0.99]}, nesterov: true}
      adam: {beta1: {uniform: [0.8, 0.999]}}
search:
  algorithm: ALGO
  seed: 2
  points:
    - {x1: 0.5, x2: 1, optimizer: sgd, optimizer.sgd.momentum: 0.9}
    - {x1: -1.0, x2: 0, optimizer: adam, optimizer.adam.beta1: 0.9}
budget: {trials: 5}
"""
FIRST = {"x1": 0.5, "x2": 1, "optimizer": "sgd", "optimizer.sgd.momentum": 0.9,
         "optimizer.sgd.nesterov": True}
SECOND = {"x1": -1.0, "x2": 0, "optimizer": "adam", "optimizer.adam.beta1": 0.9}


def _study(algorithm: str, text: str = BASE):
    return parse_text(text.replace("ALGO", algorithm)).study


@pytest.mark.parametrize("algorithm", ["random", "optuna", "nevergrad"])
def test_points_run_first_and_count_toward_the_budget(algorithm):
    study = _study(algorithm)
    out = run_local(study)
    configs = [r.request.config for r in out.results]
    assert len(configs) == 5
    assert configs[0] == FIRST and configs[1] == SECOND
    assert all(r.status == "completed" for r in out.results)
    assert configs[2] not in (FIRST, SECOND)


def test_grid_runs_the_points_then_every_grid_point():
    text = BASE.replace("  x1: {uniform: [-2.0, 2.0]}\n", "  x1: {grid: [0.5, -1.0]}\n")
    text = text.replace("x2: {int: [-5, 5]}", "x2: {int: [0, 1]}").replace(
        "budget: {trials: 5}\n", "")
    text = text.replace("{uniform: [0.0, 0.99]}", "{choice: [0.0, 0.9]}").replace(
        "{uniform: [0.8, 0.999]}", "{choice: [0.9]}")
    study = _study("grid", text)
    out = run_local(study)
    configs = [r.request.config for r in out.results]
    assert configs[:2] == [FIRST, SECOND]
    assert len(configs) == 2 + 2 * 2 * 3  # the points, then x1 x x2 x (2 sgd + 1 adam)


def test_optuna_learns_from_the_points():
    study = _study("optuna")
    run = study.method.start(study)
    first = run.ask("a")
    assert first.config == FIRST
    ot_study = run.suggester.searcher._ot_study
    assert ot_study.trials[0].params["optimizer.sgd.momentum"] == 0.9  # an Optuna trial


@pytest.mark.parametrize("point, line, key, needle", [
    ("{x1: 0.5, x2: 1, optimizer: sgd, optimizer.sgd.momentun: 0.9}", 15,
     "search.points[0].optimizer.sgd.momentun", "did you mean 'optimizer.sgd.momentum'"),
    ("{x1: 0.5, x2: 1, optimizer: sgd}", 15, "search.points[0]",
     "missing parameter 'optimizer.sgd.momentum'"),
    ("{x1: 3.5, x2: 1, optimizer: sgd, optimizer.sgd.momentum: 0.9}", 15,
     "search.points[0].x1", "must be in [-2.0, 2.0]"),
    ("{x1: 0.5, x2: 1.5, optimizer: sgd, optimizer.sgd.momentum: 0.9}", 15,
     "search.points[0].x2", "must be an integer"),
    ("{x1: 0.5, x2: 1, optimizer: rmsprop, optimizer.sgd.momentum: 0.9}", 15,
     "search.points[0].optimizer", "one of sgd, adam"),
    ("{x1: 0.5, x2: 1, optimizer: adam, optimizer.adam.beta1: 0.9, optimizer.sgd.momentum: 0.9}",
     15, "search.points[0].optimizer.sgd.momentum", "not used with the options"),
])
def test_bad_points_name_the_file_line_and_key(point, line, key, needle):
    text = BASE.replace("{x1: 0.5, x2: 1, optimizer: sgd, optimizer.sgd.momentum: 0.9}", point)
    with pytest.raises(SpecError) as e:
        parse_text(text.replace("ALGO", "random"), "study.yaml")
    assert e.value.line == line and e.value.path == key and needle in str(e.value)
    assert str(e.value).startswith("study.yaml:15:")


@pytest.mark.slow
def test_points_first_through_ray(study_file, run_in_process, mlflow_uri):
    from mlflow.tracking import MlflowClient

    text = BASE.replace("ALGO", "optuna").replace("budget: {trials: 5}",
                                                  "budget: {trials: 3}")
    result = run_in_process(study_file(text))
    assert len(result.rows) == 3
    runs = MlflowClient(mlflow_uri).search_runs(
        [result.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'",
        order_by=["attributes.start_time ASC"])
    params = [r.data.params for r in runs]
    assert {(p["x1"], p["optimizer"]) for p in params} >= {("0.5", "sgd"), ("-1.0", "adam")}
    rows = {r.config.get("x1"): r for r in result.rows}
    assert rows[0.5].value == pytest.approx(0.5 ** 2 + 1)
