"""What ``search.seed`` reproduces (see README): with concurrency 1, the same configs in the same
order and, for a deterministic workload, the same metrics; with more, the same configs for the
searchers that ignore results (random, grid, Optuna QMC). Checked through Ray, twice per study."""

from __future__ import annotations

import json
import random

import pytest

STUDY = """\
name: repro
workload: {function: "test_reproduce:noisy_sphere", path: "{TESTS}"}
metric: {name: loss, mode: min}
space:
  x1: {uniform: [-2.0, 2.0]}
  x2: {loguniform: [0.01, 1.0]}
  kind: {choice: [a, b]}
search: SEARCH
budget: {trials: 6, concurrency: CONC, max_epochs: 2}
"""


def noisy_sphere(config, ctx):
    """Deterministic given the config and ctx.seed: a sphere plus seeded noise, two epochs."""
    rng = random.Random(ctx.seed)
    base = float(config["x1"]) ** 2 + float(config["x2"]) ** 2
    for _ in range(ctx.max_epochs):
        yield {"loss": base + 0.01 * rng.random()}


def _asks_and_tells(study_dir) -> tuple[list[dict], dict[int, float]]:
    """The configs in the order the method asked for them, and each one's final loss."""
    asks, tells, order = [], {}, {}
    for line in (study_dir / "method-journal.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["kind"] == "ask":
            order[entry["trial_id"]] = len(asks)
            asks.append(entry["request"]["config"])
        elif entry["kind"] == "tell":
            result = entry["result"]
            tells[order[result["trial_id"]]] = result["metrics"]["loss"]
    return asks, tells


def _twice(study_file, run_in_process, search: str, concurrency: int):
    path = study_file(STUDY.replace("SEARCH", search).replace("CONC", str(concurrency)))
    runs = []
    for _ in range(2):
        result = run_in_process(path, tracking=False, restart=True)
        assert len(result.rows) == 6 and result.counts == {"completed": 6}
        runs.append(_asks_and_tells(result.study_dir))
    return runs


@pytest.mark.slow
def test_optuna_tpe_with_concurrency_1_reproduces_configs_and_metrics(study_file,
                                                                      run_in_process):
    (configs1, losses1), (configs2, losses2) = _twice(
        study_file, run_in_process, "{algorithm: optuna, sampler: tpe, seed: 7}", 1)
    assert configs1 == configs2
    assert losses1 == losses2
    assert len({c["x1"] for c in configs1}) == 6  # six different configs, not one repeated


@pytest.mark.slow
@pytest.mark.parametrize("search", ["{algorithm: random, seed: 7}",
                                    "{algorithm: optuna, sampler: qmc, seed: 7}"])
def test_searchers_that_ignore_results_reproduce_configs_with_concurrency_2(
        search, study_file, run_in_process):
    (configs1, _), (configs2, _) = _twice(study_file, run_in_process, search, 2)
    assert configs1 == configs2 and len({c["x1"] for c in configs1}) == 6
