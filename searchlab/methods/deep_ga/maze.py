"""A deceptive maze in the spirit of the Hard Maze (Lehman & Stanley 2011; Such et al. 2017, sec.
4.3).

A point robot in the unit square moves at most ``speed`` per step in the direction its policy
outputs (two values in [-1, 1]); walls stop movement along the blocked axis (it slides along
them). It senses its position and four axis-aligned rangefinders. The episode's only reward
comes at its end: minus the distance from the robot to the goal, so reward alone points
straight at the goal.

Layout of ``hard`` (start S bottom left, goal G top right)::

    +------------------------+
    |                  G     |
    |    ====================|   wall B: y = 0.70, x in [0.20, 1]
    |                        |   (the corridor between the walls)
    |================        |   wall A: y = 0.35, x in [0, 0.80]
    |  S                     |
    +------------------------+

Reward-only search climbs to just under wall B, below the goal (distance about 0.2): the trap.
Escaping needs a walk to the far left end of the corridor, where every step makes the distance
worse (to about 0.75), then up and back right. Novelty search, which rewards ending somewhere
new, spreads along the corridor and finds the gap.

The behaviour characterization is the final position, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Layout:
    start: tuple[float, float]
    goal: tuple[float, float]
    walls: tuple[tuple[float, float, float, float], ...]  # axis-aligned segments (x0, y0, x1, y1)
    goal_radius: float = 0.05
    speed: float = 0.025
    max_steps: int = 250


LAYOUTS = {
    "hard": Layout(start=(0.15, 0.1), goal=(0.85, 0.9),
                   walls=((0.0, 0.35, 0.8, 0.35), (0.2, 0.7, 1.0, 0.7))),
}

_BOX = ((0.0, 0.0, 1.0, 0.0), (0.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 1.0), (1.0, 0.0, 1.0, 1.0))


class Maze:
    """The maze as a batch environment (see :mod:`.envs`)."""

    obs_dim, n_actions, act_dim, bc_dim = 6, 0, 2, 2

    def __init__(self, layout: Layout, max_steps: int | None = None) -> None:
        self.layout = layout
        self.max_steps = max_steps or layout.max_steps
        walls = np.array(layout.walls + _BOX, dtype=np.float64)
        horizontal = walls[:, 1] == walls[:, 3]
        self.h = walls[horizontal]  # y fixed
        self.v = walls[~horizontal]  # x fixed
        self.goal = np.array(layout.goal)
        self.pos = np.zeros((0, 2))
        self.t = 0

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        self.pos = np.tile(np.array(self.layout.start, dtype=np.float64), (len(seeds), 1))
        self.t = 0
        return self._obs()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        move = np.clip(actions, -1.0, 1.0) * self.layout.speed
        x, y = self.pos[:, 0], self.pos[:, 1]
        nx = x + move[:, 0]
        blocked = _crosses(x, nx, y, self.v[:, 0], self.v[:, 1], self.v[:, 3])
        nx = np.where(blocked, x, nx)
        ny = y + move[:, 1]
        blocked = _crosses(y, ny, nx, self.h[:, 1], self.h[:, 0], self.h[:, 2])
        ny = np.where(blocked, y, ny)
        self.pos = np.stack([nx, ny], axis=1)
        self.t += 1
        dist = np.linalg.norm(self.pos - self.goal, axis=1)
        done = dist < self.layout.goal_radius
        if self.t >= self.max_steps:
            done = np.ones_like(done)
        return self._obs(), np.where(done, -dist, 0.0), done

    def _obs(self) -> np.ndarray:
        x, y = self.pos[:, :1], self.pos[:, 1:]
        v, h = self.v, self.h
        on_v = (y >= v[None, :, 1]) & (y <= v[None, :, 3])
        on_h = (x >= h[None, :, 0]) & (x <= h[None, :, 2])
        dx = v[None, :, 0] - x
        dy = h[None, :, 1] - y
        right = np.where(on_v & (dx > 0), dx, 1.0).min(1)
        left = np.where(on_v & (dx < 0), -dx, 1.0).min(1)
        up = np.where(on_h & (dy > 0), dy, 1.0).min(1)
        down = np.where(on_h & (dy < 0), -dy, 1.0).min(1)
        return np.stack([2 * x[:, 0] - 1, 2 * y[:, 0] - 1, right, left, up, down],
                        axis=1).astype(np.float32)

    def keep(self, mask: np.ndarray) -> None:
        self.pos = self.pos[mask]

    def behavior(self) -> np.ndarray:
        return self.pos.copy()

    def solved(self, score: float) -> bool:
        """Whether an episode's return means the robot reached the goal."""
        return score > -self.layout.goal_radius


def _crosses(a: np.ndarray, b: np.ndarray, other: np.ndarray, wall: np.ndarray,
             lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Rows whose move from ``a`` to ``b`` (at ``other`` on the other axis) crosses a wall at
    ``wall`` spanning ``[lo, hi]`` on the other axis."""
    a, b, other = a[:, None], b[:, None], other[:, None]
    cross = ((a - wall) * (b - wall) <= 0) & (a != b) & (other >= lo) & (other <= hi)
    return cross.any(axis=1)


def make_maze(name: str, max_steps: int | None = None) -> Maze:
    if name not in LAYOUTS:
        raise ValueError(f"unknown maze {name!r}; choose one of {', '.join(LAYOUTS)}")
    return Maze(LAYOUTS[name], max_steps)
