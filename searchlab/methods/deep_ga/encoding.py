"""Compact encoding: an individual is a list of seeds (Such et al. 2017, sec. 3).

A genome ``(s0, s1, ..., sn)`` stands for the parameters

    theta_0 = init(s0)                    (the policy's initialisation drawn from s0)
    theta_k = theta_{k-1} + sigma * eps(s_k)   eps(s) ~ N(0, I) drawn from seed s

so an individual after ``n`` generations is ``n + 1`` integers however large the network: only
genomes and scores cross process boundaries, and the weights are rebuilt where they are used.
Rebuilding from scratch costs ``n + 1`` noise draws; :class:`WeightsCache` keeps recently built
parameter vectors per worker (a parent's weights, for one), so a child costs one draw on top
of its cached parent and the cost does not grow with the number of generations. The float32
additions happen in the same order whichever way a genome is rebuilt, so cached and uncached
rebuilds are bit-identical.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from searchlab.methods.deep_ga.policies import Policy

Genome = tuple[int, ...]
SEED_BITS = 31


def noise(seed: int, n: int) -> np.ndarray:
    """The standard normal mutation direction of ``seed`` (float32, length ``n``)."""
    return np.random.default_rng(seed).standard_normal(n, dtype=np.float32)


def mutate(theta: np.ndarray, seed: int, sigma: float) -> np.ndarray:
    """``theta + sigma * eps(seed)`` as a new array."""
    return theta + np.float32(sigma) * noise(seed, theta.size)


def decode(genome: Genome, policy: Policy, sigma: float) -> np.ndarray:
    """The parameters of ``genome``, rebuilt from scratch."""
    theta = policy.init(genome[0])
    for seed in genome[1:]:
        theta = mutate(theta, seed, sigma)
    return theta


def packed_size(genome: Genome) -> int:
    """Bytes to store ``genome`` as unsigned 32-bit integers."""
    return 4 * len(genome)


class WeightsCache:
    """Recently built parameter vectors of one policy layout and sigma, least recently used
    evicted first once they hold more than ``max_bytes``."""

    def __init__(self, policy: Policy, sigma: float, max_bytes: int = 256 * 2**20) -> None:
        self.policy, self.sigma = policy, sigma
        self.max_bytes = max_bytes
        self._items: OrderedDict[Genome, np.ndarray] = OrderedDict()
        self.hits = self.misses = self.draws = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, genome: Genome) -> np.ndarray:
        """The parameters of ``genome`` (read-only: the cache keeps the array)."""
        found = self._items.get(genome)
        if found is not None:
            self.hits += 1
            self._items.move_to_end(genome)
            return found
        self.misses += 1
        start, theta = self._longest_prefix(genome)
        if theta is None:
            theta = self.policy.init(genome[0])
            self.draws += 1
            start = 1
        for k in range(start, len(genome)):
            theta = mutate(theta, genome[k], self.sigma)
            self.draws += 1
            if k == len(genome) - 2:
                self._put(genome[:-1], theta)  # the parent: its other children will want it
        self._put(genome, theta)
        return theta

    def _longest_prefix(self, genome: Genome) -> tuple[int, np.ndarray | None]:
        for k in range(len(genome) - 1, 0, -1):
            found = self._items.get(genome[:k])
            if found is not None:
                self._items.move_to_end(genome[:k])
                return k, found
        return 0, None

    def _put(self, genome: Genome, theta: np.ndarray) -> None:
        theta.flags.writeable = False
        self._items[genome] = theta
        self._items.move_to_end(genome)
        limit = max(self.max_bytes // max(theta.nbytes, 1), 2)
        while len(self._items) > limit:
            self._items.popitem(last=False)
