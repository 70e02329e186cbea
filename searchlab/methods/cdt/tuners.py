"""The top layer: tuners that choose the bottom bandit's hyperparameters every round.

A tuner proposes a hyperparameter vector (values, not scaled) with :meth:`Tuner.propose` and
learns from the bottom bandit's observed reward with :meth:`Tuner.update`. CDT's tuner is
:class:`ZoomingTS`; the others are the baselines the paper compares against.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from searchlab.methods.cdt.bandits import Bandit, HyperParam


class _Normals:
    """Standard normal draws taken from a pre-drawn buffer (one generator call per 4096 draws)."""

    def __init__(self, rng: np.random.Generator, size: int = 4096) -> None:
        self.rng, self.size = rng, size
        self.buf, self.i = rng.standard_normal(size), 0

    def take(self, n: int) -> np.ndarray:
        if self.i + n > self.size:
            self.size = max(self.size, 2 * n)
            self.buf, self.i = self.rng.standard_normal(self.size), 0
        out = self.buf[self.i: self.i + n]
        self.i += n
        return out


class Tuner:
    """Base class. ``warmup`` rounds of random arms precede the first :meth:`propose`."""

    warmup: int = 0

    def propose(self, t: int) -> np.ndarray:
        raise NotImplementedError

    def update(self, r: float) -> None:
        """Learn from the reward of the round whose hyperparameters :meth:`propose` gave."""


class FixedTuner(Tuner):
    """One fixed hyperparameter vector (a grid point of the best-fixed-in-hindsight oracle)."""

    def __init__(self, values: Sequence[float]) -> None:
        self.h = np.asarray(values, dtype=float)

    def propose(self, t: int) -> np.ndarray:
        return self.h


class TheoreticalTuner(Tuner):
    """The rate the bottom bandit's regret bound prescribes at round t."""

    def __init__(self, bandit: Bandit, sigma: float, theta_norm: float,
                 delta: float = 0.05) -> None:
        self.bandit, self.sigma, self.theta_norm, self.delta = bandit, sigma, theta_norm, delta

    def propose(self, t: int) -> np.ndarray:
        return self.bandit.theoretical(t + 1, self.sigma, self.delta, self.theta_norm)


def candidate_grid(space: Sequence[HyperParam], values: dict[str, Sequence[float]]) -> np.ndarray:
    """The cartesian product of per-hyperparameter candidate values, one row per candidate."""
    missing = [p.name for p in space if p.name not in values]
    if missing:
        raise ValueError(f"no candidate values for {', '.join(missing)}")
    return np.array(list(itertools.product(*(values[p.name] for p in space))), dtype=float)


class OPTuner(Tuner):
    """OP, ours: Gaussian Thompson sampling over a finite candidate set (each candidate tried once
    first).

    A candidate's draw is ``mean + s N(0, 1) / sqrt(n)`` with s the root mean square of the rewards
    seen, so it works on rewards of any range. :class:`BetaOPTuner` is the authors' definition.
    """

    def __init__(self, candidates: np.ndarray, rng: np.random.Generator) -> None:
        self.cands = np.atleast_2d(candidates)
        n = len(self.cands)
        self.count, self.total = np.zeros(n), np.zeros(n)
        self.sq = 0.0
        self.z = _Normals(rng)
        self.i = 0

    def propose(self, t: int) -> np.ndarray:
        unplayed = np.flatnonzero(self.count == 0)
        if len(unplayed):
            self.i = int(unplayed[0])
        else:
            n = self.count
            self.i = int((self.total / n
                          + _scale(self.sq, n.sum()) * self.z.take(len(n)) / np.sqrt(n)).argmax())
        return self.cands[self.i]

    def update(self, r: float) -> None:
        self.count[self.i] += 1
        self.total[self.i] += r
        self.sq += r * r


def _scale(sum_sq: float, n: float) -> float:
    """Posterior scale of Gaussian TS: the observed rewards' root mean square (0.5 before 10
    draws)."""
    return math.sqrt(sum_sq / n) if n >= 10 else 0.5


