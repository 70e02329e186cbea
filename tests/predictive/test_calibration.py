"""Conformal probabilities and the reliability check."""

import numpy as np
import pytest

from searchlab.predictive.calibration import (
    conformal_probability,
    expected_calibration_error,
    plot_reliability,
    reliability,
)


def test_conformal_probability_counts_residuals_conservatively():
    residuals = np.arange(-9.0, 10.0)  # -9 .. 9, 19 values
    # final = 0 + r beats 5 for r in 6..9: (1 + 4) / 20
    assert conformal_probability(0.0, residuals, 5.0) == pytest.approx(5 / 20)
    assert conformal_probability(0.0, residuals, 100.0) == pytest.approx(1 / 20)  # never 0
    assert conformal_probability(0.0, residuals, -100.0) == pytest.approx(1.0)
    # mode min mirrors max
    assert conformal_probability(0.0, residuals, -5.0, "min") == pytest.approx(5 / 20)
    with pytest.raises(ValueError, match="mode"):
        conformal_probability(0.0, residuals, 0.0, "maximise")


def test_conformal_probabilities_are_calibrated_where_a_gaussian_is_not():
    """Heavy-tailed errors: the conformal tail matches the observed frequency, a Gaussian with
    the same RMSE understates it."""
    from searchlab.predictive.rule import probability_beats

    rng = np.random.default_rng(0)
    calib = rng.standard_t(2, 2000)
    test = rng.standard_t(2, 4000)
    rmse = float(np.sqrt(np.mean(calib**2)))
    threshold = 4.0  # the event: final = 0 + error > 4
    conformal = conformal_probability(0.0, calib, threshold)
    gaussian = probability_beats(0.0, rmse, threshold)
    observed = float(np.mean(test > threshold))
    assert abs(conformal - observed) < 0.01
    assert gaussian < observed / 2 or gaussian > observed * 2


def test_reliability_bins_match_for_a_calibrated_source(tmp_path):
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 20_000)
    hits = rng.uniform(0, 1, p.size) < p
    bins = reliability(p, hits)
    assert sum(b.count for b in bins) == p.size
    assert all(abs(b.observed - b.stated) < 0.05 for b in bins if b.count > 200)
    assert expected_calibration_error(bins) < 0.02
    # an overconfident source: the event happens twice as often as stated below 0.5
    bad = reliability(p, rng.uniform(0, 1, p.size) < np.minimum(1, 2 * p))
    assert expected_calibration_error(bad) > 0.1
    path = tmp_path / "rel.png"
    plot_reliability({"calibrated": bins, "overconfident": bad}, str(path))
    assert path.stat().st_size > 1000
    with pytest.raises(ValueError, match="differ"):
        reliability([0.1, 0.2], [True])
