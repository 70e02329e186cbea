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
        assert {"best_score", "mean_score", "elite_score", "wall_time", "archive_size"} <= set(r.history[0])
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
    resumed = list(deep_ga_workload(config, Context(max_epochs=3, restored=ctx.take_checkpoint()[1])))
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
        DeepGASettings(env="Pong")


def test_replay_reports_a_missing_file(tmp_path, capsys) -> None:
    assert replay_main([str(tmp_path / "nope.json")]) == 2
    assert "no elite file" in capsys.readouterr().out


def test_a_space_searches_the_ga_settings() -> None:
    import searchlab.methods.search as search

    if not hasattr(search, "search_run"):
        pytest.skip("searchlab.methods.search.search_run arrives with the ask/tell adapter")
    text = textwrap.dedent(STUDY).replace("  seeds: 2\n", "").replace("generations: 3", "generations: 2")
    text += "space:\n  novelty_weight: {grid: [0.0, 1.0]}\n  sigma: {grid: [0.05, 0.1]}\nsearch: {algorithm: grid}\n"
    study = parse_text(text).study
    out = run_local(study)
    assert sorted((r.request.config["novelty_weight"], r.request.config["sigma"])
                  for r in out.results) == [(0.0, 0.05), (0.0, 0.1), (1.0, 0.05), (1.0, 0.1)]
    assert all(r.status == "completed" and len(r.history) == 2 for r in out.results)
    assert all(r.request.config["population"] == 16 for r in out.results)
    rows = out.analysis.tables["ga_runs"]
    assert {(row["novelty_weight"], row["sigma"]) for row in rows} == {
        (0.0, 0.05), (0.0, 0.1), (1.0, 0.05), (1.0, 0.1)}