class BetaOPTuner(Tuner):
    """OP as the paper's authors define it: Beta-Bernoulli Thompson sampling over the candidate set.

    Every candidate starts from a Beta(1, 1) prior. The observed reward is clipped to [0, 1] (the
    raw reward, not rescaled) and turned into a Bernoulli outcome with that success probability (the
    binarisation of Agrawal & Goyal 2012); the played candidate's Beta counts take the outcome. Each
    round plays the candidate with the largest Beta draw; the first round plays a uniformly random
    one. There is no forced first pull per candidate.
    """

    def __init__(self, candidates: np.ndarray, rng: np.random.Generator) -> None:
        self.cands = np.atleast_2d(candidates)
        n = len(self.cands)
        self.success, self.failure = np.ones(n), np.ones(n)
        self.rng = rng
        self.i = -1

    def propose(self, t: int) -> np.ndarray:
        if self.i < 0:
            self.i = int(self.rng.integers(len(self.cands)))
        else:
            self.i = int(self.rng.beta(self.success, self.failure).argmax())
        return self.cands[self.i]

    def update(self, r: float) -> None:
        won = self.rng.random() < min(max(r, 0.0), 1.0)
        self.success[self.i] += won
        self.failure[self.i] += not won


class TLTuner(Tuner):
    """TL: EXP3 over the candidate set (the syndicated two-layer approach of Ding et al. 2022).

    With probabilities ``p = (1 - gamma) w / sum(w) + gamma / n`` over the n candidates and
    ``gamma = min(1, sqrt(n ln n / ((e - 1) T)))``, the played candidate's log-weight grows by
    ``gamma x / (n p_i)``. Ours feeds x = the reward rescaled from ``reward_range`` to [0, 1] and
    clipped (EXP3's analysis assumes rewards in [0, 1]); ``reward_range=None`` feeds the raw reward,
    as the paper's authors' code does (their TL).
    """

    def __init__(self, candidates: np.ndarray, horizon: int,
                 reward_range: tuple[float, float] | None,
                 rng: np.random.Generator) -> None:
        self.cands = np.atleast_2d(candidates)
        n = len(self.cands)
        self.gamma = (min(1.0, math.sqrt(n * math.log(n) / ((math.e - 1) * horizon)))
                      if n > 1 else 1.0)
        self.logw = np.zeros(n)
        self.range = reward_range
        self.u = rng.random(horizon + 1)
        self.i, self.p = 0, np.full(n, 1.0 / n)

    def propose(self, t: int) -> np.ndarray:
        w = np.exp(self.logw - self.logw.max())
        self.p = (1 - self.gamma) * w / w.sum() + self.gamma / len(w)
        self.i = min(int(np.searchsorted(np.cumsum(self.p), self.u[t])), len(w) - 1)
        return self.cands[self.i]

    def update(self, r: float) -> None:
        if self.range is not None:
            lo, hi = self.range
            r = min(max((r - lo) / (hi - lo), 0.0), 1.0)
        self.logw[self.i] += self.gamma * r / (self.p[self.i] * len(self.p))


def coverage_grid(dim: int, rng: np.random.Generator) -> np.ndarray:
    """Points of [0, 1]^dim on which the zooming rule checks coverage."""
    if dim == 1:
        return np.linspace(0.0, 1.0, 257)[:, None]
    if dim == 2:
        g = np.linspace(0.0, 1.0, 41)
        return np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    return rng.random((4096, dim))


