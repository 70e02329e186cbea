"""Novelty search (Lehman & Stanley 2011) as used by GA-NS in Such et al. 2017 (sec. 4.3).

Each individual has a behaviour characterization ``b`` (a short vector per environment: the final
position in the maze, see :mod:`.envs`). Its novelty is the mean Euclidean distance to its ``k``
nearest neighbours among the archive and the rest of the current population. Each generation,
every evaluated individual enters the archive with probability ``archive_prob``.

With a novelty weight ``w`` in [0, 1], selection ranks by
``(1 - w) * rank(reward) + w * rank(novelty)`` (ranks scaled to [0, 1]), so ``w = 1`` is pure
novelty search (GA-NS), ``w = 0`` the plain GA, and values in between mix the two.
"""

from __future__ import annotations

import numpy as np


def novelty(points: np.ndarray, archive: np.ndarray, k: int) -> np.ndarray:
    """Mean distance of each of ``points`` (n, d) to its ``k`` nearest neighbours among the
    other points and ``archive`` (m, d)."""
    others = np.concatenate([points, archive]) if len(archive) else points
    d = np.linalg.norm(points[:, None, :] - others[None, :, :], axis=2)
    d[np.arange(len(points)), np.arange(len(points))] = np.inf  # not its own neighbour
    k = max(1, min(k, len(others) - 1))
    nearest = np.sort(d, axis=1)[:, :k]
    return nearest.mean(axis=1)


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks of ``x`` scaled to [0, 1] (0: lowest); ties broken by position."""
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r / max(len(x) - 1, 1)


def selection_score(reward: np.ndarray, nov: np.ndarray | None, weight: float) -> np.ndarray:
    """What truncation selection ranks by (higher is better)."""
    if nov is None or weight <= 0:
        return np.asarray(reward, dtype=float)
    if weight >= 1:
        return np.asarray(nov, dtype=float)
    return (1 - weight) * ranks(reward) + weight * ranks(nov)


class Archive:
    """The novelty archive: behaviour vectors of past individuals."""

    def __init__(self, dim: int) -> None:
        self.points = np.zeros((0, dim))

    def __len__(self) -> int:
        return len(self.points)

    def add(self, points: np.ndarray) -> None:
        if len(points):
            self.points = np.concatenate([self.points, points])
