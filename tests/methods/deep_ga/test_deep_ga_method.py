"""The method end to end without Ray: study file -> run_local -> analysis; elite file -> replay."""

from __future__ import annotations

import json
import textwrap

import pytest
from deep_ga_helpers import SlicedPool

from searchlab.methods.deep_ga.replay import main as replay_main
from searchlab.methods.deep_ga.workload import ARTIFACTS, ELITE_FILE, deep_ga_workload
from searchlab.methods.local import run_local
from searchlab.spec.parse import parse_text
from searchlab.workloads.api import Context

STUDY = """
name: ga-local
method:
  name: deep_ga
  env: CartPole-v1
  hidden: [4]
  population: 16
  truncation: 4
  elite_candidates: 2
  elite_episodes: 2
  generations: 3
  max_steps: 50
  final_episodes: 3
  seeds: 2
  first_seed: 5
"""


def test_method_runs_one_trial_per_seed_through_run_local() -> None:
    study = parse_text(textwrap.dedent(STUDY)).study
    assert study.method.objective(study).metric == "elite_score"
    out = run_local(study)
    assert [r.request.config["seed"] for r in out.results] == [5, 6]
    for r in out.results:
        assert r.status == "completed", r.error
        assert len(r.history) == 3
        frames = [h["frames"] for h in r.history]
        assert frames == sorted(frames) and frames[0] > 0
        assert ({"best_score", "mean_score", "elite_score", "wall_time", "archive_size"}
                <= set(r.history[0]))
        assert "final_score" in r.history[-1] and "final_score" not in r.history[0]
        assert 0 < r.metrics["elite_score"] <= 50
    a = out.analysis
    assert len(a.tables["ga_runs"]) == 2 and a.metrics["best_elite_score"] > 0
    assert len(a.figures["learning_curves"]["data"]) == 2


def test_workload_writes_a_replayable_elite(tmp_path, capsys) -> None:
    config = {"env": "CartPole-v1", "hidden": [4], "population": 12, "truncation": 3,
              "elite_candidates": 2, "elite_episodes": 2, "generations": 2, "final_episodes": 5,
              "seed": 1}
    ctx = Context(max_epochs=2, trial_dir=str(tmp_path), pool=SlicedPool(2))
    reports = list(deep_ga_workload(config, ctx))
    assert len(reports) == 2
    record = json.loads((tmp_path / ARTIFACTS / ELITE_FILE).read_text())
    assert 1 <= len(record["genome"]) <= 2 and record["generation"] == 2
    assert ctx.take_checkpoint()[1]["generation"] == 2
    assert replay_main([str(tmp_path), "--episodes", "2", "--frames", "4"]) == 0
    assert (tmp_path / ARTIFACTS / "elite_strip.png").stat().st_size > 1000
    assert "mean return" in capsys.readouterr().out


def test_restored_workload_continues_from_its_checkpoint(tmp_path) -> None:
    config = {"env": "CartPole-v1", "population": 8, "truncation": 2, "elite_candidates": 1,
              "elite_episodes": 1, "generations": 3, "final_episodes": 0, "seed": 2}
    full = list(deep_ga_workload(config, Context(max_epochs=3)))
    ctx = Context(max_epochs=3)
    first = next(deep_ga_workload(config, ctx))
    resumed = list(deep_ga_workload(config, Context(max_epochs=3,
                                                    restored=ctx.take_checkpoint()[1])))
    strip = [(m["generation"], m["elite_score"], m["frames"]) for m in [first, *resumed]]
    assert strip == [(m["generation"], m["elite_score"], m["frames"]) for m in full]


@pytest.mark.parametrize("extra, message, line", [
    ("workload: sphere", "does not use 'workload'", 15),
    ("metric: {name: accuracy, mode: max}", "does not use 'metric'", 15),
    ("space: {seeds: {choice: [1, 2]}}\nbudget: {trials: 2}", "deep_ga can search", 15),
    ("space: {sigma: {loguniform: [0.01, 0.1]}}", "missing budget.trials", None),
    ("search: {algorithm: random}", "does not use 'search' \\(without a space", 15),
    ("budget: {trials: 3}", "lists its own trials", 15),
])
def test_the_parser_refuses_what_it_cannot_honour(extra: str, message: str, line: int) -> None:
    from searchlab.errors import SpecError

    text = textwrap.dedent(STUDY).replace("  seeds: 2\n", "") + extra + "\n"
    with pytest.raises(SpecError, match=message) as e:
        parse_text(text, "ga.yaml")
    assert e.value.file == "ga.yaml" and e.value.line == line


def test_bad_settings_are_one_line_errors() -> None:
    from searchlab.methods.deep_ga.settings import DeepGASettings

    with pytest.raises(ValueError, match="truncation"):
        DeepGASettings(population=4, truncation=5)
    with pytest.raises(ValueError, match="unknown environment"):
        DeepGASettings(env="minatar:pong")
    with pytest.raises(ValueError, match="neither a built-in"):
        DeepGASettings(env="Pong v5")
    # a plausible Gymnasium id is checked when the study starts (tests/.../test_deep_ga_gym.py)
    assert DeepGASettings(env="Pong").env == "Pong"


def test_replay_reports_a_missing_file(tmp_path, capsys) -> None:
    assert replay_main([str(tmp_path / "nope.json")]) == 2
    assert "no elite file" in capsys.readouterr().out


