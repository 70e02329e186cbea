"""Every sampler of every registered searcher, on the same continuous and conditional spaces,
driven through plain search's ask/tell run in this process (the searchers are Ray Tune's own
classes; no cluster is needed to ask them). The Ray Tune path is in test_registered.py."""

from __future__ import annotations

import math

import pytest

from searchlab import searchers
from searchlab.methods.local import run_local
from searchlab.spec.parse import parse_text

CONTINUOUS = """
space:
  x1: {uniform: [-2.0, 2.0]}
  x2: {loguniform: [0.01, 1.0]}
"""
CONDITIONAL = """
space:
  x1: {uniform: [-2.0, 2.0]}
  kind:
    choice:
      small: {x2: {uniform: [-0.5, 0.5]}}
      wide: {x3: {int: [-5, 5]}}
"""
GRID = """
space:
  x1: {grid: [-1.0, 0.0, 1.0]}
  kind: {choice: [a, b]}
"""


def _samplers() -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for name in searchers.REGISTRY:
        samplers = searchers.REGISTRY.load(name).samplers()
        out += [(name, s) for s in samplers] if samplers else [(name, None)]
    return out


def _study(algorithm: str, sampler: str | None, space: str, trials: int = 8):
    search = (f"{{algorithm: {algorithm}" + (f", sampler: {sampler}" if sampler else "")
              + ", seed: 3}")
    budget = "" if algorithm == "grid" else f"budget: {{trials: {trials}}}"
    text = (f"name: c\nworkload: sphere\nmetric: {{name: loss, mode: min}}\nsearch: {search}\n"
            f"{budget}\n{space}")
    return parse_text(text).study


@pytest.mark.parametrize("algorithm, sampler", [s for s in _samplers() if s[0] != "grid"])
@pytest.mark.parametrize("space", [CONTINUOUS, CONDITIONAL], ids=["continuous", "conditional"])
def test_every_sampler_searches_continuous_and_conditional_spaces(algorithm, sampler, space):
    study = _study(algorithm, sampler, space)
    out = run_local(study)
    assert len(out.results) == 8
    assert all(r.status == "completed" for r in out.results), [r.error for r in out.results]
    for r in out.results:
        c = r.request.config
        assert -2.0 <= c["x1"] <= 2.0
        if "kind" in c:  # only the chosen option's parameters, under their flat names
            assert ("kind.small.x2" in c) == (c["kind"] == "small")
            assert ("kind.wide.x3" in c) == (c["kind"] == "wide")
        assert math.isfinite(r.metrics["loss"])


def test_grid_enumerates_every_point_and_refuses_continuous():
    study = _study("grid", None, GRID)
    out = run_local(study)
    points = sorted((r.request.config["x1"], r.request.config["kind"]) for r in out.results)
    assert points == sorted((x, k) for x in (-1.0, 0.0, 1.0) for k in ("a", "b"))
    from searchlab.errors import SearchlabError

    with pytest.raises(SearchlabError, match="continuous parameter 'x1'"):
        _study("grid", None, CONTINUOUS)


@pytest.mark.parametrize("algorithm, sampler", [("random", None), ("optuna", "qmc"),
                                                ("optuna", "random"), ("grid", None)])
def test_a_seed_reproduces_the_configs(algorithm, sampler):
    space = GRID if algorithm == "grid" else CONDITIONAL
    runs = [run_local(_study(algorithm, sampler, space))
            for _ in range(2)]
    assert [r.request.config for r in runs[0].results] == \
        [r.request.config for r in runs[1].results]


def test_optuna_learns_from_what_it_is_told():
    """TPE after 40 trials of sphere lands closer to 0 than its random start-up trials."""
    study = _study("optuna", "tpe", CONTINUOUS.replace("loguniform: [0.01, 1.0]",
                                                       "uniform: [-2.0, 2.0]"), trials=40)
    out = run_local(study)
    losses = [r.metrics["loss"] for r in out.results]
    assert min(losses[20:]) < min(losses[:10])
