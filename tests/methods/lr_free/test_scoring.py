"""AlgoPerf scoring against hand-worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from searchlab.methods.lr_free.scoring import (
    algoperf_scores,
    median_time,
    performance_ratios,
    study_time_to_target,
    tau_grid,
    time_to_target,
)

INF = math.inf


def test_time_to_target_is_the_first_evaluation_reaching_it() -> None:
    steps = [10, 20, 30, 40]
    assert time_to_target(steps, [0.9, 0.5, 0.2, 0.1], 0.5, "min") == 20  # <= counts
    assert time_to_target(steps, [0.1, 0.5, 0.7, 0.9], 0.7, "max") == 30  # >= counts
    assert time_to_target(steps, [0.1, 0.9, 0.1, 0.9], 0.8, "max") == 20  # first, not last
    assert time_to_target(steps, [0.9, 0.8, 0.7, 0.6], 0.5, "min") == INF  # never
    assert time_to_target(steps, [math.nan, math.nan, 0.4, 0.3], 0.5, "min") == 30  # nan never


def test_study_takes_the_trial_reaching_at_the_earliest_index() -> None:
    # trial A reaches at index 2 (time 3.0), trial B at index 1 (time 50.0): AlgoPerf picks the
    # earliest *index*, so B's time is the study's, although A's time is smaller.
    a = ([1.0, 2.0, 3.0], [0.9, 0.8, 0.1])
    b = ([40.0, 50.0, 60.0], [0.9, 0.2, 0.1])
    never = ([1.0, 2.0], [0.9, 0.9])
    assert study_time_to_target([a, b, never], 0.5, "min") == 50.0
    assert study_time_to_target([never], 0.5, "min") == INF


def test_median_over_studies_with_misses() -> None:
    assert median_time([3.0, 1.0, 2.0]) == 2.0
    assert median_time([1.0, INF, 2.0]) == 2.0  # one miss in three: still finite
    assert median_time([1.0, INF, INF]) == INF  # two misses in three
    assert median_time([1.0, 3.0, INF, INF]) == INF  # even count: (3 + inf) / 2
    assert median_time([1.0, 3.0, 5.0, INF]) == 4.0


def test_ratios_ties_cutoff_and_workloads_nobody_solves() -> None:
    times = {"a": {"w1": 10, "w2": 10, "w3": INF, "w4": 100},
             "b": {"w1": 10, "w2": 40, "w3": INF},  # w4 missing: a miss
             "c": {"w1": 20, "w2": 41, "w3": INF, "w4": 400}}
    r = performance_ratios(times, ["w1", "w2", "w3", "w4"])
    assert r["a"]["w1"] == r["b"]["w1"] == 1.0  # tie: both fastest
    assert r["c"]["w1"] == 2.0
    assert r["b"]["w2"] == 4.0  # exactly 4x: kept
    assert r["c"]["w2"] == INF  # 4.1x: cut off
    assert all(math.isnan(r[o]["w3"]) for o in "abc")  # nobody: inf/inf
    assert r["b"]["w4"] == INF and r["c"]["w4"] == 4.0


def test_profile_and_score_hand_worked() -> None:
    # two workloads. a: ratios (1, 1) -> rho = 1 everywhere -> score 1.
    # b: ratios (2, inf) -> rho = 0 for tau < 2, 1/2 for tau >= 2.
    # c: misses both -> 0.
    times = {"a": {"w1": 5, "w2": 7}, "b": {"w1": 10, "w2": INF}, "c": {"w1": INF, "w2": INF}}
    scores, profiles, taus, _ = algoperf_scores(times, ["w1", "w2"])
    assert scores["a"] == pytest.approx(1.0)
    assert scores["c"] == 0.0
    # exact trapezoid on the 100-point grid: rho jumps between the grid points around tau = 2
    grid = np.linspace(1, 4, 100)
    rho_b = np.where(grid >= 2, 0.5, 0.0)
    assert np.array_equal(profiles["b"], rho_b)
    expected = float(np.trapezoid(rho_b, grid) / 3)
    assert scores["b"] == pytest.approx(expected)
    assert scores["b"] == pytest.approx(0.5 * (4 - 2) / 3, abs=0.5 / 99 * 0.5 + 1e-12)


def test_denominator_is_the_number_of_workloads_not_those_run() -> None:
    times = {"a": {"w1": 1.0}, "b": {"w1": 1.0, "w2": 1.0}}
    scores, _, _, _ = algoperf_scores(times, ["w1", "w2"])
    assert scores["a"] == pytest.approx(0.5) and scores["b"] == pytest.approx(1.0)


def test_bad_input_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="mode"):
        time_to_target([1], [1], 0.5, "up")
    with pytest.raises(ValueError, match="length"):
        time_to_target([1, 2], [1], 0.5, "min")
    with pytest.raises(ValueError):
        tau_grid(1.0)
    with pytest.raises(ValueError, match="no workloads"):
        algoperf_scores({"a": {}}, [])
