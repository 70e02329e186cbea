"""The bottom layer: contextual bandits whose hyperparameters the top layer tunes round by round.

Every bandit shares one linear model of the reward, ``E[r | x] = mu(x . theta)``, and keeps the
inverse of its design matrix ``A = lam*I + sum w x x^T`` in square-root form, ``A^-1 = S S^T``.
A new observation is a rank-1 (Sherman-Morrison) update of ``S`` in O(d^2):

    u = S^T x,  s = u.u,  S <- S - c (S u) u^T   with   c = (1 - 1/sqrt(1+s)) / s

so that the new ``S S^T`` equals ``A^-1 - A^-1 x x^T A^-1 / (1 + x^T A^-1 x)``. The square root
serves both kinds of bandit: UCB widths are row norms of ``X S`` and a Thompson draw from
``N(theta, v^2 A^-1)`` is ``theta + v S z``. No matrix is ever inverted after the start.

A bandit's hyperparameters are values (not scaled); ``select(X, h, z)`` takes the K x d contexts
of one round, the hyperparameter vector and a standard normal d-vector (used by Thompson samplers)
and returns the arm; ``update(x, r, arm)`` learns from the pulled arm's context and reward. A
user's own bandit class enters through :class:`searchlab.methods.cdt.user.UserBandit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np


@dataclass(frozen=True)
class HyperParam:
    """One tunable hyperparameter and the interval the tuners search."""

    name: str
    low: float
    high: float
    scale: Literal["linear", "log"] = "linear"

    def value(self, u: np.ndarray | float) -> np.ndarray | float:
        """Map u in [0, 1] to a value in [low, high]."""
        if self.scale == "log":
            return self.low * (self.high / self.low) ** u
        return self.low + (self.high - self.low) * u

    def unit(self, v: np.ndarray | float) -> np.ndarray | float:
        """Inverse of :meth:`value`."""
        if self.scale == "log":
            return np.log(v / self.low) / math.log(self.high / self.low)
        return (v - self.low) / (self.high - self.low)


class Ridge:
    """Ridge regression ``theta = A^-1 b`` kept by rank-1 updates of ``S`` with ``S S^T = A^-1``."""

    def __init__(self, d: int, lam: float = 1.0) -> None:
        self.S = np.eye(d) / math.sqrt(lam)
        self.theta = np.zeros(d)

    @property
    def cov(self) -> np.ndarray:
        """``A^-1`` (for tests and diagnostics; the bandits never form it)."""
        return self.S @ self.S.T

    def _rank1(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """A <- A + x x^T; returns (A_old^-1 x, x^T A_old^-1 x)."""
        S = self.S
        u = x @ S
        s = float(u @ u)
        Su = S @ u
        if s > 0.0:
            S -= (((1.0 - 1.0 / math.sqrt(1.0 + s)) / s) * Su)[:, None] * u
        return Su, s

    def update(self, x: np.ndarray, r: float) -> None:
        # recursive least squares: theta += A_new^-1 x (r - x.theta), A_new^-1 x = Su / (1 + s)
        err = r - float(x @ self.theta)
        Su, s = self._rank1(x)
        self.theta += Su * (err / (1.0 + s))

    def widths(self, X: np.ndarray) -> np.ndarray:
        """``||x||_{A^-1}`` for every row of X."""
        XS = X @ self.S
        return np.sqrt(np.einsum("ij,ij->i", XS, XS))


class OnlineLogistic(Ridge):
    """Logistic model learnt by one online Newton step per observation (a running Laplace fit).

    ``A = lam*I + sum mu'(x.theta) x x^T`` is the curvature-weighted design matrix, so
    ``N(theta, A^-1)`` is the Laplace approximation of the posterior; the step is
    ``theta += A^-1 x (r - mu(x.theta))``.
    """

    min_weight: ClassVar[float] = 1e-3

    def update(self, x: np.ndarray, r: float) -> None:
        p = 1.0 / (1.0 + math.exp(-float(x @ self.theta)))
        sw = math.sqrt(max(p * (1.0 - p), self.min_weight))
        Su, s = self._rank1(x * sw)
        self.theta += Su * ((r - p) / ((1.0 + s) * sw))


class Bandit:
    """Base class: a contextual bandit with tunable hyperparameters."""

    name: ClassVar[str]
    model: ClassVar[Literal["linear", "logistic"]] = "linear"
    hyperparams: ClassVar[tuple[HyperParam, ...]]

    def __init__(self, d: int, lam: float = 1.0) -> None:
        self.d = d
        self.lam = lam
        self.est: Ridge = OnlineLogistic(d, lam) if self.model == "logistic" else Ridge(d, lam)

    def select(self, X: np.ndarray, h: np.ndarray, z: np.ndarray) -> int:
        raise NotImplementedError

    def update(self, x: np.ndarray, r: float, arm: int = -1) -> None:
        """Learn from the pulled arm's context ``x`` and reward ``r`` (``arm``: its index)."""
        self.est.update(x, r)

    def theoretical(self, t: int, sigma: float, delta: float = 0.05,
                    theta_norm: float = 1.0) -> np.ndarray:
        """The hyperparameters the regret bound prescribes at round t (1-based)."""
        raise NotImplementedError


