"""The synthetic prior the PFN is trained on: shapes, ranges, study states, determinism."""

import numpy as np
import pytest

from searchlab.predictive.curve_prior import FAMILIES, _decay, sample_lengths, sample_studies


def test_studies_have_the_asked_shape_finite_values_and_valid_lengths():
    studies = sample_studies(np.random.default_rng(0), 8, 50, 30)
    assert studies.shape == (8, 50, 30)
    assert studies.curves.shape == (8, 50, 30) and studies.lengths.shape == (8, 50)
    assert np.all(np.isfinite(studies.curves))
    assert studies.lengths.min() >= 1 and studies.lengths.max() <= 30
    # the scale is the prior's: the floor (chance) at 0, the best near 1, plus noise
    assert -0.5 < np.percentile(studies.curves, 1) and np.percentile(studies.curves, 99) < 1.5


def test_same_seed_same_studies_other_seed_other_studies():
    a = sample_studies(np.random.default_rng(3), 4, 20, 16)
    b = sample_studies(np.random.default_rng(3), 4, 20, 16)
    c = sample_studies(np.random.default_rng(4), 4, 20, 16)
    assert np.array_equal(a.curves, b.curves) and np.array_equal(a.lengths, b.lengths)
    assert not np.allclose(a.curves, c.curves)


def test_curves_mostly_rise_and_studies_differ_in_how_far_they_have_seen():
    studies = sample_studies(np.random.default_rng(1), 64, 40, 40)
    gain = studies.curves[..., -1] - studies.curves[..., 0]
    assert np.mean(gain > 0) > 0.6  # learning curves: most end above where they start
    assert np.mean(gain < 0) > 0.01  # ... but not all (divergence, overfitting, noise)
    finished = (studies.lengths == 40).mean(axis=1)
    assert finished.min() < 0.1 and finished.max() > 0.3  # some studies early, some late
    assert np.mean(studies.lengths <= 4) > 0.2  # many trials seen for a few epochs only


def test_successive_halving_states_keep_the_better_curves_longer():
    rng = np.random.default_rng(2)
    curves = np.sort(rng.random((200, 30, 1)), axis=1) + np.linspace(0, 0.2, 20)[None, None, :]
    lengths = sample_lengths(rng, curves)
    assert lengths.shape == (200, 30)
    # on average, better curves (higher index here) were seen longer
    corr = np.mean([np.corrcoef(np.arange(30), lengths[b])[0, 1] for b in range(200)
                    if lengths[b].std() > 0])
    assert corr > 0.2


@pytest.mark.parametrize("family", range(len(FAMILIES)))
def test_every_family_decays_from_one_towards_zero(family):
    x = np.linspace(0.0, 50.0, 200)[None, :]
    h = _decay(np.full(x.shape, family), x, np.full(x.shape, 1.5))
    assert h[0, 0] == pytest.approx(1.0)
    assert np.all(np.diff(h) <= 1e-12) and h[0, -1] < 0.5
