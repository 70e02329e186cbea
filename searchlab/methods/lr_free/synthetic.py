"""A synthetic workload with a known optimum, for tests and tiny studies (no training).

The validation metric decays as ``exp(-rate * k)`` over evaluations ``k = 1..evaluations``
(``step = 10 k``), with ``rate = 0.6 / (1 + d)`` and ``d`` the squared distance of the
optimizer's hyperparameters from the optimum: ``log10(lr / optimum_lr)^2`` when the optimizer has
a learning rate plus ``((beta1 - optimum_beta1) / 0.05)^2`` when it has a ``beta1``. So the
time to the target (0.05) is shortest at the optimum, and calibration should find it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from searchlab.workloads.api import Context

TARGET = 0.05


def distance(hparams: dict[str, Any], optimum_lr: float, optimum_beta1: float) -> float:
    d = 0.0
    if "lr" in hparams:
        d += math.log10(float(hparams["lr"]) / optimum_lr) ** 2
    if "beta1" in hparams:
        d += ((float(hparams["beta1"]) - optimum_beta1) / 0.05) ** 2
    return d


def synthetic(config: dict[str, Any], ctx: Context, size: str = "small", optimum_lr: float = 3e-3,
              optimum_beta1: float = 0.9, evaluations: int = 20) -> Iterator[dict[str, float]]:
    """See the module docstring; ``size`` is accepted and ignored."""
    from searchlab.methods.lr_free.optimizers import spec
    from searchlab.methods.lr_free.workloads import optimizer_hparams

    name, h = optimizer_hparams(config)
    s = spec(name)  # a user's optimizer (by reference): its hyperparameters are all in config
    rate = 0.6 / (1.0 + distance(h if s.user else s.hyperparameters(h), optimum_lr,
                                 optimum_beta1))
    rng = np.random.default_rng(int(config.get("seed", ctx.seed)))
    reached = 0.0
    for k in range(1, min(evaluations, ctx.max_epochs) + 1):
        value = math.exp(-rate * k) * (1.0 + 0.01 * float(rng.standard_normal()))
        reached = max(reached, float(value <= TARGET))
        yield {"step": 10.0 * k, "train_loss": value, "val_loss": value, "val_metric": value,
               "target": TARGET, "reached": reached, "seconds": 0.0}