def _ucb_radius(d: int, t: int, lam: float, sigma: float, delta: float, theta_norm: float) -> float:
    # Abbasi-Yadkori et al. (2011), with ||x|| <= 1, as in the reference implementation
    return sigma * math.sqrt(d * math.log((t / lam + 1.0) / delta)) + math.sqrt(lam) * theta_norm


class LinUCB(Bandit):
    """argmax x.theta + alpha ||x||_{A^-1} (Li et al. 2010; Abbasi-Yadkori et al. 2011)."""

    name = "linucb"
    hyperparams = (HyperParam("alpha", 0.01, 5.0, "log"),)

    def select(self, X: np.ndarray, h: np.ndarray, z: np.ndarray) -> int:
        score = X @ self.est.theta
        if h[0] > 0.0:
            score += h[0] * self.est.widths(X)
        return int(score.argmax())

    def theoretical(self, t: int, sigma: float, delta: float = 0.05,
                    theta_norm: float = 1.0) -> np.ndarray:
        return np.array([_ucb_radius(self.d, t, self.lam, sigma, delta, theta_norm)])


class LinTS(Bandit):
    """Linear Thompson sampling: theta~ ~ N(theta, v^2 A^-1), argmax x.theta~ (Agrawal & Goyal
    2013).

    The tuners search v on [0.001, 4], log scale: on the paper's setting the rewards cannot tell
    v = 0.05 from v = 0.25 within T rounds, so the share of the range near greedy decides how
    often CDT plays a good rate (docs/cdt.md; tuned on seeds 100-119).
    """

    name = "lints"
    hyperparams = (HyperParam("v", 0.001, 4.0, "log"),)

    def select(self, X: np.ndarray, h: np.ndarray, z: np.ndarray) -> int:
        est = self.est
        return int((X @ (est.theta + h[0] * (est.S @ z))).argmax())

    def theoretical(self, t: int, sigma: float, delta: float = 0.05,
                    theta_norm: float = 1.0) -> np.ndarray:
        # the reference implementation's choice (sigma/5 in place of the bound's sigma*sqrt(9...))
        return np.array([_ucb_radius(self.d, t, self.lam, sigma / 5.0, delta, theta_norm)])


def _glm_radius(d: int, t: int, delta: float, kappa: float = 0.1966) -> float:
    # Li, Lu & Zhou (2017): ||theta - theta*||_V <= (sigma/kappa) sqrt(d/2 log(1+2t/d) + log
    # 1/delta), with sigma = 1/2 (Bernoulli) and the curvature-weighted matrix A ~ kappa V
    return 0.5 / math.sqrt(kappa) * math.sqrt(d / 2.0 * math.log(1.0 + 2.0 * t / d)
                                              + math.log(1.0 / delta))


class UCBGLM(LinUCB):
    """UCB-GLM (Li, Lu & Zhou 2017) for logistic rewards, with an online Newton estimate."""

    name = "ucbglm"
    model = "logistic"
    hyperparams = (HyperParam("alpha", 0.01, 5.0, "log"),)

    def theoretical(self, t: int, sigma: float, delta: float = 0.05,
                    theta_norm: float = 1.0) -> np.ndarray:
        return np.array([_glm_radius(self.d, t, delta)])


class GLMTS(LinTS):
    """Thompson sampling from the Laplace posterior of a logistic model (GLM-TS / Laplace-TS)."""

    name = "glmts"
    model = "logistic"
    hyperparams = (HyperParam("v", 0.01, 4.0, "log"),)

    def theoretical(self, t: int, sigma: float, delta: float = 0.05,
                    theta_norm: float = 1.0) -> np.ndarray:
        return np.array([_glm_radius(self.d, t, delta)])


class LinUCBReg(Bandit):
    """LinUCB with two hyperparameters: exploration rate alpha and regularisation lambda.

    Lambda may change every round, so the design matrix ``lam*I + G`` is re-inverted per round from
    the running ``G = sum x x^T`` and ``g = sum r x`` (O(d^3); slower than the one-parameter
    bandits).
    """

    name = "linucb_reg"
    hyperparams = (HyperParam("alpha", 0.01, 5.0, "log"), HyperParam("lam", 0.01, 10.0, "log"))

    def __init__(self, d: int, lam: float = 1.0) -> None:
        super().__init__(d, lam)
        self.G = np.zeros((d, d))
        self.g = np.zeros(d)
        self._eye = np.eye(d)

    def select(self, X: np.ndarray, h: np.ndarray, z: np.ndarray) -> int:
        Ainv = np.linalg.inv(self.G + h[1] * self._eye)
        XA = X @ Ainv
        score = XA @ self.g
        if h[0] > 0.0:
            score += h[0] * np.sqrt(np.einsum("ij,ij->i", XA, X))
        return int(score.argmax())

    def update(self, x: np.ndarray, r: float, arm: int = -1) -> None:
        self.G += np.outer(x, x)
        self.g += r * x

    def theoretical(self, t: int, sigma: float, delta: float = 0.05,
                    theta_norm: float = 1.0) -> np.ndarray:
        return np.array([_ucb_radius(self.d, t, 1.0, sigma, delta, theta_norm), 1.0])


BANDITS: dict[str, type[Bandit]] = {b.name: b for b in (LinUCB, LinTS, UCBGLM, GLMTS, LinUCBReg)}
