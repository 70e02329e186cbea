"""Several objectives: the study file's metric list, the searchers that take it, the Pareto front
(hand-worked), and one study through Ray and MLflow with the front tagged and drawn."""

from __future__ import annotations

import pytest

from searchlab.methods.base import TrialRequest, TrialResult
from searchlab.methods.local import run_local
from searchlab.pareto import dominates, pareto_front, pareto_trials
from searchlab.spec.loader import SpecError
from searchlab.spec.parse import parse_text

TWO = """\
name: moo
workload: "test_objectives:two_losses"
metric:
  - {name: loss, mode: min}
  - {name: size, mode: max}
space:
  x1: {uniform: [0.0, 1.0]}
search: {algorithm: optuna, sampler: nsga2, seed: 1}
budget: {trials: 12}
"""


def two_losses(config, ctx):
    """Two objectives in conflict: loss = x, size = x^2 (min loss, max size)."""
    x = float(config["x1"])
    yield {"loss": x, "size": x * x}


# ----------------------------------------------------------------- the Pareto front, by hand
def test_dominance_respects_modes():
    assert dominates([1, 5], [2, 5], ["min", "min"])
    assert not dominates([1, 5], [1, 5], ["min", "min"])  # equal: neither dominates
    assert dominates([1, 6], [1, 5], ["min", "max"])
    assert not dominates([1, 4], [2, 5], ["min", "max"])


def test_pareto_front_of_hand_worked_points():
    # min a, min b: (1,4) (2,2) (4,1) trade off; (3,3) is dominated by (2,2); (2,2) twice stays
    points = {"p": [1, 4], "q": [2, 2], "r": [3, 3], "s": [4, 1], "t": [2, 2], "u": [5, 5]}
    assert pareto_front(points, ["min", "min"]) == ["p", "q", "s", "t"]
    # max b instead: u (5,5) has the highest b, p (1,4) the lowest a; r (3,3) is dominated by p
    assert pareto_front(points, ["min", "max"]) == ["p", "u"]
    # a non-finite point is neither on the front nor dominating
    assert pareto_front({"a": [float("nan"), 0], "b": [1, 1]}, ["min", "min"]) == ["b"]


def test_pareto_trials_take_completed_trials_only():
    req = TrialRequest(config={}, length=1)
    results = [TrialResult("a", req, "completed", {"loss": 1, "size": 1}),
               TrialResult("b", req, "early_stopped", {"loss": 0, "size": 0}),
               TrialResult("c", req, "completed", {"loss": 2, "size": 2}),
               TrialResult("d", req, "failed", {})]
    assert pareto_trials(results, [("loss", "min"), ("size", "min")]) == ["a"]


# ----------------------------------------------------------------- the study file
def test_a_single_mapping_keeps_working_and_a_list_leads_with_its_first():
    one = parse_text(TWO.replace("metric:\n  - {name: loss, mode: min}\n  - {name: size, "
                                 "mode: max}", "metric: {name: loss, mode: min}")).study
    assert one.metric.name == "loss" and len(one.objectives) == 1
    two = parse_text(TWO).study
    assert (two.metric.name, two.metric.mode) == ("loss", "min")
    obj = two.method.objective(two)
    assert obj.all == (("loss", "min"), ("size", "max"))


@pytest.mark.parametrize("search, key", [
    ("{algorithm: optuna, sampler: cmaes}", "search.sampler"),
    ("{algorithm: nevergrad}", "search.algorithm"),
])
def test_searchers_of_one_objective_refuse_a_list(search, key):
    with pytest.raises(SpecError) as e:
        parse_text(TWO.replace("{algorithm: optuna, sampler: nsga2, seed: 1}", search))
    assert e.value.path == key and "one metric" in str(e.value)
    assert e.value.line == 8


@pytest.mark.parametrize("text, line, needle", [
    (TWO.replace("mode: max}", "mode: maxi}"), 5, "'min' or 'max'"),
    (TWO.replace("{name: size, mode: max}", "{name: loss, mode: max}"), 5, "listed twice"),
    (TWO.replace("metric:\n  - {name: loss, mode: min}\n  - {name: size, mode: max}",
                 "metric: []"), 3, "a list of them"),
])
def test_bad_metric_lists_name_the_line(text, line, needle):
    with pytest.raises(SpecError) as e:
        parse_text(text)
    assert e.value.line == line and needle in str(e.value)


