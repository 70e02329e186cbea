"""Hyperparameters as trainable parameters: transforms, perturbations and the entropy term.

Self-Tuning Networks (MacKay, Vicol, Lorraine, Duvenaud & Grosse, ICLR 2019) keep every
hyperparameter as an unconstrained real ``u`` mapped onto its range, perturb it during training
with a learned scale ``sigma`` (``u + eps``, ``eps ~ N(0, sigma^2)``, one draw per example), and add
``tau * H[p(eps | sigma)]`` to the hyperparameter objective so that the scale does not collapse.

Continuous ranges come from the study's ``space``:

- ``uniform: [a, b]``   -> ``a + (b - a) * sigmoid(u)``
- ``loguniform: [a, b]`` -> ``exp(log a + (log b - log a) * sigmoid(u))``

Discrete hyperparameters (``int: [a, b]``, e.g. the number of cutout holes) are a categorical
distribution over ``a..b`` with learned logits; each example draws its own value and the
hyperparameter step uses the REINFORCE estimator (score function with the batch mean as
baseline), as the paper does for non-differentiable hyperparameters. Its entropy joins the
entropy term, so the distribution plays the role of the perturbation.

The hypernetwork input is ``u + eps`` (STN) or ``(u + eps) - u.detach()`` (Delta-STN's centred
parameterisation, which is zero at the current hyperparameters); discrete values enter as
``(n - a) / (b - a)`` in ``[0, 1]`` (centred on the detached mean for Delta-STN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class HyperSpec:
    """One tuned hyperparameter: its range and starting value."""

    name: str
    kind: str  # "uniform" | "loguniform" | "int"
    low: float
    high: float
    init: float

    def __post_init__(self) -> None:
        if self.kind not in ("uniform", "loguniform", "int"):
            raise ValueError(f"hyperparameter '{self.name}': unsupported kind '{self.kind}'")
        if not self.low < self.high:
            raise ValueError(f"hyperparameter '{self.name}': needs low < high, got "
                             f"[{self.low}, {self.high}]")
        if self.kind == "loguniform" and self.low <= 0:
            raise ValueError(f"hyperparameter '{self.name}': loguniform needs low > 0")
        if not self.low <= self.init <= self.high:
            raise ValueError(f"hyperparameter '{self.name}': initial value {self.init} is outside "
                             f"[{self.low}, {self.high}]")

    @property
    def discrete(self) -> bool:
        return self.kind == "int"

    @property
    def size(self) -> int:
        """Number of values of a discrete hyperparameter."""
        return int(self.high) - int(self.low) + 1

    def to_value(self, u: torch.Tensor) -> torch.Tensor:
        """Unconstrained -> the hyperparameter's range (continuous kinds)."""
        s = torch.sigmoid(u)
        if self.kind == "loguniform":
            lo, hi = math.log(self.low), math.log(self.high)
            return torch.exp(lo + (hi - lo) * s)
        return self.low + (self.high - self.low) * s

    def to_unconstrained(self, value: float) -> float:
        if self.kind == "loguniform":
            frac = ((math.log(value) - math.log(self.low))
                    / (math.log(self.high) - math.log(self.low)))
        else:
            frac = (value - self.low) / (self.high - self.low)
        frac = min(max(frac, 1e-4), 1 - 1e-4)  # the ends are limits of the sigmoid
        return math.log(frac / (1 - frac))


@dataclass
class HyperSample:
    """Hyperparameters for one batch: per-example values, the hypernetwork input, and the
    per-example log-probability of the discrete draws (0 without discrete hyperparameters)."""

    values: dict[str, torch.Tensor]  # name -> (B,)
    net_input: torch.Tensor  # (B, n_hyper)
    log_prob: torch.Tensor  # (B,)


class Hyperparameters(nn.Module):
    """The tuned hyperparameters of one STN run (see the module docstring)."""

    def __init__(self, specs: list[HyperSpec], perturb_scale: float = 0.5) -> None:
        super().__init__()
        self.specs = list(specs)
        self.continuous = [s for s in self.specs if not s.discrete]
        self.discrete = [s for s in self.specs if s.discrete]
        self.u = nn.Parameter(torch.tensor([s.to_unconstrained(s.init) for s in self.continuous],
                                           dtype=torch.float32))
        self.log_sigma = nn.Parameter(torch.full((len(self.continuous),),
                                                 math.log(perturb_scale)))
        self.logits = nn.ParameterList()
        for s in self.discrete:
            logits = torch.full((s.size,), -2.0)
            logits[int(round(s.init)) - int(s.low)] = 2.0  # most mass on the initial value
            self.logits.append(nn.Parameter(logits))

    @property
    def size(self) -> int:
        return len(self.specs)

    def sample(self, batch: int, *, perturb: bool, centred: bool) -> HyperSample:
        """One draw per example. ``perturb=False`` gives the current values (discrete: the mode)."""
        dev = self.u.device
        values: dict[str, torch.Tensor] = {}
        inputs = []
        u = self.u.expand(batch, -1)
        if perturb and self.continuous:
            u = u + torch.randn(batch, len(self.continuous), device=dev) * self.log_sigma.exp()
        for j, s in enumerate(self.continuous):
            values[s.name] = s.to_value(u[:, j])
        if self.continuous:
            inputs.append(u - self.u.detach() if centred else u)
        log_prob = torch.zeros(batch, device=dev)
        for s, logits in zip(self.discrete, self.logits):
            dist = torch.distributions.Categorical(logits=logits)
            k = dist.sample((batch,)) if perturb else logits.argmax().expand(batch)
            log_prob = log_prob + dist.log_prob(k)
            values[s.name] = (k + int(s.low)).float()
            x = k.float() / (s.size - 1)
            if centred:
                x = x - ((dist.probs.detach() * torch.arange(s.size, device=dev)).sum()
                         / (s.size - 1))
            inputs.append(x[:, None])
        net_input = torch.cat(inputs, 1) if inputs else torch.zeros(batch, 0, device=dev)
        return HyperSample(values, net_input, log_prob)

    def entropy(self) -> torch.Tensor:
        """Entropy of the perturbation distribution (Gaussian part up to a constant)."""
        h = self.log_sigma.sum()
        for logits in self.logits:
            h = h + torch.distributions.Categorical(logits=logits).entropy()
        return h

    @torch.no_grad()
    def current(self) -> dict[str, float]:
        """Every hyperparameter's current value (discrete: the distribution's mean)."""
        out = {s.name: float(s.to_value(self.u[j])) for j, s in enumerate(self.continuous)}
        for s, logits in zip(self.discrete, self.logits):
            p = torch.softmax(logits, 0)
            out[s.name] = float((p * torch.arange(s.size, dtype=p.dtype)).sum()) + int(s.low)
        return out

    @torch.no_grad()
    def scales(self) -> dict[str, float]:
        """The perturbation scale of each continuous hyperparameter (unconstrained units)."""
        return {s.name: float(self.log_sigma[j].exp()) for j, s in enumerate(self.continuous)}


def reinforce_surrogate(losses: torch.Tensor, log_prob: torch.Tensor) -> torch.Tensor:
    """Score-function surrogate whose gradient is REINFORCE's for ``E[loss]`` (batch-mean
    baseline); add it to the differentiable loss. Zero in value."""
    if losses.numel() < 2:
        return torch.zeros((), device=losses.device)
    adv = (losses - losses.mean()).detach()
    surrogate = (adv * log_prob).mean()
    return surrogate - surrogate.detach()
