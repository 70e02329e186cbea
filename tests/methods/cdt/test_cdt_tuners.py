"""Known-answer tests of the top layer: zooming covers the space, restarts reset, tuners
concentrate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from searchlab.methods.cdt.bandits import HyperParam
from searchlab.methods.cdt.tuners import BetaOPTuner, OPTuner, TLTuner, ZoomingTS, candidate_grid

X = (HyperParam("x", 0.0, 1.0),)
XY = (HyperParam("x", 0.0, 1.0), HyperParam("y", 0.0, 1.0))


def _play(tuner, reward, rounds: int, rng: np.random.Generator) -> np.ndarray:
    chosen = []
    for t in range(rounds):
        h = tuner.propose(t).copy()
        tuner.update(reward(h) + 0.3 * rng.standard_normal())
        chosen.append(h)
    return np.array(chosen)


def _check_covered(tuner: ZoomingTS) -> None:
    """Every grid point lies in some active ball B(a, r(n_a))."""
    k = tuner.n_active
    radii = np.array([tuner.radius(n) for n in tuner.count[:k]])
    dist = np.linalg.norm(tuner.grid[:, None, :] - tuner.units[None, :k, :], axis=2)
    assert ((dist <= radii + 1e-12).any(1)).all()
    assert (tuner.cover == (dist <= radii + 1e-12).sum(1)).all()  # the incremental count is exact


@pytest.mark.parametrize("space", [X, XY], ids=["1d", "2d"])
def test_zooming_covers_the_space_whenever_it_takes_a_thompson_step(space) -> None:
    rng = np.random.default_rng(0)
    tuner = ZoomingTS(space, 2000, np.random.default_rng(1), confidence=0.3)
    for t in range(1500):
        before = tuner.n_active
        tuner.propose(t)
        if tuner.n_active == before:  # a Thompson step: the balls must cover everything
            _check_covered(tuner)
        tuner.update(rng.standard_normal())
    assert tuner.n_active > 5  # the balls shrank, so points were added to keep covering


def test_first_new_point_is_activated_early() -> None:
    """The reference's constant kept one point for ~200 rounds; ours zooms within a few."""
    tuner = ZoomingTS(X, 14_000, np.random.default_rng(0), confidence=0.3)
    for t in range(20):
        tuner.propose(t)
        tuner.update(0.0)
    assert tuner.n_active >= 3


def test_restarts_reset_state() -> None:
    tuner = ZoomingTS(X, 1000, np.random.default_rng(0), restart_period=50)
    rng = np.random.default_rng(1)
    for t in range(50):
        tuner.propose(t)
        tuner.update(rng.standard_normal())
    assert tuner.restarts == 0 and tuner.count.sum() == 50
    tuner.propose(50)  # the 51st round starts a new epoch
    assert tuner.restarts == 1
    assert tuner.n_active == 1 and tuner.count.sum() == 0 and tuner.n_obs == 0
    tuner.update(1.0)
    for t in range(51, 200):
        tuner.propose(t)
        tuner.update(0.0)
    assert tuner.restarts == 3


