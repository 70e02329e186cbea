"""The prior the learning-curve PFN is trained on: synthetic studies of synthetic learning curves.

A prior-data fitted network (Müller et al., "Transformers can do Bayesian inference", ICLR 2022)
learns posterior prediction by seeing many data sets drawn from a prior. LC-PFN (Adriaensen et
al., "Efficient Bayesian learning curve extrapolation using prior-data fitted networks", NeurIPS
2023) draws single curves from the parametric families of Domhan, Springenberg & Hutter (IJCAI
2015); ifBO's FT-PFN (Rakotoarison et al., ICML 2024) draws whole *tasks* of related curves so
that the model can learn from the other curves of the same task in context. This module does the
latter, without hyperparameters: one draw is a study of ``n`` curves of one task, each observed up
to some epoch, and the target is every unfinished curve's value at the last epoch.

Curves are written in *relative* time ``s = t / T`` (epoch ``t`` of ``T``), increasing is better,
and on an arbitrary scale (the network normalises every study from what it observes, so the prior
need not match a metric's units). A curve is

    y(s) = y0 + (a - y0) * (1 - h1(s / tau1))        fast phase (most of the gain)
           + b * (1 - h2(s / tau2)) / (1 - h2(1 / tau2))   slow phase: growth still to come at s = 1
           - o * (1 - exp(-(s - s_peak)+ / tau3))     overfitting after a peak (some tasks)
           + late bloomer, divergence and noise (below)

where ``h`` is a decay from 1 to 0 drawn from the Domhan et al. families, as a convex mixture of
two of them (one ``h`` per curve, families weighted per task):

======================  ======================================  ================================
family (Domhan 2015)    curve                                   decay ``h(x)``, ``x = t / tau``
======================  ======================================  ================================
pow3 / pow4             ``c - a t^-alpha``                      ``(1 + x)^-alpha``
exp3                    ``c - exp(-a t + b)``                   ``exp(-x)``
Janoschek / Weibull     ``alpha - (alpha - beta) e^-(k t)^d``   ``exp(-x^d)``
MMF / log-power / Hill  ``alpha - (alpha - beta)/(1 + (k t)^d)``  ``1 / (1 + x^d)``
ilog2                   ``c - a / log(t)``                      ``log 2 / log(2 + x)``
======================  ======================================  ================================

Per task (one study) the prior draws: the spread of the configurations' final values (a gamma
distribution of gaps below the best, plus a fraction of poor configurations and of ones that
never learn), how far along the curves start, their time constants (log-normal around a task
median, optionally tied to their quality), the share of the gain left to a slow phase (often
larger for the better configurations: the curves that end best keep learning longest), a
fraction of steady learners (a large, nearly linear slow phase and a final value biased to the
best), the
fractions of late bloomers (a plateau, then a rise at a random time to a final value that is
often among the best), divergers (a drop to the floor at a random time) and overfitters (a
decline after a peak), and the noise (Gaussian or Student-t, optionally autocorrelated, scaled
per curve).

The study's state is drawn too, so that the contexts look like those of a running early-stopping
study: either curves are cut at random epochs (and some run to the end), or a successive-halving
pass stops the worse curves at geometric rungs (so the long curves are the good ones, as in a
real study) and a few curves are left in progress.

:func:`sample_studies` returns a batch of such studies as arrays; it is vectorised (numpy) so
that a training step spends its time in the network, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAMILIES = ("pow", "exp", "weibull", "mmf", "ilog2")


@dataclass(frozen=True)
class Studies:
    """A batch of ``B`` synthetic studies of ``N`` curves of ``T`` epochs each.

    ``curves[b, i, :]`` is curve ``i`` of study ``b`` in full (the target is its last value);
    ``lengths[b, i]`` is how many of its epochs the study has seen (1..T).
    """

    curves: np.ndarray  # (B, N, T) float64
    lengths: np.ndarray  # (B, N) int64

    @property
    def shape(self) -> tuple[int, int, int]:
        b, n, t = self.curves.shape
        return int(b), int(n), int(t)


def _decay(family: np.ndarray, x: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """``h(x)`` of each curve's family (index into FAMILIES); ``shape`` is alpha or d."""
    x = np.maximum(x, 0.0)
    out = np.empty_like(x)
    f = np.broadcast_to(family, x.shape)
    k = np.broadcast_to(shape, x.shape)
    m = f == 0
    out[m] = (1.0 + x[m]) ** -k[m]
    m = f == 1
    out[m] = np.exp(-x[m])
    m = f == 2
    out[m] = np.exp(-(x[m] ** k[m]))
    m = f == 3
    out[m] = 1.0 / (1.0 + x[m] ** k[m])
    m = f == 4
    out[m] = np.log(2.0) / np.log(2.0 + x[m])
    return out


def _family_shape(rng: np.random.Generator, family: np.ndarray) -> np.ndarray:
    """The family's shape parameter: alpha for pow, the exponent d for Weibull and MMF."""
    alpha = np.exp(rng.uniform(np.log(0.3), np.log(3.0), family.shape))
    d = np.exp(rng.uniform(np.log(0.4), np.log(4.0), family.shape))
    return np.where(family == 0, alpha, d)


