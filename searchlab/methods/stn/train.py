"""Hypertraining: alternate weight steps and hyperparameter steps (STN and Delta-STN).

STN (MacKay et al., ICLR 2019, Algorithm 1)::

    for each round:
        train_steps x: eps ~ p(eps | sigma);
                       w <- w - lr grad_w L_train(lambda + eps, w(lambda + eps))
        valid_steps x: eps ~ p(eps | sigma);
                       (lambda, sigma) <- (lambda, sigma)
                                          - hyper_lr grad (L_val(w(lambda + eps)) - tau H)

The validation loss sees the hyperparameters only through the best-response approximation
``w(lambda)`` (no dropout or augmentation on validation data). Discrete hyperparameters get
REINFORCE gradients (:func:`hyper.reinforce_surrogate`). The first ``warmup_epochs`` take weight
steps only.

Delta-STN (Bae & Grosse, NeurIPS 2020) fixes two sources of STN's instability, and both are here
with ``delta=True``:

- centred parameterisation: the hypernetwork input is ``lambda - lambda0`` (``lambda0`` = the
  current hyperparameters, detached), so ``w(lambda) = w0 + Phi (lambda - lambda0)`` and the base
  weights ``w0`` are the weights *at* the current hyperparameters;
- linearisation: in the weight step the base weights get the gradient of the loss of the
  unmodulated network, and the response ``Phi`` the gradient of the loss of the first-order
  Taylor expansion of the network's outputs, ``y(w0) + J_w y Phi eps``. Both come out of one
  forward pass in forward-mode AD (the modulation's primal is zero, its tangent ``Phi eps``).
  The regularisers use the perturbed hyperparameters in both terms (a simplification of the
  paper, where ``w0`` sees the unperturbed ones).

:func:`train_fixed` trains the plain network (no modulation branch) at fixed hyperparameters:
the baseline STN is compared with, sharing batching, optimiser and evaluation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import torch
import torch.autograd.forward_ad as fwAD

from searchlab.methods.stn.hyper import Hyperparameters, HyperSpec, reinforce_surrogate
from searchlab.methods.stn.models import StnModel
from searchlab.methods.stn.problem import Split, build_model, load_split
from searchlab.methods.stn.settings import STNSettings

__all__ = ["Split", "build_model", "evaluate", "finite", "hypertrain", "load_split", "train_fixed"]

EVAL_CHUNK = 2000


@torch.no_grad()
def evaluate(model: StnModel, x: torch.Tensor, y: torch.Tensor,
             e: torch.Tensor | None) -> tuple[float, float]:
    """Mean loss and accuracy of the clean network on (x, y) in eval mode; ``e``: a (1, dim)
    embedding."""
    model.eval()
    loss, hit = 0.0, 0.0
    for i in range(0, len(x), EVAL_CHUNK):
        xb, yb = x[i:i + EVAL_CHUNK], y[i:i + EVAL_CHUNK]
        out = model.logits(xb, None if e is None else e.expand(len(xb), -1))
        loss += float(model.loss(out, yb).sum())
        hit += float(model.correct(out, yb).sum())
    return loss / len(x), hit / len(x)


def _weight_decay(model: StnModel, values: dict[str, torch.Tensor]) -> torch.Tensor | float:
    if "weight_decay" not in values:
        return 0.0
    wd = values["weight_decay"].detach().mean()
    return 0.5 * wd * sum((p * p).sum() for p in model.decayed_parameters())


class _Batches:
    """Endless random mini-batches of one data set (a fresh permutation per pass)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, size: int, gen: torch.Generator) -> None:
        self.x, self.y, self.size, self.gen = x, y, min(size, len(x)), gen
        self.order, self.pos = torch.randperm(len(x), generator=gen), 0

    @property
    def per_epoch(self) -> int:
        return max(1, len(self.x) // self.size)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pos + self.size > len(self.x):
            self.order, self.pos = torch.randperm(len(self.x), generator=self.gen), 0
        idx = self.order[self.pos:self.pos + self.size].to(self.x.device)
        self.pos += self.size
        return self.x[idx], self.y[idx]


def hypertrain(s: STNSettings, specs: list[HyperSpec], *, delta: bool, seed: int,
               split: Split | None = None, device: str = "cpu",
               trace: list[dict[str, float]] | None = None) -> Iterator[dict[str, float]]:
    """Run STN (or Delta-STN) hypertraining; yield metrics after every epoch: ``train_loss``
    (perturbed, regularised), ``val_loss``/``val_accuracy`` of the network at the current
    hyperparameters, ``best_val_loss`` and ``test_loss``/``test_accuracy`` at that best epoch,
    every hyperparameter's value, ``sigma.<name>``, and ``seconds`` (wall) and ``cpu_seconds`` (this
    process) since the start. ``trace`` (optional) receives the hyperparameters after every
    hyperparameter step."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    split = (split or load_split(s)).to(device)
    hyp = Hyperparameters(specs, s.perturb_scale).to(device)
    model = build_model(s, split, hyp.size, hyper=True).to(device)
    opt_w = torch.optim.SGD(model.parameters(), lr=s.lr, momentum=s.momentum)
    opt_h = torch.optim.RMSprop(list(hyp.parameters()), lr=s.hyper_lr)
    train = _Batches(split.x_train, split.y_train, s.batch_size, gen)
    schedule = _lr_schedule(s, opt_w, train.per_epoch)
    val = _Batches(split.x_val, split.y_val, s.batch_size, gen)
    start, cpu, step, best = time.perf_counter(), time.process_time(), 0, {}
    for epoch in range(1, s.epochs + 1):
        total = 0.0
        for _ in range(train.per_epoch):
            x, y = train.next()
            total += (_delta_weight_step if delta else _weight_step)(
                model, hyp, opt_w, x, y, s.clip)
            schedule.step()
            step += 1
            if epoch > s.warmup_epochs and step % s.train_steps == 0:
                for _ in range(s.valid_steps):
                    _hyper_step(model, hyp, opt_h, *val.next(), s.entropy_weight, delta)
                if trace is not None:
                    trace.append({"step": step,
                                  "epoch": epoch - 1 + (step % train.per_epoch
                                                        or train.per_epoch) / train.per_epoch,
                                  **hyp.current()})
        yield {"train_loss": total / train.per_epoch,
               **_eval_metrics(model, hyp, split, delta, best), **hyp.current(),
               **{f"sigma.{k}": v for k, v in hyp.scales().items()},
               "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}


def _lr_schedule(s: STNSettings, opt: torch.optim.Optimizer, per_epoch: int
                 ) -> torch.optim.lr_scheduler.LRScheduler:
    """The weights' learning rate per step: constant, or cosine decay to 0 over the run."""
    if s.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.epochs * per_epoch)
    return torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)