def test_no_restart_never_resets() -> None:
    tuner = ZoomingTS(X, 1000, np.random.default_rng(0), restart_period=None)
    for t in range(500):
        tuner.propose(t)
        tuner.update(0.0)
    assert tuner.restarts == 0 and tuner.count.sum() == 500


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_zooming_concentrates_near_the_best_value(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tuner = ZoomingTS(X, 4000, np.random.default_rng(seed + 10), restart_period=None)
    chosen = _play(tuner, lambda h: -abs(h[0] - 0.7), 4000, rng)[:, 0]
    late = chosen[2000:]
    assert abs(np.median(late) - 0.7) < 0.05
    assert np.mean(np.abs(late - 0.7) < 0.15) > 0.8


def test_zooming_2d_concentrates_near_the_best_point() -> None:
    rng = np.random.default_rng(0)
    tuner = ZoomingTS(XY, 6000, np.random.default_rng(1), restart_period=None)
    best = np.array([0.25, 0.8])
    chosen = _play(tuner, lambda h: -np.linalg.norm(h - best), 6000, rng)
    assert np.linalg.norm(np.median(chosen[3000:], axis=0) - best) < 0.1


def test_zooming_with_restarts_follows_a_moving_optimum() -> None:
    rng = np.random.default_rng(0)
    tuner = ZoomingTS(X, 8000, np.random.default_rng(1), restart_period=1000)
    best = lambda t: 0.2 if t < 4000 else 0.8  # noqa: E731
    chosen = []
    for t in range(8000):
        h = tuner.propose(t)[0]
        tuner.update(-abs(h - best(t)) + 0.3 * rng.standard_normal())
        chosen.append(h)
    assert abs(np.median(chosen[3000:4000]) - 0.2) < 0.1
    assert abs(np.median(chosen[7000:]) - 0.8) < 0.1


def test_log_scale_maps_the_unit_interval_onto_the_range() -> None:
    hp = HyperParam("lam", 0.01, 10.0, "log")
    assert hp.value(0.0) == pytest.approx(0.01) and hp.value(1.0) == pytest.approx(10.0)
    assert hp.value(0.5) == pytest.approx(np.sqrt(0.1))
    assert hp.unit(hp.value(0.3)) == pytest.approx(0.3)


def test_candidate_grid_is_the_product() -> None:
    grid = candidate_grid(XY, {"x": [1, 2], "y": [3, 4, 5]})
    assert grid.shape == (6, 2) and (grid[0] == [1, 3]).all() and (grid[-1] == [2, 5]).all()
    with pytest.raises(ValueError, match="no candidate values for y"):
        candidate_grid(XY, {"x": [1]})


def test_op_concentrates_on_the_best_candidate() -> None:
    rng = np.random.default_rng(0)
    op = OPTuner(np.array([[0.1], [0.5], [0.9]]), np.random.default_rng(1))
    chosen = _play(op, lambda h: -abs(h[0] - 0.5), 3000, rng)[:, 0]
    assert np.mean(chosen[1500:] == 0.5) > 0.9


def test_tl_prefers_the_best_candidate() -> None:
    rng = np.random.default_rng(0)
    tl = TLTuner(np.array([[0.1], [0.5], [0.9]]), 20_000, (-1.0, 1.0), np.random.default_rng(1))
    chosen = _play(tl, lambda h: -abs(h[0] - 0.5), 20_000, rng)[:, 0]
    assert np.mean(chosen[10_000:] == 0.5) > 0.6


def test_tl_authors_exp3_step_on_the_raw_reward_by_hand() -> None:
    """Two candidates, T = 100: gamma = sqrt(2 ln 2 / ((e - 1) 100)) = 0.0898; p = (1/2, 1/2) at
    first."""
    cands = np.array([[0.1], [0.9]])
    gamma = math.sqrt(2 * math.log(2) / ((math.e - 1) * 100))
    authors = TLTuner(cands, 100, None, np.random.default_rng(0))
    ours = TLTuner(cands, 100, (-1.0, 1.0), np.random.default_rng(0))
    assert authors.gamma == pytest.approx(0.08982, abs=1e-5)
    i = int(authors.propose(0)[0] == 0.9)
    assert ours.propose(0)[0] == cands[i, 0]  # the same draw: only the update differs
    np.testing.assert_allclose(authors.p, [0.5, 0.5])
    authors.update(-0.6)  # raw: log w_i += gamma * r / (n p_i) = gamma * -0.6 / (2 * 0.5)
    ours.update(-0.6)  # ours: the reward rescaled from [-1, 1] to [0, 1] first: 0.2
    assert authors.logw[i] == pytest.approx(-0.6 * gamma) and authors.logw[1 - i] == 0.0
    assert ours.logw[i] == pytest.approx(0.2 * gamma)
    # the next round's probabilities: (1 - gamma) w / sum(w) + gamma / 2
    authors.propose(1)
    w = np.exp([-0.6 * gamma, 0.0]) if i == 0 else np.exp([0.0, -0.6 * gamma])
    np.testing.assert_allclose(authors.p, (1 - gamma) * w / w.sum() + gamma / 2)
    assert authors.p[i] < 0.5  # a negative raw reward lowers the played candidate's probability
    ours.propose(1)
    assert ours.p[i] > 0.5  # ... where ours, on the rescaled reward, raises it
    authors.i = 1 - i
    authors.update(3.0)  # raw rewards are not clipped either
    assert authors.logw[1 - i] == pytest.approx(gamma * 3.0 / (2 * authors.p[1 - i]))


def test_op_authors_beta_posterior_on_clipped_rewards() -> None:
    op = BetaOPTuner(np.array([[0.5], [1.0], [3.0]]), np.random.default_rng(0))
    np.testing.assert_array_equal(op.success, [1, 1, 1])  # Beta(1, 1) priors
    np.testing.assert_array_equal(op.failure, [1, 1, 1])
    first = op.propose(0)
    i = op.i
    assert first[0] == op.cands[i, 0]
    op.update(1.7)  # clipped to 1: a sure success
    assert (op.success[i], op.failure[i]) == (2, 1)
    op.i = i
    op.update(-0.4)  # clipped to 0: a sure failure
    assert (op.success[i], op.failure[i]) == (2, 2)
    for _ in range(4000):  # r in (0, 1): a success with probability r
        op.i = i
        op.update(0.3)
    assert (op.success[i] - 2) / 4000 == pytest.approx(0.3, abs=0.03)
    assert op.success[i] + op.failure[i] == 4 + 4000
    others = [j for j in range(3) if j != i]
    assert (op.success[others] == 1).all() and (op.failure[others] == 1).all()


def test_op_authors_starts_anywhere_and_tries_no_candidate_first() -> None:
    firsts = {int(BetaOPTuner(np.arange(5.0)[:, None], np.random.default_rng(s)).propose(0)[0])
              for s in range(40)}
    assert firsts == set(range(5))  # a uniformly random first candidate
    op = BetaOPTuner(np.arange(5.0)[:, None], np.random.default_rng(1))
    for t in range(50):  # a candidate that always pays is kept: no forced pull of the others
        op.propose(t)
        op.update(1.0 if op.i == 2 else 0.0)
    assert op.success[2] > 35 and (op.success + op.failure).sum() == 5 * 2 + 50


def test_op_authors_concentrates_on_the_best_candidate() -> None:
    rng = np.random.default_rng(0)
    op = BetaOPTuner(np.array([[0.1], [0.5], [0.9]]), np.random.default_rng(1))
    chosen = _play(op, lambda h: 0.6 - abs(h[0] - 0.5), 3000, rng)[:, 0]
    assert np.mean(chosen[1500:] == 0.5) > 0.8


def _feed(tuner: ZoomingTS, rewards: np.ndarray, t0: int = 0) -> None:
    for t, r in enumerate(rewards, t0):
        tuner.propose(t)
        tuner.update(float(r))


def test_soft_restart_keeps_points_and_means_but_shrinks_counts() -> None:
    tuner = ZoomingTS(X, 1000, np.random.default_rng(0), restart_period=300, restart_discount=0.2)
    rng = np.random.default_rng(1)
    _play(tuner, lambda h: -abs(h[0] - 0.7), 300, rng)
    k = tuner.n_active
    units, mean, count = tuner.active_units.copy(), tuner.mean[:k].copy(), tuner.count[:k].copy()
    radii = np.array([tuner.radius(n) for n in count])
    tuner.propose(300)  # the 301st round restarts softly
    assert tuner.restarts == 1 and tuner.n_active >= k
    assert np.array_equal(tuner.units[:k], units)  # the points stay ...
    np.testing.assert_allclose(tuner.mean[:k], mean)  # ... with their means
    np.testing.assert_allclose(tuner.count[:k], np.maximum(0.2 * count, np.minimum(count, 1.0)))
    assert tuner.count[:k].sum() < 0.3 * count.sum()
    assert all(tuner.radius(n) >= r for n, r in zip(tuner.count[:k], radii))  # the balls reopen
    assert tuner.n_active == k  # ... and cover the space again, so no new point was needed
    tuner.update(0.0)
    _check_covered(tuner)  # the incremental coverage count is exact after the rebuild


def test_hard_restart_is_still_the_default() -> None:
    tuner = ZoomingTS(X, 1000, np.random.default_rng(0), restart_period=50)
    _feed(tuner, np.zeros(51))
    assert tuner.restarts == 1 and tuner.n_active == 1 and tuner.count.sum() == 1


def test_discount_must_lie_in_the_unit_interval() -> None:
    with pytest.raises(ValueError, match="restart_discount"):
        ZoomingTS(X, 1000, np.random.default_rng(0), restart_discount=1.0)
    with pytest.raises(ValueError, match="detect_discount"):
        ZoomingTS(X, 1000, np.random.default_rng(0), detect_discount=-0.1)


@pytest.mark.parametrize("seed", range(5))
def test_change_detection_is_silent_on_a_stationary_stream(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tuner = ZoomingTS(X, 5000, np.random.default_rng(seed + 10), detect_window=200)
    _feed(tuner, 0.1 + 0.5 * rng.standard_normal(5000))
    assert tuner.detections == 0 and tuner.restarts == 0


@pytest.mark.parametrize("shift", ["mean", "variance"])
def test_change_detection_fires_soon_after_a_shift(shift: str) -> None:
    rng = np.random.default_rng(0)
    tuner = ZoomingTS(X, 5000, np.random.default_rng(1), detect_window=200)
    before = 0.5 * rng.standard_normal(2000)
    after = (1.0 + 0.5 * rng.standard_normal(2000) if shift == "mean"
             else 0.02 * rng.standard_normal(2000))
    _feed(tuner, before)
    assert tuner.detections == 0
    for t, r in enumerate(after, 2000):  # the shift must be found within one window
        tuner.propose(t)
        tuner.update(float(r))
        if tuner.detections:
            break
    assert tuner.detections == 1 and t - 2000 < 200
    assert tuner.n_active == 0 and tuner.count.sum() == 0  # detect_discount=None: a hard restart


def test_detected_change_can_restart_softly() -> None:
    rng = np.random.default_rng(0)
    tuner = ZoomingTS(X, 5000, np.random.default_rng(1), detect_window=100, detect_discount=0.0)
    _feed(tuner, 0.5 * rng.standard_normal(1000))
    k = tuner.n_active
    _feed(tuner, 3.0 + 0.5 * rng.standard_normal(100), 1000)
    assert tuner.detections == 1 and tuner.n_active >= k  # the points are kept ...
    assert tuner.count[:k].sum() < k + 100  # ... each with one observation's weight, plus new plays


def test_detection_follows_an_abrupt_moving_optimum() -> None:
    """cdt_detect_only-style: no periodic restarts, a hard restart when the rewards shift."""
    rng = np.random.default_rng(0)
    tuner = ZoomingTS(X, 8000, np.random.default_rng(1), detect_window=200)
    chosen = []
    for t in range(8000):
        h = tuner.propose(t)[0]
        best, level = (0.2, 0.0) if t < 4000 else (0.8, 1.0)
        tuner.update(level - abs(h - best) + 0.3 * rng.standard_normal())
        chosen.append(h)
    assert 1 <= tuner.detections <= 2
    assert abs(np.median(chosen[3000:4000]) - 0.2) < 0.1
    assert abs(np.median(chosen[7000:]) - 0.8) < 0.1


def test_posterior_scale_narrows_the_thompson_draws() -> None:
    """The draws' spread is posterior_scale x s / sqrt(n): a narrower one replays points behind
    less."""
    far = {}
    for scale in (1.0, 0.5):
        rng = np.random.default_rng(0)
        tuner = ZoomingTS(X, 3000, np.random.default_rng(1), confidence=1.0, posterior_scale=scale)
        chosen = _play(tuner, lambda h: -0.1 * abs(h[0] - 0.2), 3000, rng)[:, 0]  # a small gap
        far[scale] = np.mean(np.abs(chosen - 0.2) > 0.3)
    assert far[0.5] < 0.5 * far[1.0]
    with pytest.raises(ValueError, match="posterior_scale"):
        ZoomingTS(X, 1000, np.random.default_rng(0), posterior_scale=0.0)
