"""AlgoPerf scoring against hand-worked examples, worked from the definitions in the reference's
``scoring/performance_profile.py`` (mlcommons/algorithmic-efficiency, commit 2c90454):
``df[df > 4 * best_scores] = np.inf`` (4, not max_tau), ``df.update(df.div(df.min(axis=0)))``
(a NaN quotient leaves the time as it was), ``rho = (r <= tau).sum() / NUM_WORKLOADS`` on
``np.linspace(min_tau, max_tau, num_points)``, score ``np.trapz(rho, taus) / (max - min)``."""

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
    # nobody: inf/inf is NaN, and the reference's DataFrame.update keeps the time (inf)
    assert all(r[o]["w3"] == INF for o in "abc")
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


def _jump_score(jump: float, low: float, high: float, n: int = 100, height: float = 1.0) -> float:
    """By hand: the normalised trapezoid area of rho = height * [tau >= jump] on n evenly
    spaced points in [low, high]: full height from the first grid point at or past the jump,
    plus half a grid step of the rise before it."""
    h = (high - low) / (n - 1)
    k = math.ceil((jump - low) / h - 1e-12)
    first = low + k * h
    return height * ((high - first) + (h / 2 if k > 0 else 0.0)) / (high - low)


def test_cutoff_is_4x_the_fastest_whatever_max_tau() -> None:
    # max_tau 8: the reference still cuts at 4x. b is 5x the fastest: cut (inf), scores 0,
    # although 5 <= 8; c is 3.5x: kept.
    times = {"a": {"w": 10.0}, "b": {"w": 50.0}, "c": {"w": 35.0}}
    scores, profiles, taus, ratios = algoperf_scores(times, ["w"], max_tau=8.0)
    assert ratios == {"a": {"w": 1.0}, "b": {"w": INF}, "c": {"w": 3.5}}
    assert taus[0] == 1.0 and taus[-1] == 8.0 and len(taus) == 100
    assert scores["a"] == pytest.approx(1.0)
    assert scores["b"] == 0.0 and not profiles["b"].any()
    # rho_c jumps to 1 at the first grid point >= 3.5 (1 + 36 * 7/99 = 3.545...)
    assert scores["c"] == pytest.approx(_jump_score(3.5, 1.0, 8.0))
    assert scores["c"] == pytest.approx(((8 - (1 + 36 * 7 / 99)) + 7 / 99 / 2) / 7)


def test_max_tau_below_4_keeps_the_ratio_but_never_counts_it() -> None:
    # max_tau 2: b at 3x is within 4x, so its ratio stays 3 (not inf); the profile ends at 2,
    # so it never counts. c at 1.5x: rho = [tau >= 1.5] on [1, 2]; the first grid point past
    # 1.5 is 1 + 50/99, so the area is 49/99 + 1/198 = 1/2.
    times = {"a": {"w": 10.0}, "b": {"w": 30.0}, "c": {"w": 15.0}}
    scores, profiles, _, ratios = algoperf_scores(times, ["w"], max_tau=2.0)
    assert ratios["b"]["w"] == 3.0 and ratios["c"]["w"] == 1.5
    assert scores["b"] == 0.0
    assert scores["c"] == pytest.approx(0.5)
    assert scores["a"] == pytest.approx(1.0)


def test_a_fastest_time_of_zero_counts_as_reached() -> None:
    # w1: a and b reach the target at time 0. The reference cuts every time above 4 x 0 (c),
    # divides (0/0 = NaN, which DataFrame.update skips: the 0 stays, and 0 <= tau for every
    # tau) -> a and b reached w1. w2: a fastest (5), c 2x, b never.
    times = {"a": {"w1": 0.0, "w2": 5.0}, "b": {"w1": 0.0, "w2": INF},
             "c": {"w1": 10.0, "w2": 10.0}}
    scores, profiles, _, ratios = algoperf_scores(times, ["w1", "w2"])
    assert ratios["a"]["w1"] == 0.0 and ratios["b"]["w1"] == 0.0 and ratios["c"]["w1"] == INF
    assert ratios["a"]["w2"] == 1.0 and ratios["c"]["w2"] == 2.0 and ratios["b"]["w2"] == INF
    assert scores["a"] == pytest.approx(1.0)  # both workloads at every tau
    assert scores["b"] == pytest.approx(0.5) and np.all(profiles["b"] == 0.5)
    assert scores["c"] == pytest.approx(_jump_score(2.0, 1.0, 4.0, height=0.5))
    # a trial whose first evaluation, at time 0, reaches the target has time 0 (not a miss)
    assert time_to_target([0.0, 10.0], [0.1, 0.1], 0.5, "min") == 0.0


def test_negative_and_non_finite_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        performance_ratios({"a": {"w": -1.0}}, ["w"])
    for bad in (INF, math.nan):
        with pytest.raises(ValueError, match="finite"):
            tau_grid(bad)
    # NaN times are misses, as in the reference (NaN <= tau is False)
    assert performance_ratios({"a": {"w": math.nan}, "b": {"w": 2.0}}, ["w"]) == \
        {"a": {"w": INF}, "b": {"w": 1.0}}
