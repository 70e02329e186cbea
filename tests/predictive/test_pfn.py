"""The learning-curve PFN: features, the network's output, the shipped weights, and training."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from searchlab.predictive.curve_prior import sample_studies
from searchlab.predictive.pfn import (
    N_FEATURES,
    WEIGHTS,
    FinalDistribution,
    PFNConfig,
    PFNPredictor,
    build_network,
    load_network,
    squash,
    study_features,
    targets,
    unsquash,
)

ROOT = Path(__file__).resolve().parents[2]


def test_squash_is_monotone_and_inverted_by_unsquash():
    y = np.linspace(-50, 50, 2001)
    z = squash(y)
    assert np.all(np.diff(z) > 0)
    assert np.allclose(z[(y >= -1) & (y <= 2)], y[(y >= -1) & (y <= 2)])
    assert np.allclose(unsquash(z), y)


def test_features_are_invariant_to_the_metric_scale_and_shift():
    studies = sample_studies(np.random.default_rng(0), 3, 25, 20)
    f1, hi1, s1 = study_features(studies.curves, studies.lengths)
    f2, hi2, s2 = study_features(7.0 + 40.0 * studies.curves, studies.lengths)
    assert f1.shape == (3, 25, N_FEATURES) and f1.dtype == np.float32
    assert np.allclose(f1, f2, atol=1e-4)
    assert np.allclose(targets(studies.curves, hi1, s1),
                       targets(7.0 + 40.0 * studies.curves, hi2, s2))


def test_features_ignore_the_epochs_a_study_has_not_seen():
    studies = sample_studies(np.random.default_rng(1), 2, 10, 16)
    future = studies.curves.copy()
    seen = np.arange(1, 17)[None, None, :] <= studies.lengths[..., None]
    future[~seen] = 123.0  # what the study has not seen must not matter
    a, _, _ = study_features(studies.curves, studies.lengths)
    b, _, _ = study_features(future, studies.lengths)
    assert np.array_equal(a, b)


def small_network(bins=32):
    torch.manual_seed(0)
    net = build_network(PFNConfig(d_model=16, layers=1, heads=2, ff=32, bins=bins))
    net.borders.copy_(torch.linspace(-3, 3, bins + 1))
    return net.eval()


def test_the_output_is_one_bar_distribution_per_curve_with_a_monotone_cdf():
    predictor = PFNPredictor(small_network())
    curves = [[0.5, 0.6, 0.7], [0.2], [0.4, 0.45, 0.47, 0.48, 0.5, 0.5]]
    dists = predictor.predict(curves, max_t=6)
    assert len(dists) == 3
    for d in dists:
        assert d.probs.shape == (32,) and d.probs.sum() == pytest.approx(1.0)
        values = np.linspace(-2.0, 3.0, 101)
        beats = np.array([d.prob_beats(v) for v in values])
        assert np.all(np.diff(beats) <= 1e-12) and beats[0] == pytest.approx(1.0)
        assert d.quantile(0.1) <= d.median <= d.quantile(0.9)
        assert d.prob_beats(d.median) == pytest.approx(0.5, abs=1e-6)


def test_mode_min_is_mode_max_of_the_negated_curves():
    predictor = PFNPredictor(small_network())
    curves = [[2.0, 1.5, 1.2], [2.5, 2.4], [1.9, 1.0, 0.8, 0.7]]
    lo = predictor.predict(curves, 5, mode="min")
    hi = predictor.predict([[-v for v in c] for c in curves], 5, mode="max")
    for a, b in zip(lo, hi):
        assert a.prob_beats(1.0) == pytest.approx(b.prob_beats(-1.0))
        assert a.median == pytest.approx(-b.median)


def test_distribution_from_a_point_mass_has_the_expected_quantiles():
    borders = np.linspace(-1.0, 2.0, 4)  # bins [-1,0], [0,1], [1,2]
    d = FinalDistribution(np.array([0.0, 1.0, 0.0]), borders, hi=10.0, scale=2.0, sign=1.0)
    # space z = (v - 10) / 2 + 1: the bin [0, 1] is values 8..10, uniformly
    assert d.median == pytest.approx(9.0)
    assert d.prob_beats(8.5) == pytest.approx(0.75)
    assert d.prob_beats(7.0) == 1.0 and d.prob_beats(11.0) == 0.0
    assert d.mean == pytest.approx(9.0)


@pytest.mark.skipif(not WEIGHTS.exists(), reason="no shipped weights")
def test_shipped_weights_predict_held_out_synthetic_studies_sensibly():
    """On studies drawn with a seed training never used: the median is closer to the final than
    the last value seen is, and P(final > v) is calibrated for v the median of the finals."""
    predictor = PFNPredictor.load()
    rng = np.random.default_rng(987_654)
    err_pfn, err_last, stated, hit = [], [], [], []
    for _ in range(12):
        s = sample_studies(rng, 1, 60, 40)
        curves, lengths = s.curves[0], s.lengths[0]
        dists = predictor.predict([curves[i, : lengths[i]] for i in range(60)], 40)
        ref = float(np.median(curves[:, -1]))
        for i in np.flatnonzero(lengths < 40):
            err_pfn.append(abs(dists[i].median - curves[i, -1]))
            err_last.append(abs(curves[i, lengths[i] - 1] - curves[i, -1]))
            stated.append(dists[i].prob_beats(ref))
            hit.append(curves[i, -1] > ref)
    assert np.mean(err_pfn) < 0.8 * np.mean(err_last)
    stated, hit = np.array(stated), np.array(hit)
    for lo, hi in [(0.0, 0.1), (0.1, 0.5), (0.5, 0.9), (0.9, 1.0)]:
        inside = (stated >= lo) & (stated < hi)
        if inside.sum() >= 30:
            assert abs(hit[inside].mean() - stated[inside].mean()) < 0.1


@pytest.mark.skipif(not WEIGHTS.exists(), reason="no shipped weights")
def test_shipped_weights_stop_a_clear_loser_and_not_the_leader():
    predictor = PFNPredictor.load()
    t = np.arange(1, 31)
    rng = np.random.default_rng(0)
    finished = [0.6 + 0.3 * a * (1 - np.exp(-t / 4)) + rng.normal(0, 0.003, 30)
                for a in rng.uniform(0.3, 1.0, 20)]
    loser = 0.6 + 0.05 * (1 - np.exp(-t[:8] / 4))
    leader = 0.6 + 0.35 * (1 - np.exp(-t[:8] / 4))
    dists = predictor.predict([*finished, loser, leader], 30)
    best = max(c[-1] for c in finished)
    assert dists[-2].prob_beats(best) < 0.05  # stopped at delta 0.05 (the shipped 0.015)
    assert dists[-1].prob_beats(best) > 0.3
    assert load_network(str(WEIGHTS)) is load_network(str(WEIGHTS))  # loaded once


def test_training_is_deterministic_for_a_seed(tmp_path):
    """Two tiny training runs with the same seed give identical weights; a resumed run too."""
    def train(out, steps, *extra):
        cmd = [sys.executable, str(ROOT / "benchmarks" / "train_pfn.py"), "--steps", str(steps),
               "--batch", "4", "--d-model", "16", "--layers", "1", "--bins", "16",
               "--checkpoint-every", "3", "--border-batches", "10", "--out", str(out), *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                              env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                                   "PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def weights(path):
        return torch.load(path, weights_only=True)["state"]

    train(tmp_path / "a.pt", 6)
    train(tmp_path / "b.pt", 6)
    a, b = weights(tmp_path / "a.pt"), weights(tmp_path / "b.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a run left after 3 steps and resumed gives the same weights as one run of 6
    left = train(tmp_path / "a.pt", 6, "--checkpoint", str(tmp_path / "c.ckpt"),
                 "--stop-after", "3")
    assert left == {"steps_done": 3, "steps": 6, "resumable": True}
    figures = train(tmp_path / "a.pt", 6, "--checkpoint", str(tmp_path / "c.ckpt"))
    c = weights(tmp_path / "a.pt")
    assert figures["steps"] == 6
    assert all(torch.equal(b[k], c[k]) for k in b)
    other = tmp_path / "d.pt"
    train(other, 6, "--seed", "1")
    d = weights(other)
    assert not all(torch.equal(a[k], d[k]) for k in a)