def _clip(model: StnModel, clip: float | None) -> None:
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)


def _weight_step(model: StnModel, hyp: Hyperparameters, opt: torch.optim.Optimizer,
                 x: torch.Tensor, y: torch.Tensor, clip: float | None) -> float:
    with torch.no_grad():
        h = hyp.sample(len(x), perturb=True, centred=False)
    model.train()
    out, loss_fn = model.train_forward(x, y, h.values, model.embedding(h.net_input))
    loss = loss_fn(out).mean()
    opt.zero_grad(set_to_none=True)
    (loss + _weight_decay(model, h.values)).backward()
    _clip(model, clip)
    opt.step()
    return float(loss.detach())


def _delta_weight_step(model: StnModel, hyp: Hyperparameters, opt: torch.optim.Optimizer,
                       x: torch.Tensor, y: torch.Tensor, clip: float | None) -> float:
    """Delta-STN: base weights on the unmodulated loss, the response on the linearised one."""
    with torch.no_grad():
        h = hyp.sample(len(x), perturb=True, centred=True)
    model.train()
    with fwAD.dual_level():
        net_in = fwAD.make_dual(torch.zeros_like(h.net_input), h.net_input)
        out, loss_fn = model.train_forward(x, y, h.values, model.embedding(net_in))
        primal, tangent = fwAD.unpack_dual(out)
    base_loss = loss_fn(primal).mean()
    lin_loss = loss_fn(primal.detach() + tangent).mean() if tangent is not None else None
    opt.zero_grad(set_to_none=True)
    (base_loss + _weight_decay(model, h.values)).backward(retain_graph=lin_loss is not None)
    if lin_loss is not None:
        response = model.response_parameters()
        grads = torch.autograd.grad(lin_loss, response, allow_unused=True)
        for p, g in zip(response, grads):
            if g is not None:
                p.grad = g if p.grad is None else p.grad + g
    _clip(model, clip)
    opt.step()
    return float(base_loss.detach())