def test_a_space_searches_the_ga_settings() -> None:
    import searchlab.methods.search as search

    if not hasattr(search, "search_run"):
        pytest.skip("searchlab.methods.search.search_run arrives with the ask/tell adapter")
    text = (textwrap.dedent(STUDY).replace("  seeds: 2\n", "")
            .replace("generations: 3", "generations: 2"))
    text += ("space:\n  novelty_weight: {grid: [0.0, 1.0]}\n  sigma: {grid: [0.05, 0.1]}\n"
             "search: {algorithm: grid}\n")
    study = parse_text(text).study
    out = run_local(study)
    assert sorted((r.request.config["novelty_weight"], r.request.config["sigma"])
                  for r in out.results) == [(0.0, 0.05), (0.0, 0.1), (1.0, 0.05), (1.0, 0.1)]
    assert all(r.status == "completed" and len(r.history) == 2 for r in out.results)
    assert all(r.request.config["population"] == 16 for r in out.results)
    rows = out.analysis.tables["ga_runs"]
    assert {(row["novelty_weight"], row["sigma"]) for row in rows} == {
        (0.0, 0.05), (0.0, 0.1), (1.0, 0.05), (1.0, 0.1)}


def _result(trial: str, config: dict, history: list[dict], status: str = "completed"):
    from searchlab.methods.base import TrialRequest, TrialResult

    return TrialResult(trial, TrialRequest(config=config, length=len(history)), status,
                       history[-1] if history else {}, history)


def test_the_summary_reads_per_run_and_tells_ga_from_ga_ns() -> None:
    from searchlab.methods.deep_ga.analysis import summarize

    base = {"env": "maze:hard", "population": 8, "sigma": 0.1}
    results = [
        _result("aaaa0001", {**base, "novelty_weight": 0.0, "seed": 0},
                [{"epoch": 1, "frames": 100, "elite_score": -0.5, "solved": 0.0},
                 {"epoch": 2, "frames": 200, "elite_score": -0.4, "solved": 0.0,
                  "final_score": -0.41}]),
        _result("aaaa0002", {**base, "novelty_weight": 1.0, "seed": 0},
                [{"epoch": 1, "frames": 120, "elite_score": -0.2, "solved": 1.0,
                  "final_score": -0.1}]),  # stopped after one generation: one point
        _result("aaaa0003", {**base, "novelty_weight": 1.0, "seed": 1},
                [{"epoch": 1, "frames": 90, "elite_score": -0.3, "solved": 1.0,
                  "final_score": -0.25}]),
    ]
    a = summarize(results, "maze-study")
    rows = {r["trial_id"]: r for r in a.tables["ga_runs"]}
    assert rows["aaaa0001"]["run"] == "GA" and rows["aaaa0002"]["run"] == "GA-NS"
    assert rows["aaaa0002"]["solved"] is True and rows["aaaa0001"]["solved"] is False
    assert rows["aaaa0001"]["generations"] == 2 and rows["aaaa0001"]["frames"] == 200
    assert rows["aaaa0001"]["final_score"] == -0.41 and rows["aaaa0001"]["sigma"] == 0.1
    assert a.metrics["solved_runs"] == 2.0
    # the result leads: a narrow table of the runs, the curves, one line
    assert a.lead_table == "runs" and a.lead_figures == ("learning_curves",)
    assert list(a.tables["runs"][0]) == ["run", "seed", "solved", "final_score", "elite_score",
                                         "generations", "frames", "wall_time", "trial_id"]
    assert [r["run"] for r in a.tables["runs"]] == ["GA", "GA-NS", "GA-NS"]
    assert a.headline == ("Deep GA on maze:hard: 3 runs, 2 solved; best GA-NS (seed 0), final "
                          "score -0.1; replay: searchlab replay maze-study --trial aaaa0002")
    text = a.text
    assert "Deep GA on maze:hard: 3 runs, 2 solved (reached the goal)" in text
    assert "best run: trial aaaa0002 (GA-NS, seed 0), final score -0.1\n" in text
    assert "replay it: searchlab replay maze-study --trial aaaa0002" in text
    assert "settings of every run: population 8, sigma 0.1" in text
    traces = a.figures["learning_curves"]["data"]
    assert [t["name"] for t in traces] == ["GA · seed 0", "GA-NS · seed 0", "GA-NS · seed 1"]
    assert all("markers" in t["mode"] for t in traces)  # a one-generation run is drawn
    assert traces[1]["line"]["color"] == traces[2]["line"]["color"] != traces[0]["line"]["color"]
    assert list(traces[1]["x"]) == [120]


def test_the_summary_names_the_settings_that_differ() -> None:
    from searchlab.methods.deep_ga.analysis import summarize

    results = [_result(f"t{i}", {"env": "CartPole-v1", "sigma": s, "novelty_weight": 0.5,
                                 "seed": 0},
                       [{"epoch": 1, "frames": 10, "elite_score": float(i)}])
               for i, s in enumerate((0.05, 0.1))]
    a = summarize(results)
    assert [r["run"] for r in a.tables["ga_runs"]] == ["GA+NS 0.5, sigma=0.05",
                                                     "GA+NS 0.5, sigma=0.1"]
    assert "replay it: searchlab replay <study folder>/t1" in a.text


def test_generations_run_are_not_the_generation_budget() -> None:
    from searchlab.methods.deep_ga.analysis import summarize

    a = summarize([_result("t0", {"env": "CartPole-v1", "generations": 20, "seed": 0},
                           [{"epoch": 1, "frames": 10, "elite_score": 500.0}])])
    row = a.tables["ga_runs"][0]
    assert row["generations"] == 1 and row["max_generations"] == 20
    assert "GA       0       -          -        500      1            10  t0" in a.text
