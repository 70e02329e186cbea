"""A workload of your own for the lr_free method: a small MLP classifier on scikit-learn's
bundled breast-cancer data (569 patients, 30 features; no download), trained by the lr_free
method's common loop with whichever optimizer the trial's config names.

``val_metric`` is the validation cross-entropy (nats; lower is better). The target, 0.075, was
set from pilot runs: NAdamW at lr 1e-2 reaches it at step 40 of 100 (seeds 0 and 1), at its
default lr 2e-3 never (0.18 at the end).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from searchlab.methods.lr_free import Problem, train

TARGET = 0.075  # validation cross-entropy counted as reached
BUDGET = (100, 10)  # 100 optimizer steps, an evaluation every 10


@functools.lru_cache(maxsize=1)
def _data() -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order].astype(np.float32), y[order].astype(np.int64)
    n_val = len(x) // 4
    mean, std = x[n_val:].mean(0), x[n_val:].std(0)
    x = (x - mean) / std
    return (torch.from_numpy(x[n_val:]), torch.from_numpy(y[n_val:]),
            torch.from_numpy(x[:n_val]), torch.from_numpy(y[:n_val]))


def cancer_mlp(config, ctx, size="small"):
    """Train a 30-32-2 MLP with the optimizer in ``config``; yields lr_free's metrics."""
    xt, yt, xv, yv = _data()

    def batch(rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(rng.integers(0, len(xt), size=32))
        return xt[idx], yt[idx]

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x), y)

    def evaluate(model: nn.Module) -> tuple[float, float]:
        value = float(F.cross_entropy(model(xv), yv))
        return value, value  # (val_loss, val_metric)

    problem = Problem(
        name="cancer_mlp", data="breast_cancer", size=size,
        make_model=lambda: nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 2)),
        batch=batch, loss=loss, evaluate=evaluate, budget=BUDGET, target_value=TARGET)
    yield from train(problem, config, ctx)
