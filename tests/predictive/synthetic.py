"""Synthetic learning curves whose final value is known: y_t = a * (1 - exp(-t / tau))."""

from __future__ import annotations

import numpy as np


def curve(a: float, tau: float, epochs: int) -> np.ndarray:
    t = np.arange(1, epochs + 1)
    return a * (1.0 - np.exp(-t / tau))


def pool(n: int, epochs: int, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    configs = [{"a": float(rng.uniform(0.2, 1.0)), "tau": float(rng.uniform(2.0, 6.0)),
                "opt": str(rng.choice(["sgd", "adam"]))} for _ in range(n)]
    curves = np.stack([curve(c["a"], c["tau"], epochs) + rng.normal(0, 0.003, epochs)
                       for c in configs])
    return configs, curves


def tasks(n_tasks: int, per_task: int, epochs: int,
          seed: int = 0) -> tuple[list[dict], np.ndarray, list[str]]:
    """Curves of several tasks that differ in level and speed (task k: finals shifted by k/20,
    time constants scaled): configs, curves and the task label of each curve."""
    rng = np.random.default_rng(seed)
    configs, curves, labels = [], [], []
    for k in range(n_tasks):
        shift, speed = 0.05 * k % 0.3, 1.0 + 0.25 * (k % 3)
        for _ in range(per_task):
            c = {"a": float(rng.uniform(0.2, 0.7)), "tau": float(rng.uniform(2.0, 6.0)),
                 "opt": str(rng.choice(["sgd", "adam"]))}
            configs.append(c)
            curves.append(curve(c["a"] + shift, c["tau"] * speed, epochs)
                          + rng.normal(0, 0.003, epochs))
            labels.append(f"task{k}")
    return configs, np.stack(curves), labels
