"""Batched policies: one forward pass evaluates many individuals, each with its own weights.

A policy is a multi-layer perceptron whose parameters are one flat float32 vector per
individual (``Policy.n_params`` long; each layer's weight matrix, then its bias). For a batch of
``B`` rows (an environment instance each, belonging to some individual) the flat vectors are
stacked into ``(B, n_params)`` and every layer is one batched matrix product
``(B, 1, in) @ (B, in, out)`` -- numpy's ``matmul`` on the CPU, ``torch.bmm`` with
``backend="torch"`` (on ``cuda`` when the trial has a GPU). Discrete actions are the argmax of
the outputs (a deterministic policy, as in Such et al.); continuous actions are ``tanh``, mapped
onto the action box ``[low, high]`` when the environment gives finite bounds (a Gymnasium
``Box``). A user's own torch module is :mod:`.modules`.

Initialisation (Such et al. use standard initialisation, then mutate every weight): weights
``N(0, 1/fan_in)``, biases 0, drawn from the individual's first seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Policy:
    """An MLP layout ``obs_dim -> hidden... -> out_dim`` (``n_actions`` > 0: discrete)."""

    obs_dim: int
    hidden: tuple[int, ...]
    out_dim: int
    discrete: bool
    activation: str = "tanh"
    low: tuple[float, ...] | None = None  # continuous actions: the box tanh is mapped onto
    high: tuple[float, ...] | None = None

    @property
    def sizes(self) -> list[int]:
        return [self.obs_dim, *self.hidden, self.out_dim]

    @property
    def shapes(self) -> list[tuple[int, int]]:
        s = self.sizes
        return list(zip(s[:-1], s[1:]))

    @property
    def n_params(self) -> int:
        return sum(i * o + o for i, o in self.shapes)

    def init(self, seed: int) -> np.ndarray:
        """The initial flat parameters drawn from ``seed``."""
        noise = np.random.default_rng(seed).standard_normal(self.n_params, dtype=np.float32)
        out = np.zeros(self.n_params, dtype=np.float32)
        offset = 0
        for i, o in self.shapes:
            out[offset:offset + i * o] = noise[offset:offset + i * o] / np.float32(np.sqrt(i))
            offset += i * o + o
        return out

    def layers(self, flat: Any) -> list[tuple[Any, Any]]:
        """Views of stacked flat parameters ``(B, n_params)`` as ``[(W (B,in,out), b (B,out))]``."""
        out, offset = [], 0
        for i, o in self.shapes:
            w = flat[:, offset:offset + i * o].reshape(-1, i, o)
            b = flat[:, offset + i * o:offset + i * o + o]
            out.append((w, b))
            offset += i * o + o
        return out

    def act(self, flat: Any, obs: Any) -> Any:
        """Actions of every row: ``flat`` is ``(B, n_params)``, ``obs`` is ``(B, obs_dim)``, both
        numpy arrays or both torch tensors (on the same device)."""
        return self.forward(self.layers(flat), obs)

    def forward(self, layers: list[tuple[Any, Any]], obs: Any) -> Any:
        """:meth:`act` on the views :meth:`layers` returned (saves re-slicing every step)."""
        is_np = isinstance(obs, np.ndarray)
        h = obs
        for k, (w, b) in enumerate(layers):
            h = (np.matmul(h[:, None, :], w) if is_np else _bmm(h, w))[:, 0, :] + b
            if k < len(layers) - 1:
                h = _activate(h, self.activation, is_np)
        if self.discrete:
            return h.argmax(1) if is_np else h.argmax(1).cpu().numpy()
        a = np.tanh(h) if is_np else h.tanh().cpu().numpy()
        if self.low is not None and self.high is not None:
            low, high = np.asarray(self.low), np.asarray(self.high)
            a = low + (a + 1) * (0.5 * (high - low))
        return a


def _bmm(h: Any, w: Any) -> Any:
    import torch

    return torch.bmm(h[:, None, :], w)


def _activate(h: Any, name: str, is_np: bool) -> Any:
    if name == "relu":
        return np.maximum(h, 0) if is_np else h.clamp_min(0)
    return np.tanh(h) if is_np else h.tanh()