class ZoomingTS(Tuner):
    """Zooming Thompson sampling with restarts over the scaled space [0, 1]^p (CDT's top layer).

    Each active point a has a count n_a, a mean reward m_a and a confidence radius
    ``r_a = confidence * sqrt(log(H) / (n_a + 1))`` (Euclidean, in the scaled space) (H: the restart
    period). A round either *activates* a point -- if some point of the space lies outside every
    ball B(a, r_a), a random uncovered one, played at once -- or takes a *Thompson step*: draw
    ``m_a + k s N(0, 1) / sqrt(n_a)`` for every active point and play the best draw (s: the root
    mean square of the rewards seen, k: ``posterior_scale``, 1 by default; below 1 the costly points
    -- a bandit exploring far too much -- are replayed less often on noisy rewards). Every
    ``restart_period`` rounds all points are forgotten, so the tuner can follow a best
    hyperparameter that moves over time. ``restart_period=None`` never restarts.

    Two extensions (both off by default, which is the paper's behaviour):

    * ``restart_discount`` = gamma in [0, 1): a *soft* restart. Instead of forgetting, every active
      point keeps its place and its mean reward, but its count (and reward total) is multiplied by
      gamma, floored at min(n_a, 1) -- so the confidence radii and Thompson spreads reopen and new
      rewards quickly outweigh old ones, while the means learnt so far are not thrown away. With a
      period H the memory becomes roughly H / (1 - gamma) rounds. ``None``: hard restarts.
    * ``detect_window`` = w: change detection. The residual ``r - m_a`` of every round (the reward
      against the played point's mean before the update) is tested: the mean and the log-variance
      of the last w residuals against those of all earlier residuals since the last restart
      (z-scores, standard errors sqrt(v/w + v/n) and sqrt(2/w + 2/n)). When either exceeds
      ``detect_threshold`` the tuner restarts at once: softly with gamma = ``detect_discount``,
      or hard (everything forgotten) when that is ``None``. The fixed period, if any, stays as a
      fallback (counted from the last restart of either kind).
    """

    def __init__(self, space: Sequence[HyperParam], horizon: int, rng: np.random.Generator,
                 confidence: float = 0.3, restart_period: int | None = None, warmup: int = 30,
                 max_points: int = 512, restart_discount: float | None = None,
                 detect_window: int | None = None, detect_threshold: float = 5.0,
                 detect_discount: float | None = None, posterior_scale: float = 1.0) -> None:
        for name, g in (("restart_discount", restart_discount),
                        ("detect_discount", detect_discount)):
            if g is not None and not 0.0 <= g < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {g}")
        if detect_window is not None and detect_window < 2:
            raise ValueError(f"detect_window must be at least 2, got {detect_window}")
        if posterior_scale <= 0:
            raise ValueError(f"posterior_scale must be positive, got {posterior_scale}")
        self.post = posterior_scale
        self.discount = restart_discount
        self.detect_w = detect_window
        self.detect_z = detect_threshold
        self.detect_discount = detect_discount
        self.detections = 0
        self.space = tuple(space)
        self.rng = rng
        self.confidence = confidence
        self.H = restart_period
        self.warmup = warmup
        self.log_h = math.log(max(restart_period or horizon, 2))
        self.grid = coverage_grid(len(space), rng)
        self.max_points = max_points
        self.z = _Normals(rng)
        self.restarts = 0
        self._reset()

    def _reset(self) -> None:
        p, m = len(self.space), self.max_points
        self.n_active = 0
        self.units = np.zeros((m, p))
        self.values = np.zeros((m, p))
        self.count = np.zeros(m)
        self.total = np.zeros(m)
        self.mean = np.zeros(m)
        self.inv_sqrt_n = np.zeros(m)
        self.covered = np.zeros(m, dtype=np.int64)  # how many grid points each ball covers
        self.order: list[np.ndarray] = []  # grid indices by distance from each point
        self.sorted_dist: list[np.ndarray] = []
        self.cover = np.zeros(len(self.grid), dtype=np.int64)  # balls covering each grid point
        self.gap = True  # some grid point is uncovered
        self.sq, self.n_obs = 0.0, 0
        self.since_restart = 0
        self.i = -1
        self._reset_detector()

    def _reset_detector(self) -> None:
        w = self.detect_w or 1
        self.ring = [0.0] * w  # the last w residuals (a list: cheaper to index than an array)
        self.n_res = 0  # residuals seen since the last restart
        self.win_s = self.win_q = 0.0  # sum and sum of squares of the window
        self.ref_s = self.ref_q = 0.0  # ... of the earlier residuals (since the last restart)

    def _soft_reset(self, gamma: float) -> None:
        """Keep the active points and their means; shrink their counts to gamma n (at least min(n,
        1))."""
        k = self.n_active
        n = self.count[:k]
        new = np.maximum(gamma * n, np.minimum(n, 1.0))
        self.count[:k] = new
        self.total[:k] = self.mean[:k] * new
        self.inv_sqrt_n[:k] = np.where(new > 0, 1.0 / np.sqrt(np.maximum(new, 1e-12)), 0.0)
        frac = float(new.sum() / n.sum()) if n.sum() > 0 else 1.0
        self.sq *= frac
        self.n_obs *= frac
        # the balls grow again: rebuild the coverage counts
        self.cover[:] = 0
        for i in range(k):
            c = int(np.searchsorted(self.sorted_dist[i], self.radius(new[i]), side="right"))
            self.covered[i] = c
            self.cover[self.order[i][:c]] += 1
        self.gap = bool((self.cover == 0).any())
        self.since_restart = 0

    def _restart(self, gamma: float | None, detected: bool = False) -> None:
        self.restarts += 1
        if gamma is None:
            self._reset()
        else:
            self._soft_reset(gamma)
            if detected:  # after a soft periodic restart the means, so the residuals, carry on
                self._reset_detector()

    def _detect(self, e: float) -> bool:
        """Feed one residual; True when the last w differ from the earlier ones (mean or
        variance)."""
        w = self.detect_w
        j = self.n_res % w
        if self.n_res >= w:
            old = self.ring[j]
            self.win_s -= old
            self.win_q -= old * old
            self.ref_s += old
            self.ref_q += old * old
        self.ring[j] = e
        self.win_s += e
        self.win_q += e * e
        self.n_res += 1
        n_ref = self.n_res - w
        if n_ref < w:
            return False
        mw, mr = self.win_s / w, self.ref_s / n_ref
        vw = max(self.win_q / w - mw * mw, 1e-12)
        vr = max(self.ref_q / n_ref - mr * mr, 1e-12)
        z_mean = abs(mw - mr) / math.sqrt(vr / w + vr / n_ref)
        z_var = abs(math.log(vw / vr)) / math.sqrt(2.0 / w + 2.0 / n_ref)
        return max(z_mean, z_var) > self.detect_z

    def radius(self, n: float) -> float:
        """The confidence radius of a point played n times."""
        return self.confidence * math.sqrt(self.log_h / (n + 1.0))

    def _activate(self, u: np.ndarray) -> int:
        i = self.n_active
        self.n_active += 1
        self.units[i] = u
        self.values[i] = [hp.value(x) for hp, x in zip(self.space, u)]
        dist = np.sqrt(((self.grid - u) ** 2).sum(1))
        order = np.argsort(dist, kind="stable")
        self.order.append(order)
        self.sorted_dist.append(dist[order])
        c = int(np.searchsorted(self.sorted_dist[i], self.radius(0), side="right"))
        self.covered[i] = c
        self.cover[order[:c]] += 1
        self.gap = bool((self.cover == 0).any())
        return i

    def propose(self, t: int) -> np.ndarray:
        if self.H is not None and self.since_restart >= self.H:
            self._restart(self.discount)
        self.since_restart += 1
        if self.gap and self.n_active < self.max_points:
            # zooming: activate a random uncovered point (and play it)
            uncovered = np.flatnonzero(self.cover == 0)
            self.i = self._activate(self.grid[uncovered[self.rng.integers(len(uncovered))]])
        else:
            # Thompson step over the active points
            k = self.n_active
            s = self.post * _scale(self.sq, self.n_obs)
            draw = self.mean[:k] + s * self.z.take(k) * self.inv_sqrt_n[:k]
            self.i = int(draw.argmax())
        return self.values[self.i]

    def update(self, r: float) -> None:
        i = self.i
        if self.detect_w is not None and self.count[i] >= 1.0 and self._detect(r - self.mean[i]):
            self.detections += 1
            self._restart(self.detect_discount, detected=True)
            if self.i < 0:  # a hard restart forgot the point just played
                return
        n = self.count[i] + 1.0
        self.count[i] = n
        self.total[i] += r
        self.mean[i] = self.total[i] / n
        self.inv_sqrt_n[i] = 1.0 / math.sqrt(n)
        self.sq += r * r
        self.n_obs += 1
        # the ball shrinks: grid points beyond the new radius lose this point's cover
        c_old = self.covered[i]
        rad = self.radius(n)
        if c_old and rad < self.sorted_dist[i][c_old - 1]:
            c_new = int(np.searchsorted(self.sorted_dist[i], rad, side="right"))
            lost = self.order[i][c_new:c_old]
            self.cover[lost] -= 1
            self.covered[i] = c_new
            if not self.gap and (self.cover[lost] == 0).any():
                self.gap = True

    @property
    def active_units(self) -> np.ndarray:
        """The active points in the scaled space (rows)."""
        return self.units[: self.n_active]