@pytest.mark.parametrize("algorithm", ["{algorithm: random}", "{algorithm: optuna, sampler: tpe}",
                                       "{algorithm: optuna, sampler: qmc}"])
def test_multi_objective_search_in_process(algorithm):
    study = parse_text(TWO.replace("{algorithm: optuna, sampler: nsga2, seed: 1}", algorithm)
                       ).study
    out = run_local(study, study_workload=two_losses)
    assert len(out.results) == 12
    # loss = x, size = x^2 are monotone in x together: min loss vs max size conflict fully,
    # so every completed trial is on the front
    front = out.analysis.tables["pareto"]
    assert {r["trial_id"] for r in front} == {r.trial_id for r in out.results}
    fig = out.analysis.figures["pareto"]
    assert fig["layout"]["xaxis"]["title"]["text"] == "loss (min)"
    assert len(fig["data"][1]["x"]) == 12


def test_nsga2_gets_both_objectives():
    study = parse_text(TWO).study
    run = study.method.start(study)
    ray_searcher = run.suggester.searcher
    assert ray_searcher.metric == ["loss", "size"] and ray_searcher.mode == ["min", "max"]
    assert ray_searcher._ot_study.directions[1].name == "MAXIMIZE"


# ----------------------------------------------------------------- through Ray and MLflow
@pytest.mark.slow
def test_pareto_front_is_tagged_printed_and_drawn(study_file, run_in_process, mlflow_uri, capsys):
    from mlflow.tracking import MlflowClient

    from searchlab import cli

    text = TWO.replace('"test_objectives:two_losses"',
                       '{function: "test_objectives:two_losses_and_sum", path: "{TESTS}"}')
    text = text.replace("budget: {trials: 12}", "budget: {trials: 6, concurrency: 2}")
    text = text.replace("  x1: {uniform: [0.0, 1.0]}\n",
                        "  x1: {uniform: [0.0, 1.0]}\n  x2: {uniform: [0.0, 1.0]}\n")
    path = study_file(text)
    result = run_in_process(path)
    assert len(result.rows) == 6 and result.pareto
    assert result.objectives == (("loss", "min"), ("size", "max"))
    client = MlflowClient(mlflow_uri)
    children = client.search_runs([result.experiment_id],
                                  filter_string="tags.mlflow.parentRunId = "
                                                f"'{result.parent_run_id}'")
    tagged = {r.data.tags["searchlab.trial_id"] for r in children
              if r.data.tags.get("searchlab.pareto") == "true"}
    assert tagged == set(result.pareto)
    # check the front from the stored metrics
    points = {r.data.tags["searchlab.trial_id"]: [r.data.metrics["loss"], r.data.metrics["size"]]
              for r in children}
    assert set(pareto_front(points, ["min", "max"])) == tagged
    stored = client.download_artifacts(result.parent_run_id, "analysis/pareto.plotly.json")
    import json

    from dashboards.analysis import stored_figure

    fig = stored_figure("moo", "pareto", json.load(open(stored)))
    assert fig.data[1].name == "Pareto front" and len(fig.data[1].x) == len(tagged)
    from searchlab.spec.parse import load_study

    cli._print_summary(result, load_study(path).study, type("A", (), {"storage": None})())
    assert f"Pareto front: {len(tagged)} trials (loss min, size max)" in capsys.readouterr().out


def two_losses_and_sum(config, ctx):
    """loss = x1 + x2, size = x1 * x2: a front that is not every trial."""
    x1, x2 = float(config["x1"]), float(config["x2"])
    yield {"loss": x1 + x2, "size": x1 * x2}


@pytest.mark.slow
def test_every_objective_must_be_reported(study_file, run_in_process):
    from searchlab.errors import SearchlabError

    text = TWO.replace('"test_objectives:two_losses"',
                       '{function: "test_objectives:only_loss", path: "{TESTS}"}')
    text = text.replace("budget: {trials: 12}", "budget: {trials: 20}")
    with pytest.raises(SearchlabError, match="never 'size'"):
        run_in_process(study_file(text))


def only_loss(config, ctx):
    yield {"loss": float(config["x1"]), "sizes": 1.0}
