"""digits_mlp: a torch MLP on scikit-learn's bundled 8x8 digits (1,797 images, no download).

Parameters (all optional, with defaults): ``lr``, ``hidden``, ``layers``, ``dropout``,
``batch_size``, ``weight_decay``, and ``optimizer`` as a conditional choice of ``sgd``
(``optimizer.sgd.momentum``) or ``adam`` (``optimizer.adam.beta2``). Reports ``train_loss``,
``val_loss`` and ``val_accuracy`` once per epoch, and checkpoints model and optimizer state so
paused (PBT, Hyperband) and resumed trials continue where they stopped.

torch and scikit-learn are imported when a trial runs: checking a study (``searchlab validate``)
reads only this module and :func:`_ready`, which names the package that is missing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from searchlab.workloads.api import Context

if TYPE_CHECKING:
    import torch
    from torch import nn


@functools.lru_cache(maxsize=1)
def _data(seed: int = 0) -> tuple[torch.Tensor, ...]:
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    x = (x[idx] / 16.0).astype(np.float32)
    y = y[idx].astype(np.int64)
    n_val = len(x) // 5
    return (torch.from_numpy(x[n_val:]), torch.from_numpy(y[n_val:]),
            torch.from_numpy(x[:n_val]), torch.from_numpy(y[:n_val]))


def build_model(config: dict[str, Any]) -> nn.Module:
    from torch import nn

    hidden, layers = int(config.get("hidden", 64)), int(config.get("layers", 1))
    dropout = float(config.get("dropout", 0.0))
    mods: list[nn.Module] = []
    width = 64
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    mods.append(nn.Linear(width, 10))
    return nn.Sequential(*mods)


def build_optimizer(config: dict[str, Any], params: Any) -> torch.optim.Optimizer:
    import torch

    lr = float(config.get("lr", 1e-2))
    wd = float(config.get("weight_decay", 0.0))
    name = config.get("optimizer", "adam")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr,
                               momentum=float(config.get("optimizer.sgd.momentum", 0.0)),
                               weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr,
                                betas=(0.9, float(config.get("optimizer.adam.beta2", 0.999))),
                                weight_decay=wd)
    raise ValueError(f"digits_mlp: unknown optimizer {name!r} (sgd or adam)")


def digits_mlp(config: dict[str, Any], ctx: Context) -> Iterator[dict[str, float]]:
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(ctx.seed)
    device = torch.device(ctx.device)
    xtr, ytr, xva, yva = (t.to(device) for t in _data())
    model = build_model(config).to(device)
    opt = build_optimizer(config, model.parameters())
    batch = int(config.get("batch_size", 64))
    start = 1
    if ctx.restored is not None:
        model.load_state_dict(ctx.restored["model"])
        opt.load_state_dict(ctx.restored["optimizer"])
        start = ctx.restored["epoch"] + 1
    gen = torch.Generator().manual_seed(ctx.seed)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(start, ctx.max_epochs + 1):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen).to(device)
        total = 0.0
        for i in range(0, len(xtr), batch):
            b = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xtr[b]), ytr[b])
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        model.eval()
        with torch.no_grad():
            logits = model(xva)
            val_loss = loss_fn(logits, yva).item()
            acc = (logits.argmax(1) == yva).float().mean().item()
        ctx.checkpoint({"epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict()})
        yield {"train_loss": total / len(xtr), "val_loss": val_loss, "val_accuracy": acc}


def _ready(**_: Any) -> str | None:
    """Why ``digits_mlp`` cannot run here (a package it needs is not installed), or None."""
    from searchlab.preflight import missing

    return missing("torch", "sklearn")


digits_mlp.preflight = _ready  # type: ignore[attr-defined]
