"""Known-answer tests of the bottom layer's updates."""

from __future__ import annotations

import numpy as np
import pytest

from searchlab.methods.cdt.bandits import (
    BANDITS,
    GLMTS,
    LinTS,
    LinUCB,
    LinUCBReg,
    OnlineLogistic,
    Ridge,
)


def test_sherman_morrison_matches_direct_solve() -> None:
    rng = np.random.default_rng(0)
    d, lam = 6, 0.7
    ridge = Ridge(d, lam)
    A, b = lam * np.eye(d), np.zeros(d)
    for _ in range(300):
        x, r = rng.normal(size=d), rng.normal()
        ridge.update(x, r)
        A += np.outer(x, x)
        b += r * x
    np.testing.assert_allclose(ridge.cov, np.linalg.inv(A), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ridge.theta, np.linalg.solve(A, b), rtol=1e-8, atol=1e-12)
    X = rng.normal(size=(5, d))
    np.testing.assert_allclose(ridge.widths(X),
                               np.sqrt(np.einsum("ij,jk,ik->i", X, np.linalg.inv(A), X)))


def test_online_logistic_is_a_newton_step_with_the_weighted_matrix() -> None:
    rng = np.random.default_rng(1)
    d = 4
    est = OnlineLogistic(d, 1.0)
    A, theta = np.eye(d), np.zeros(d)
    for _ in range(50):
        x, r = rng.normal(size=d), float(rng.random() < 0.5)
        p = 1 / (1 + np.exp(-x @ theta))
        A += max(p * (1 - p), OnlineLogistic.min_weight) * np.outer(x, x)
        theta = theta + np.linalg.solve(A, x) * (r - p)
        est.update(x, r)
    np.testing.assert_allclose(est.cov, np.linalg.inv(A), rtol=1e-8)
    np.testing.assert_allclose(est.theta, theta, rtol=1e-8, atol=1e-12)


def test_logistic_estimate_recovers_theta() -> None:
    rng = np.random.default_rng(2)
    theta = np.array([1.5, -1.0, 0.5])
    est = OnlineLogistic(3, 1.0)
    for _ in range(20_000):
        x = rng.normal(size=3)
        est.update(x, float(rng.random() < 1 / (1 + np.exp(-x @ theta))))
    np.testing.assert_allclose(est.theta, theta, atol=0.15)


def test_linucb_with_zero_alpha_is_greedy_and_alpha_adds_widths() -> None:
    rng = np.random.default_rng(3)
    b = LinUCB(3)
    for _ in range(5):
        x = rng.normal(size=3)
        b.update(x, float(x[0]))
    X = rng.normal(size=(10, 3))
    assert b.select(X, np.array([0.0]), np.zeros(3)) == int((X @ b.est.theta).argmax())
    big = 1e6
    assert b.select(X, np.array([big]), np.zeros(3)) == int(b.est.widths(X).argmax())


def test_lints_draws_from_the_posterior() -> None:
    """theta + v S z has covariance v^2 A^-1: check the sample covariance of the draws."""
    rng = np.random.default_rng(4)
    b = LinTS(3)
    for _ in range(20):
        b.update(rng.normal(size=3), rng.normal())
    v = 2.0
    draws = b.est.theta + v * (b.est.S @ rng.standard_normal((3, 40_000))).T
    np.testing.assert_allclose(np.cov(draws.T), v**2 * b.est.cov, rtol=0.05, atol=1e-4)
    # and the arm choice uses the draw: with v = 0 it is greedy
    X = rng.normal(size=(7, 3))
    assert b.select(X, np.array([0.0]), rng.standard_normal(3)) == int((X @ b.est.theta).argmax())


def test_two_parameter_linucb_matches_ridge_at_any_lambda() -> None:
    rng = np.random.default_rng(5)
    b = LinUCBReg(4)
    data = [(rng.normal(size=4), rng.normal()) for _ in range(30)]
    for x, r in data:
        b.update(x, r)
    X = rng.normal(size=(9, 4))
    for lam in (0.1, 3.0):
        ridge = Ridge(4, lam)
        for x, r in data:
            ridge.update(x, r)
        expect = int((X @ ridge.theta + 0.7 * ridge.widths(X)).argmax())
        assert b.select(X, np.array([0.7, lam]), np.zeros(4)) == expect


@pytest.mark.parametrize("name", sorted(BANDITS))
def test_theoretical_rates_are_positive_and_grow(name: str) -> None:
    b = BANDITS[name](25)
    early, late = b.theoretical(10, 0.5)[0], b.theoretical(10_000, 0.5)[0]
    assert 0 < early < late


def test_glmts_uses_logistic_model() -> None:
    assert isinstance(GLMTS(3).est, OnlineLogistic)
    assert not isinstance(LinTS(3).est, OnlineLogistic)