def _mixed_decay(rng: np.random.Generator, weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A convex mixture of two families' decays per curve; ``weights`` (B, F) per task."""
    b, n = x.shape[:2]
    cum = np.cumsum(weights, axis=1)[:, None, :]  # (B, 1, F)
    fa = (rng.random((b, n, 1)) > cum).sum(-1).clip(0, len(FAMILIES) - 1)[..., None]
    fb = (rng.random((b, n, 1)) > cum).sum(-1).clip(0, len(FAMILIES) - 1)[..., None]
    mix = np.where(rng.random((b, n, 1)) < 0.5, 1.0, rng.random((b, n, 1)))
    ha = _decay(fa, x, _family_shape(rng, fa))
    hb = _decay(fb, x, _family_shape(rng, fb))
    return mix * ha + (1.0 - mix) * hb


def _logu(rng: np.random.Generator, lo: float, hi: float, size: tuple[int, ...]) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _task_rate(rng: np.random.Generator, b: int, p_task: float, hi: float) -> np.ndarray:
    """A per-task fraction in [0, hi] that is zero in a fraction ``1 - p_task`` of tasks."""
    return np.where(rng.random((b, 1)) < p_task, rng.uniform(0.0, hi, (b, 1)), 0.0)


def sample_curves(rng: np.random.Generator, b: int, n: int, t: int) -> np.ndarray:
    """``b`` tasks of ``n`` full curves of ``t`` epochs each: (b, n, t)."""
    s = (np.arange(1, t + 1) / t)[None, None, :]  # relative time of each epoch
    shape = (b, n, 1)
    # --- final values: gaps below the best, per task ---------------------------------------
    spread = _logu(rng, 0.01, 0.5, (b, 1, 1))
    k = rng.uniform(0.5, 2.5, (b, 1, 1))
    gap = spread * rng.gamma(np.broadcast_to(k, shape), 1.0)
    poor = rng.random(shape) < rng.uniform(0.0, 0.5, (b, 1, 1))
    gap = np.where(poor, rng.uniform(0.2, 1.0, shape), gap)
    dead = rng.random(shape) < _task_rate(rng, b, 0.5, 0.3)[..., None]
    gap = np.where(dead, rng.uniform(0.9, 1.0, shape), gap)
    # steady learners: a share of the gain arrives nearly linearly until the end, and their
    # final value is often among the best (a low learning rate that keeps improving)
    steady = (rng.random(shape) < _task_rate(rng, b, 0.6, 0.3)[..., None]) & ~dead
    gap = np.where(steady, gap * rng.uniform(0.0, 1.0, shape), gap)
    final = 1.0 - np.minimum(gap, 1.0)  # floor (chance) at 0, best near 1
    # --- start and speed --------------------------------------------------------------------
    start_mean = rng.uniform(0.0, 0.8, (b, 1, 1))
    conc = _logu(rng, 2.0, 30.0, (b, 1, 1))
    u = rng.beta(np.broadcast_to(start_mean * conc + 0.05, shape),
                 np.broadcast_to((1 - start_mean) * conc + 0.05, shape))
    y0 = np.where(dead, final, u * final)
    z_gap = (gap - gap.mean(1, keepdims=True)) / (gap.std(1, keepdims=True) + 1e-9)
    log_tau = (rng.uniform(np.log(0.003), np.log(0.5), (b, 1, 1))
               + rng.uniform(0.1, 1.5, (b, 1, 1)) * rng.standard_normal(shape)
               + rng.uniform(-0.7, 0.7, (b, 1, 1)) * z_gap)
    tau1 = np.exp(np.clip(log_tau, np.log(1e-3), np.log(5.0)))
    weights = rng.dirichlet(np.full(len(FAMILIES), 0.5), b)
    # --- slow phase: a share of the gain still to come --------------------------------------
    slow_mean = np.where(rng.random((b, 1, 1)) < 0.7, rng.uniform(0.0, 0.5, (b, 1, 1)), 0.0)
    # tied to quality in many tasks: the configurations that end best keep learning longest
    tie = rng.uniform(-0.5, 1.5, (b, 1, 1))
    slow = np.clip(slow_mean * (rng.uniform(0.0, 2.0, shape) - 0.5 * tie * z_gap), 0.0, 0.9)
    tau2 = _logu(rng, 0.1, 5.0, shape)
    slow = np.where(steady, rng.uniform(0.15, 0.6, shape), slow)
    tau2 = np.where(steady, _logu(rng, 1.0, 10.0, shape), tau2)
    h2 = _decay(np.zeros(shape, dtype=int), s / tau2, rng.uniform(0.5, 2.0, shape))  # pow
    h2_end = h2[..., -1:]  # the slow phase adds exactly ``slow * rise`` by the last epoch
    rise = final - y0
    fast = (1.0 - slow) * rise * (1.0 - _mixed_decay(rng, weights, s / tau1))
    drift = slow * rise * (1.0 - h2) / np.maximum(1.0 - h2_end, 1e-9)
    y = y0 + fast + drift
    # --- late bloomers: a plateau, then a rise to a (often good) final value ----------------
    late = (rng.random(shape) < _task_rate(rng, b, 0.5, 0.3)[..., None]) & ~dead
    onset = rng.uniform(0.03, 0.7, shape)
    plateau = y0 + (final - y0) * rng.uniform(0.0, 0.7, shape)
    late_final = 1.0 - np.minimum(gap, 1.0) * rng.uniform(0.0, 1.0, shape)
    plateau_curve = y0 + (plateau - y0) * (1.0 - np.exp(-s / tau1))
    tau4 = _logu(rng, 0.02, 0.4, shape)
    late_rise = (late_final - plateau) * (1.0 - _mixed_decay(rng, weights,
                                                             np.maximum(s - onset, 0) / tau4))
    late_rise = late_rise / np.maximum(1.0 - _decay(np.ones(shape, dtype=int),
                                                    (1.0 - onset) / tau4, 1.0), 0.2)
    y = np.where(late, plateau_curve + np.where(s > onset, late_rise, 0.0), y)
    # --- overfitting: a decline after a peak ------------------------------------------------
    over = rng.random(shape) < _task_rate(rng, b, 0.5, 1.0)[..., None]
    peak = rng.uniform(0.0, 0.6, shape)
    drop = (final - y0) * rng.uniform(0.0, 0.3, shape)
    tau3 = _logu(rng, 0.05, 1.0, shape)
    y = y - np.where(over & ~dead, drop * (1.0 - np.exp(-np.maximum(s - peak, 0) / tau3)), 0.0)
    # --- divergence: a drop to the floor at a random epoch ----------------------------------
    diverge = (rng.random(shape) < _task_rate(rng, b, 0.4, 0.2)[..., None]) & ~dead
    when = rng.uniform(0.0, 1.0, shape)
    y = np.where(diverge & (s > when), rng.uniform(0.0, 0.1, shape), y)
    # --- noise ------------------------------------------------------------------------------
    sigma = _logu(rng, 1e-4, 0.03, (b, 1, 1)) * _logu(rng, 0.3, 3.0, shape)
    eps = rng.standard_normal((b, n, t))
    heavy = rng.random((b, 1, 1)) < 0.3
    df = rng.uniform(2.5, 10.0, (b, 1, 1))
    t_noise = rng.standard_t(np.broadcast_to(df, (b, n, t))) / np.sqrt(df / (df - 2.0))
    eps = np.where(heavy, t_noise, eps)
    rho = np.where(rng.random((b, 1, 1)) < 0.5, rng.uniform(0.0, 0.9, (b, 1, 1)), 0.0)
    for j in range(1, t):  # AR(1) with unit marginal variance
        eps[..., j] = rho[..., 0] * eps[..., j - 1] + np.sqrt(1 - rho[..., 0] ** 2) * eps[..., j]
    return y + sigma * eps


def sample_lengths(rng: np.random.Generator, curves: np.ndarray) -> np.ndarray:
    """How far a study has seen each curve: random cuts, or successive halving at geometric
    rungs with a few curves still in progress."""
    b, n, t = curves.shape
    # random cuts: a task-level share of finished curves, else mostly early epochs
    full = rng.random((b, n)) < rng.uniform(0.0, 0.7, (b, 1))
    early = rng.random((b, n)) < 0.5
    cut = np.where(early, rng.integers(1, max(2, min(5, t)), (b, n)),
                   rng.integers(1, max(2, t), (b, n)))
    random_cut = np.where(full, t, np.minimum(cut, t - 1 if t > 1 else 1))
    # successive halving: keep the top fraction at rungs 1, 2, 4, ... (scaled by a task factor)
    halving = np.full((b, n), t)
    keep = rng.uniform(0.15, 0.7, (b, 1))
    first = rng.integers(1, max(2, min(5, t)), (b, 1))
    rung = first.astype(float)
    factor = rng.uniform(1.5, 3.0, (b, 1))
    for _ in range(12):
        r = np.minimum(rung.astype(int), t)  # (b, 1)
        alive = halving > r
        value = np.take_along_axis(curves, np.repeat(r - 1, n, 1)[..., None], axis=2)[..., 0]
        ranked = -np.sort(-np.where(alive, value, -np.inf), axis=1)  # best first
        top = np.ceil(keep * alive.sum(1, keepdims=True)).astype(int).clip(1, n)
        bar = np.take_along_axis(ranked, top - 1, axis=1)
        halving = np.where(alive & (value < bar) & (r < t), r, halving)
        rung = rung * factor
    in_progress = rng.random((b, n)) < rng.uniform(0.0, 0.3, (b, 1))
    halving = np.where(in_progress, rng.integers(1, halving + 1), halving)
    mode = rng.random((b, 1)) < 0.4
    return np.where(mode, random_cut, halving).astype(np.int64).clip(1, t)


def sample_studies(rng: np.random.Generator, b: int, n: int, t: int) -> Studies:
    """``b`` synthetic studies of ``n`` curves of ``t`` epochs, and what each has seen."""
    curves = sample_curves(rng, b, n, t)
    return Studies(curves, sample_lengths(rng, curves))
