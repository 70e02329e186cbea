"""A learning-rate-free optimizer of your own: DoWG ("Distance over Weighted Gradients";
Khaled, Mishchenko & Jin, "DoWG Unleashed: An Efficient Universal Parameter-Free Gradient
Descent Method", NeurIPS 2023), written here from the paper's Algorithm 1.

    r_t = max(r_{t-1}, ||x_t - x_0||)          (r_{-1} = eps_rel * (1 + ||x_0||))
    v_t = v_{t-1} + r_t^2 ||g_t||^2
    x_{t+1} = x_t - lr * (r_t^2 / sqrt(v_t)) * g_t

Norms are over all parameters together. ``lr`` is a multiplier (1.0, as in the paper): the
study's schedule (warmup, cosine) scales it, as it scales DoG's and Prodigy's. Weight decay is
decoupled (``x <- x - lr * eta_t * weight_decay * x``).
"""

from __future__ import annotations

import math

import torch


class DoWG(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1.0, eps_rel: float = 1e-4,
                 weight_decay: float = 0.0) -> None:
        if lr <= 0 or eps_rel <= 0 or weight_decay < 0:
            raise ValueError("DoWG needs lr > 0, eps_rel > 0 and weight_decay >= 0")
        super().__init__(params, {"lr": lr, "eps_rel": eps_rel, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        if not params:
            return loss
        if "x0" not in self.state[params[0]]:
            norm0 = math.sqrt(sum(float(p.pow(2).sum()) for p in params))
            r0 = self.param_groups[0]["eps_rel"] * (1.0 + norm0)
            for p in params:
                self.state[p].update(x0=p.detach().clone(), r=r0, v=0.0)
        first = self.state[params[0]]
        distance = math.sqrt(sum(float((p - self.state[p]["x0"]).pow(2).sum()) for p in params))
        r = max(first["r"], distance)
        v = first["v"] + r * r * sum(float(p.grad.pow(2).sum()) for p in params)
        eta = r * r / math.sqrt(v) if v > 0 else 0.0
        for group in self.param_groups:
            step = group["lr"] * eta
            for p in group["params"]:
                if p.grad is None:
                    continue
                if group["weight_decay"]:
                    p.mul_(1.0 - step * group["weight_decay"])
                p.add_(p.grad, alpha=-step)
        for p in params:
            self.state[p].update(r=r, v=v)
        return loss
