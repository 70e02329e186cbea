"""A user's own contextual bandit for CDT: LinUCB with two hyperparameters.

``RidgeUCB`` plays argmax_k  x_k . theta + alpha * ||x_k||_{A^-1}  with the ridge estimate
theta = A^-1 b, A = lam * I + sum x x^T, b = sum r x. Both alpha (exploration) and lam
(regularisation) may change every round, as CDT tunes them online, so A is formed from the
running sums at every ``select`` rather than kept inverted.

It follows searchlab's bandit protocol (docs/cdt.md, "On your own problem"): a constructor
taking ``dim``, ``arms`` and ``rng``, ``select(contexts, hyper) -> arm`` and
``update(arm, context, reward)``; ``theoretical`` is optional (for the theory baseline).
Nothing here imports searchlab.
"""

from __future__ import annotations

import math

import numpy as np


class RidgeUCB:
    def __init__(self, dim: int, arms: int, rng: np.random.Generator, delta: float = 0.05) -> None:
        self.G = np.zeros((dim, dim))  # sum of x x^T over the pulled arms' contexts
        self.b = np.zeros(dim)  # sum of r x
        self.eye = np.eye(dim)
        self.rng = rng  # unused: RidgeUCB is deterministic (ties go to the lowest arm)
        self.delta = delta

    def select(self, contexts: np.ndarray, hyper: dict[str, float]) -> int:
        alpha, lam = hyper["alpha"], hyper["lam"]
        A = self.G + lam * self.eye
        # one solve for the estimate and for every arm's A^-1 x
        sol = np.linalg.solve(A, np.column_stack([self.b, contexts.T]))
        theta, Ainv_X = sol[:, 0], sol[:, 1:]
        width = np.sqrt(np.maximum(np.einsum("ij,ji->i", contexts, Ainv_X), 0.0))
        return int(np.argmax(contexts @ theta + alpha * width))

    def update(self, arm: int, context: np.ndarray, reward: float) -> None:
        self.G += np.outer(context, context)
        self.b += reward * context

    def theoretical(self, t: int, sigma: float, delta: float,
                    theta_norm: float) -> dict[str, float]:
        """Abbasi-Yadkori et al. (2011) with lam = 1 and ||x|| <= 1: the radius of the
        confidence ellipsoid at round t."""
        d = len(self.b)
        alpha = sigma * math.sqrt(d * math.log((1.0 + t) / delta)) + theta_norm
        return {"alpha": alpha, "lam": 1.0}
