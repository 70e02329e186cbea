import math

import pytest

from searchlab.predictive.rule import probability_beats, should_stop


def test_probability_is_one_half_at_the_best():
    assert probability_beats(0.8, 0.1, 0.8) == pytest.approx(0.5)


def test_probability_is_the_gaussian_tail():
    # one standard deviation below the best: P = 1 - Phi(1) = 0.1587
    assert probability_beats(0.7, 0.1, 0.8, "max") == pytest.approx(0.158655, abs=1e-5)
    assert probability_beats(0.9, 0.1, 0.8, "max") == pytest.approx(0.841345, abs=1e-5)


def test_mode_min_mirrors_max():
    assert (probability_beats(1.2, 0.1, 1.0, "min")
            == pytest.approx(probability_beats(0.8, 0.1, 1.0)))
    assert probability_beats(0.5, 0.1, 1.0, "min") > 0.99


def test_zero_spread_is_certain():
    assert probability_beats(0.7, 0.0, 0.8) == 0.0
    assert probability_beats(0.9, 0.0, 0.8) == 1.0


def test_stop_below_delta_only():
    p = probability_beats(0.8 - 2 * 0.05, 0.05, 0.8)  # two sigmas below: 0.0228
    assert should_stop(p, 0.05) and not should_stop(p, 0.01)
    assert not should_stop(0.5, 0.05)


def test_bad_mode_is_an_error():
    with pytest.raises(ValueError, match="mode"):
        probability_beats(0.0, 1.0, 0.0, "maximize")
    assert math.isfinite(probability_beats(0.0, 1e-12, 1.0))
