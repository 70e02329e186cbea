"""Seed encoding: genome -> weights, with and without the per-worker cache."""

from __future__ import annotations

import numpy as np

from searchlab.methods.deep_ga.encoding import WeightsCache, decode, noise, packed_size
from searchlab.methods.deep_ga.policies import Policy

POLICY = Policy(obs_dim=6, hidden=(8,), out_dim=3, discrete=True)


def test_decode_is_the_init_plus_sigma_times_each_seeds_noise() -> None:
    genome = (11, 22, 33)
    theta = decode(genome, POLICY, 0.1)
    expected = POLICY.init(11)
    for seed in (22, 33):
        expected = expected + np.float32(0.1) * noise(seed, POLICY.n_params)
    np.testing.assert_array_equal(theta, expected)
    assert theta.dtype == np.float32 and theta.shape == (POLICY.n_params,)
    assert not np.array_equal(theta, decode((11, 22, 34), POLICY, 0.1))


def test_cache_rebuilds_bit_identical_weights_with_one_draw_per_child() -> None:
    cache = WeightsCache(POLICY, 0.1)
    parent = (1, 2, 3, 4)
    np.testing.assert_array_equal(cache.get(parent), decode(parent, POLICY, 0.1))
    draws = cache.draws
    for child_seed in (5, 6, 7):
        child = parent + (child_seed,)
        np.testing.assert_array_equal(cache.get(child), decode(child, POLICY, 0.1))
    assert cache.draws - draws == 3  # one mutation each on top of the cached parent
    cache.get(parent + (5,))
    assert cache.hits == 1


def test_cache_keeps_to_its_byte_budget() -> None:
    nbytes = POLICY.n_params * 4
    cache = WeightsCache(POLICY, 0.1, max_bytes=3 * nbytes)
    for s in range(10):
        cache.get((s,))
    assert len(cache) == 3


def test_init_scales_weights_and_zeroes_biases() -> None:
    theta = POLICY.init(0)
    (w1, b1), (w2, b2) = POLICY.layers(theta[None, :])
    assert w1.shape == (1, 6, 8) and w2.shape == (1, 8, 3)
    assert not b1.any() and not b2.any()
    assert 0.2 < w1.std() * np.sqrt(6) < 2.0


def test_packed_size_is_four_bytes_a_seed() -> None:
    assert packed_size(tuple(range(101))) == 404
