"""Bandit environments, all offline: synthetic linear / logistic, non-stationary, classification.

An environment yields its rounds in blocks (:class:`Block`): the K x d contexts of each round, the
expected reward of every arm (for the regret) and the realised reward of every arm (what the
learner sees if it pulls that arm). Drawing a block at once keeps the per-round loop free of
random-number calls, and because the draws depend only on the environment's own generator, every
tuner sees the same contexts and noise for the same seed (common random numbers).
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from searchlab.methods.cdt.datafiles import load_classification, load_contextual

FASHION_MNIST_DIRS = ("/usr/share/dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist",
                      "/usr/share/fashion-mnist")


@dataclass(frozen=True)
class Block:
    contexts: np.ndarray  # (n, K, d)
    means: np.ndarray  # (n, K) expected rewards
    rewards: np.ndarray  # (n, K) realised rewards


class Environment:
    """Base class. ``T`` rounds of ``K`` arms with ``d``-dimensional contexts."""

    K: int
    d: int
    T: int
    model: Literal["linear", "logistic"] = "linear"
    sigma: float = 0.5  # sub-Gaussian noise scale the theoretical rates assume
    theta_norm: float = 1.0  # the bound on ||theta*|| the theoretical rates assume
    reward_range: tuple[float, float] = (0.0, 1.0)  # for tuners that need bounded rewards (EXP3)

    def blocks(self, rng: np.random.Generator, size: int = 1000) -> Iterator[Block]:
        for start in range(0, self.T, size):
            yield self._block(rng, start, min(size, self.T - start))

    def _block(self, rng: np.random.Generator, start: int, n: int) -> Block:
        raise NotImplementedError


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], bound: float) -> np.ndarray:
    """Uniform draws in [-bound, bound) with 24 random bits each (single-precision draws, returned
    in double precision): half the cost of double-precision draws -- drawing the contexts is a large
    part of a run -- and far finer than anything the regret can resolve."""
    X = rng.random(shape, dtype=np.float32).astype(np.float64)
    X *= 2.0 * bound
    X -= bound
    return X


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class SyntheticBandit(Environment):
    """The paper's synthetic bandit: contexts and theta* uniform in [-1/sqrt(d), 1/sqrt(d)].

    Linear: r = x.theta* + N(0, noise^2). Logistic: r ~ Bernoulli(sigmoid(x.theta*)).
    """

    def __init__(self, rng: np.random.Generator, arms: int = 120, dim: int = 25,
                 horizon: int = 14_000, noise: float = 0.5,
                 model: Literal["linear", "logistic"] = "linear") -> None:
        self.K, self.d, self.T, self.model = arms, dim, horizon, model
        self.bound = 1.0 / math.sqrt(dim)
        self.sigma = noise if model == "linear" else 0.5
        self.theta = rng.uniform(-self.bound, self.bound, dim)
        self.reward_range = (-1.0, 1.0) if model == "linear" else (0.0, 1.0)

    def _theta_at(self, start: int, n: int) -> np.ndarray:
        return self.theta

    def _noise_at(self, start: int, n: int) -> np.ndarray:
        return np.full(n, self.sigma)

    def _block(self, rng: np.random.Generator, start: int, n: int) -> Block:
        X = _uniform(rng, (n, self.K, self.d), self.bound)
        theta = self._theta_at(start, n)  # (d,) or one row per round
        z = X @ theta if theta.ndim == 1 else np.einsum("nkd,nd->nk", X, theta)
        if self.model == "logistic":
            means = _sigmoid(z)
            rewards = (rng.random((n, self.K)) < means).astype(float)
        else:
            means = z
            rewards = z + self._noise_at(start, n)[:, None] * rng.standard_normal((n, self.K))
        return Block(X, means, rewards)


class NonStationaryBandit(SyntheticBandit):
    """A linear synthetic bandit whose regime changes at known rounds, so the best exploration rate
    moves.

    Phase i (between consecutive ``change_points``) has noise level ``phase_noise[i]``. With
    ``fresh_subspace`` each phase's contexts live on their own block of d // phases coordinates,
    so a phase is a new problem for the bandit (what it learnt before neither helps nor misleads).
    A phase with ``phase_fixed_arms[i]`` shows the same K arm vectors every round (plus a small
    jitter): contexts without diversity, where a greedy bandit locks onto a wrong arm and
    exploration pays; the other phases draw fresh uniform contexts, where exploring barely helps.
    ``redraw_theta`` draws a fresh theta* at every change point (without fresh subspaces it makes
    the bandit's past data misleading).
    """

    def __init__(self, rng: np.random.Generator, arms: int = 120, dim: int = 25,
                 horizon: int = 14_000, change_points: tuple[int, ...] = (3_500, 7_000, 10_500),
                 phase_noise: tuple[float, ...] = (1.0, 0.05, 1.0, 0.05),
                 redraw_theta: bool = False,
                 fresh_subspace: bool = True,
                 phase_fixed_arms: tuple[bool, ...] | None = (True, False, True, False),
                 jitter: float = 0.1) -> None:
        phases = len(change_points) + 1
        if len(phase_noise) != phases:
            raise ValueError("phase_noise needs one entry per phase (len(change_points) + 1)")
        if phase_fixed_arms is not None and len(phase_fixed_arms) != phases:
            raise ValueError("phase_fixed_arms needs one entry per phase (len(change_points) + 1)")
        if fresh_subspace and dim < phases:
            raise ValueError("fresh_subspace needs dim >= number of phases")
        super().__init__(rng, arms, dim, horizon, max(phase_noise), "linear")
        self.change_points = tuple(change_points)
        self.phase_noise = np.asarray(phase_noise, dtype=float)
        self.thetas = np.stack([self.theta] + [
            rng.uniform(-self.bound, self.bound, dim) if redraw_theta else self.theta
            for _ in change_points])
        width = dim // phases if fresh_subspace else dim
        self.coords = [slice(i * width, (i + 1) * width) if fresh_subspace else slice(0, dim)
                       for i in range(phases)]
        fixed = phase_fixed_arms or (False,) * phases
        self.arm_vectors = [rng.uniform(-self.bound, self.bound, (arms, width)) if f else None
                            for f in fixed]
        self.jitter = jitter

    def phase(self, t: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.asarray(self.change_points), t, side="right")

    def _block(self, rng: np.random.Generator, start: int, n: int) -> Block:
        ph = self.phase(np.arange(start, start + n))
        X = np.zeros((n, self.K, self.d))
        means = np.empty((n, self.K))
        for i in np.unique(ph):
            rows = ph == i
            m, c = int(rows.sum()), self.coords[i]
            width = c.stop - c.start
            Xi = _uniform(rng, (m, self.K, width), self.bound)
            if self.arm_vectors[i] is not None:
                Xi = self.arm_vectors[i] + self.jitter * Xi
            X[rows, :, c] = Xi
            means[rows] = Xi @ self.thetas[i][c]
        rewards = means + self.phase_noise[ph][:, None] * rng.standard_normal((n, self.K))
        return Block(X, means, rewards)


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and integer labels of a bundled scikit-learn data set or of Fashion-MNIST."""
    if name == "fashion_mnist":
        return _load_fashion_mnist()
    from sklearn import datasets

    loaders = {"digits": datasets.load_digits, "iris": datasets.load_iris,
               "wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}
    if name not in loaders:
        raise ValueError(f"unknown dataset '{name}'; use one of "
                         f"{', '.join([*loaders, 'fashion_mnist'])}")
    X, y = loaders[name](return_X_y=True)
    return X.astype(float), y.astype(int)


def _read_idx(path: Path) -> np.ndarray:
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _load_fashion_mnist() -> tuple[np.ndarray, np.ndarray]:
    for folder in map(Path, FASHION_MNIST_DIRS):
        images = sorted(folder.glob("**/train-images-idx3-ubyte*"))
        labels = sorted(folder.glob("**/train-labels-idx1-ubyte*"))
        if images and labels:
            X = _read_idx(images[0]).reshape(-1, 28 * 28).astype(float) / 255.0
            return X, _read_idx(labels[0]).astype(int)
    raise FileNotFoundError("Fashion-MNIST not found (install the Debian package "
                            f"dataset-fashion-mnist; looked in {', '.join(FASHION_MNIST_DIRS)})")


def fashion_mnist_available() -> bool:
    try:
        _load_fashion_mnist()
    except FileNotFoundError:
        return False
    return True


class ClassificationBandit(Environment):
    """Multi-class classification as a bandit: classes are arms, reward 1 for the right class.

    Features are standardised, reduced to ``pca_dim`` components by PCA and scaled to unit norm;
    arm k's context is the feature vector placed in block k of a (classes * pca_dim)-vector (the
    disjoint-model encoding), so a shared-theta bandit learns one linear scorer per class.
    Each round draws one example uniformly at random (with replacement). ``file`` reads the
    user's own data set instead of a bundled one (CSV, .npz or .npy: see
    :mod:`searchlab.methods.cdt.datafiles`).
    """

    def __init__(self, rng: np.random.Generator, dataset: str | None = "digits", pca_dim: int = 8,
                 horizon: int = 5_000, max_examples: int = 20_000, file: str | None = None,
                 label: str = "label") -> None:
        from sklearn.decomposition import PCA

        if file is not None:  # the user's data set (searchlab.methods.cdt.datafiles)
            X, y = load_classification(file, label)
        else:
            X, y = load_dataset(dataset or "digits")
        if len(X) > max_examples:
            keep = rng.choice(len(X), max_examples, replace=False)
            X, y = X[keep], y[keep]
        X = (X - X.mean(0)) / (X.std(0) + 1e-9)
        Z = PCA(n_components=min(pca_dim, X.shape[1]), random_state=0).fit_transform(X)
        Z /= np.linalg.norm(Z, axis=1, keepdims=True) + 1e-12
        classes = np.unique(y)
        self.features, self.labels = Z, np.searchsorted(classes, y)
        self.p = Z.shape[1]
        self.K, self.d, self.T = len(classes), len(classes) * self.p, horizon
        self.sigma, self.theta_norm, self.reward_range = 0.5, 1.0, (0.0, 1.0)

    def _block(self, rng: np.random.Generator, start: int, n: int) -> Block:
        idx = rng.integers(len(self.labels), size=n)
        means = (self.labels[idx][:, None] == np.arange(self.K)[None, :]).astype(float)
        return Block(disjoint(self.features[idx], self.K), means, means)


def disjoint(features: np.ndarray, arms: int) -> np.ndarray:
    """Shared contexts (n x p) -> per-arm contexts (n x K x K*p): arm k's context is the row
    placed in block k, so a bandit with one shared theta learns one linear scorer per arm."""
    n, p = features.shape
    X = np.zeros((n, arms, arms, p))
    ar = np.arange(arms)
    X[:, ar, ar, :] = features[:, None, :]
    return X.reshape(n, arms, arms * p)


class DataBandit(Environment):
    """A user's contextual data as a bandit: every round shows one row's contexts; pulling arm k
    pays that row's ``rewards[k]``.

    Rows are drawn uniformly at random with replacement (``order="random"``: each seed sees its
    own sequence) or played in the file's order (``order="file"``, at most one pass). Shared
    contexts (one per row) get the disjoint encoding (:func:`disjoint`); per-arm contexts are
    used as they are. ``normalize`` divides every context by the largest context norm in the file,
    so that ``||x|| <= 1`` as the linear bandits' confidence bounds assume. The regret of a round
    is the best arm's reward minus the pulled arm's, on the expected rewards (``means``) where the
    file gives them, else on the realised ones. ``sigma`` (for the theoretical rates) is the
    rewards' standard deviation around the means, or around each arm's average without them.
    """

    def __init__(self, rng: np.random.Generator, file: str, horizon: int | None = None,
                 arms: int | None = None, order: str = "random", normalize: bool = True) -> None:
        data = load_contextual(file, arms)
        contexts = data.contexts
        if normalize:
            norms = np.linalg.norm(contexts, axis=-1)
            contexts = contexts / max(float(norms.max()), 1e-12)
        self.contexts, self.rewards = contexts, data.rewards
        self.means = data.means if data.means is not None else data.rewards
        self.shared = contexts.ndim == 2
        self.K = data.arms
        self.d = data.arms * data.features if self.shared else data.features
        self.T = data.rows if horizon is None else horizon
        if order == "file" and self.T > data.rows:
            raise ValueError(f"{file}: horizon {self.T} is longer than the file ({data.rows} rows) "
                             "with order: file")
        self.order = order
        resid = data.rewards - (data.means if data.means is not None else data.rewards.mean(0))
        self.sigma = max(float(resid.std()), 1e-3)
        self.reward_range = (float(data.rewards.min()), float(data.rewards.max()))
        if self.reward_range[0] == self.reward_range[1]:
            self.reward_range = (self.reward_range[0], self.reward_range[0] + 1.0)

    def _block(self, rng: np.random.Generator, start: int, n: int) -> Block:
        if self.order == "file":
            idx = np.arange(start, start + n)
        else:
            idx = rng.integers(len(self.rewards), size=n)
        X = disjoint(self.contexts[idx], self.K) if self.shared else self.contexts[idx]
        return Block(X, self.means[idx], self.rewards[idx])
