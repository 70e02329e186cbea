"""The user's side of a Deep GA study: an environment factory, a policy network and a behaviour
characterization, each named in study.yaml as ``pendulum_ga:<name>``.

searchlab imports this module from the study file's directory (or the method block's ``path``)
in the process that checks the study, in every trial and in every pool worker, so it must not
depend on the current directory.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn


def make_env(gravity: float = 10.0) -> gym.Env:
    """The environment: any ``gymnasium.Env``. Here Gymnasium's Pendulum-v1 (a 200-step swing-up
    with a torque in [-2, 2]) with its gravity as an argument (``env_args`` in the study)."""
    return gym.make("Pendulum-v1", g=gravity)


class TorquePolicy(nn.Module):
    """An MLP from (cos theta, sin theta, angular velocity) to a torque in the action box."""

    def __init__(self, obs_dim: int, act_dim: int, high: np.ndarray, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, act_dim))
        # a buffer, not a parameter: the GA evolves parameters only
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # (B, 3) -> (B, 1)
        return torch.tanh(self.net(obs)) * self.high


def policy(observation_space: gym.spaces.Box, action_space: gym.spaces.Box) -> nn.Module:
    """The policy factory: called with the environment's spaces; the GA draws each individual's
    initial weights as this module initialises them, under its own torch seed."""
    return TorquePolicy(observation_space.shape[0], action_space.shape[0], action_space.high)


def swing(observations: np.ndarray, rewards: np.ndarray) -> list[float]:
    """A behaviour characterization for novelty search (``behavior:`` in the study): how high
    the pendulum's tip got (max cos theta) and how fast it turned at the end. Called once per
    episode with its observations (T + 1, 3) and rewards (T,)."""
    cos, _, velocity = observations.T
    return [float(cos.max()), float(velocity[-1]) / 8.0]
