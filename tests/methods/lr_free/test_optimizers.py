"""Every optimizer, from its package, makes progress on a tiny problem through the common loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from searchlab.methods.lr_free.optimizers import OPTIMIZERS, build, hyperparameters, multiplier
from searchlab.methods.lr_free.workloads import Problem, train
from searchlab.workloads.api import Context


def tiny_problem(calls: list[str] | None = None) -> Problem:
    g = torch.Generator().manual_seed(0)
    w = 0.2 * torch.randn(8, 1, generator=g)
    xt = torch.randn(512, 8, generator=g)
    yt = xt @ w
    xv = torch.randn(128, 8, generator=g)
    yv = xv @ w

    def sample(rng: np.random.Generator):
        idx = torch.from_numpy(rng.integers(0, len(xt), size=64))
        return xt[idx], yt[idx]

    def evaluate(model: nn.Module):
        if calls is not None:
            calls.append("eval")
        value = float(F.mse_loss(model(xv), yv))
        return value, value

    return Problem("tiny", "generated", "small", lambda: nn.Linear(8, 1), sample,
                   lambda m, x, y: F.mse_loss(m(x), y), evaluate, budget=(150, 50),
                   target_value=0.01)


def initial_loss() -> float:
    torch.manual_seed(0)
    model = nn.Linear(8, 1)
    problem = tiny_problem()
    with torch.no_grad():
        return problem.evaluate(model)[0]


# Lion's literature default lr (1e-4) is too small to move in 150 steps: it is tested at 1e-2
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_makes_progress(name: str) -> None:
    overrides = {"lr": 1e-2} if name == "lion" else {}
    rows = list(train(tiny_problem(), {"optimizer": name, "seed": 0, **overrides},
                      Context(max_epochs=100)))
    assert [r["step"] for r in rows] == [50.0, 100.0, 150.0]
    assert all(np.isfinite(r["val_metric"]) for r in rows)
    assert rows[-1]["val_metric"] < 0.7 * initial_loss(), (name, rows[-1]["val_metric"])


def test_schedule_free_is_evaluated_in_eval_mode() -> None:
    torch.manual_seed(0)
    model = nn.Linear(8, 1)
    built = build("schedulefree_adamw", model.parameters(), None, 10)
    built.train_mode()
    assert built.optimizer.param_groups[0]["train_mode"] is True
    built.eval_mode()
    assert built.optimizer.param_groups[0]["train_mode"] is False
    # the common loop leaves it in eval mode after each evaluation
    calls: list[str] = []
    rows = list(train(tiny_problem(calls), {"optimizer": "schedulefree_adamw", "seed": 0},
                      Context(max_epochs=1)))
    assert len(rows) == 1 and calls == ["eval"]


def test_warmup_cosine_multiplier() -> None:
    assert multiplier(0, 100, 0.1, "cosine") == pytest.approx(0.1)
    assert multiplier(9, 100, 0.1, "cosine") == pytest.approx(1.0)
    assert multiplier(10, 100, 0.1, "cosine") == pytest.approx(1.0)
    assert multiplier(55, 100, 0.1, "cosine") == pytest.approx(0.5)
    assert multiplier(100, 100, 0.1, "cosine") == pytest.approx(0.0)
    assert multiplier(70, 100, 0.0, "constant") == 1.0


def test_unknown_names_are_one_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        hyperparameters("adam")
    with pytest.raises(ValueError, match="no hyperparameter momentum"):
        hyperparameters("adamw", {"momentum": 0.9})