def _hyper_step(model: StnModel, hyp: Hyperparameters, opt: torch.optim.Optimizer,
                x: torch.Tensor, y: torch.Tensor, tau: float, delta: bool) -> None:
    h = hyp.sample(len(x), perturb=True, centred=delta)
    model.eval()  # the validation loss of the clean network (batch norm: running statistics)
    losses = model.loss(model.logits(x, model.embedding(h.net_input)), y)
    objective = losses.mean() + reinforce_surrogate(losses, h.log_prob) - tau * hyp.entropy()
    params = [p for p in hyp.parameters() if p.numel()]
    grads = torch.autograd.grad(objective, params, allow_unused=True)  # no weight gradients
    for p, g in zip(params, grads):
        p.grad = g
    opt.step()


def _eval_metrics(model: StnModel, hyp: Hyperparameters | None, split: Split, delta: bool,
                  best: dict[str, float]) -> dict[str, float]:
    """Validation metrics now; test metrics (where the data has a test set) at the best
    validation loss so far (the test set is evaluated only when the validation loss improves).
    ``best`` carries them between epochs."""
    e = None
    if hyp is not None and model.embed is not None:
        with torch.no_grad():
            e = model.embedding(hyp.sample(1, perturb=False, centred=delta).net_input)
    vl, va = evaluate(model, split.x_val, split.y_val, e)
    if not best:
        best.update(best_val_loss=math.nan)
        if split.has_test:
            best.update(test_loss=math.nan, test_accuracy=math.nan)
    if not vl >= best["best_val_loss"]:  # an improvement, or the first finite value
        best.update(best_val_loss=vl)
        if split.x_test is not None and split.y_test is not None:
            tl, ta = evaluate(model, split.x_test, split.y_test, e)
            best.update(test_loss=tl, test_accuracy=ta)
    return {"val_loss": vl, "val_accuracy": va, **best}


def train_fixed(s: STNSettings, values: dict[str, float], *, seed: int,
                split: Split | None = None, device: str = "cpu") -> Iterator[dict[str, float]]:
    """Plain training of the same model (no modulation branch) at fixed hyperparameters; the same
    metrics per epoch as :func:`hypertrain` (without the hyperparameter schedule)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    split = (split or load_split(s)).to(device)
    model = build_model(s, split, 0, hyper=False).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=s.lr, momentum=s.momentum)
    train = _Batches(split.x_train, split.y_train, s.batch_size, gen)
    schedule = _lr_schedule(s, opt, train.per_epoch)
    start, cpu, best = time.perf_counter(), time.process_time(), {}
    for _ in range(s.epochs):
        total = 0.0
        for _ in range(train.per_epoch):
            x, y = train.next()
            vals = {k: torch.full((len(x),), float(v), device=device) for k, v in values.items()}
            model.train()
            out, loss_fn = model.train_forward(x, y, vals, None)
            loss = loss_fn(out).mean()
            opt.zero_grad(set_to_none=True)
            (loss + _weight_decay(model, vals)).backward()
            _clip(model, s.clip)
            opt.step()
            schedule.step()
            total += float(loss.detach())
        yield {"train_loss": total / train.per_epoch,
               **_eval_metrics(model, None, split, False, best),
               "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}


def finite(metrics: dict[str, Any]) -> bool:
    return all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))
