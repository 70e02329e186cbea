"""The benchmark's workloads: five small, different training problems with a target and a budget.

Each workload is a module-level function ``fn(config, ctx, size="small")`` (the searchlab workload
protocol, named by reference, e.g. ``"searchlab.methods.lr_free.workloads:fashion_mlp"``). The
config names the optimizer (``optimizer``) and any of its hyperparameters (over the literature
defaults, see :mod:`.optimizers`) and a ``seed``. All share one training loop, :func:`train`:
``steps`` optimizer steps, an evaluation every ``eval_every`` steps yielding ``step``,
``train_loss``, ``val_loss``, ``val_metric`` (the workload's validation metric, always minimised),
``target``, ``reached`` (1.0 once ``val_metric <= target``) and ``seconds`` (training time so far,
evaluations excluded). A non-finite training loss ends
the run with ``val_metric = inf``. Schedule-free optimizers are switched to ``eval()`` mode for
every evaluation and back to ``train()`` for training.

Workloads (``size="small"`` runs in seconds on one CPU core; ``size="full"`` is for a GPU):

- ``fashion_mlp`` -- an MLP on Fashion-MNIST (digits when the Debian package is absent); error rate.
- ``fashion_cnn`` -- a small CNN on the same images; error rate.
- ``char_lm`` -- a character-level causal transformer on :func:`text_corpus`; loss (nats/char).
- ``tabular`` -- an MLP regressor on scikit-learn's bundled diabetes data; standardised MSE.
- ``forecast`` -- a GRU forecasting noisy sine waves (generated); MSE.

Targets play the role of AlgoPerf's validation targets: values that a well-tuned AdamW reaches
within about three quarters of the budget at that size (set by hand from pilot runs, see
docs/lr_free.md); at a different size or data set they are the ones in ``TARGETS``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from searchlab.methods.lr_free.optimizers import RESERVED, Built, build, spec
from searchlab.methods.lr_free.settings import BUDGETS as BUDGETS  # (name, size) -> steps
from searchlab.methods.lr_free.settings import WORKLOADS as WORKLOADS  # name -> reference
from searchlab.workloads.api import Context
from searchlab.workloads.datasets import image_classification, text_corpus

MODULE = "searchlab.methods.lr_free.workloads"

#: (workload, data, size) -> validation target of ``val_metric`` (lower is better)
TARGETS: dict[tuple[str, str, str], float] = {
    ("fashion_mlp", "fashion_mnist", "small"): 0.20,
    ("fashion_mlp", "digits", "small"): 0.08,
    ("fashion_mlp", "fashion_mnist", "full"): 0.12,
    ("fashion_mlp", "digits", "full"): 0.03,
    ("fashion_cnn", "fashion_mnist", "small"): 0.26,
    ("fashion_cnn", "digits", "small"): 0.10,
    ("fashion_cnn", "fashion_mnist", "full"): 0.09,
    ("fashion_cnn", "digits", "full"): 0.02,
    ("char_lm", "stdlib", "small"): 2.72,
    ("char_lm", "stdlib", "full"): 1.30,
    ("tabular", "diabetes", "small"): 0.51,
    ("tabular", "diabetes", "full"): 0.55,
    ("forecast", "generated", "small"): 0.025,
    ("forecast", "generated", "full"): 0.005,
}


def evaluations(name: str, size: str) -> int:
    """How many evaluations (reports) a built-in workload makes at ``size``."""
    steps, every = BUDGETS[(name, size)]
    return steps // every


@dataclass
class Problem:
    """What the common loop (:func:`train`) needs from a workload: a model factory, a batch
    sampler ``batch(rng) -> (x, y)``, the training loss, ``evaluate(model) -> (val_loss,
    val_metric)`` (``val_metric`` is minimised: an error rate, a loss), and -- for a workload of
    your own -- its ``budget`` ``(steps, eval_every)`` and ``target_value`` of ``val_metric``.
    ``name`` labels it; ``data`` and ``size`` pick a built-in's target and budget."""

    name: str
    data: str
    size: str
    make_model: Callable[[], nn.Module]
    batch: Callable[[np.random.Generator], tuple[torch.Tensor, torch.Tensor]]
    loss: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    evaluate: Callable[[nn.Module], tuple[float, float]]  # (val_loss, val_metric)
    budget: tuple[int, int] | None = None  # (steps, eval_every); None: BUDGETS
    target_value: float | None = None  # None: TARGETS

    def _budget(self) -> tuple[int, int]:
        if self.budget is not None:
            return self.budget
        if (self.name, self.size) not in BUDGETS:
            raise ValueError(f"workload '{self.name}' is not built in: give its Problem a "
                             "budget=(steps, eval_every)")
        return BUDGETS[(self.name, self.size)]

    @property
    def steps(self) -> int:
        return self._budget()[0]

    @property
    def eval_every(self) -> int:
        return self._budget()[1]

    @property
    def target(self) -> float:
        if self.target_value is not None:
            return self.target_value
        if (self.name, self.data, self.size) not in TARGETS:
            raise ValueError(f"workload '{self.name}' is not built in: give its Problem a "
                             "target_value (val_metric at or below it counts as reached)")
        return TARGETS[(self.name, self.data, self.size)]

    @property
    def evaluations(self) -> int:
        return self.steps // self.eval_every


def optimizer_hparams(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The optimizer's name and the hyperparameters the config sets for it: a built-in's own
    keys; for a user's optimizer (``"module:Class"``) every key but :data:`RESERVED`."""
    if "optimizer" not in config:
        raise ValueError("config has no 'optimizer'")
    name = str(config["optimizer"])
    s = spec(name)
    if s.user:
        return name, {k: v for k, v in config.items() if k not in RESERVED}
    return name, {k: config[k] for k in s.defaults if k in config}


def build_optimizer(config: dict[str, Any], params: Any, steps: int) -> Built:
    """The optimizer a trial's ``config`` names, over ``params``, with its hyperparameters and
    its schedule over ``steps`` optimizer steps: what a workload of your own calls when it does
    not use :func:`train` (call ``built.step()`` after each backward pass, ``built.train_mode()``
    before training and ``built.eval_mode()`` before each evaluation)."""
    name, hparams = optimizer_hparams(config)
    return build(name, params, hparams, steps)


def train(problem: Problem, config: dict[str, Any], ctx: Context) -> Iterator[dict[str, float]]:
    """The common training loop (see the module docstring)."""
    name, hparams = optimizer_hparams(config)
    seed = int(config.get("seed", ctx.seed))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = problem.make_model().to(ctx.device)
    built = build(name, model.parameters(), hparams, problem.steps)
    target, reached, step, seconds = problem.target, 0.0, 0, 0.0
    for _ in range(min(problem.evaluations, ctx.max_epochs)):
        model.train()
        built.train_mode()
        total, start = 0.0, time.perf_counter()
        for _ in range(problem.eval_every):
            x, y = problem.batch(rng)
            loss = problem.loss(model, x.to(ctx.device), y.to(ctx.device))
            built.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            built.step()
            step += 1
            total += float(loss.detach())
        train_loss = total / problem.eval_every
        seconds += time.perf_counter() - start
        if not math.isfinite(train_loss):
            yield {"step": float(step), "train_loss": math.inf, "val_loss": math.inf,
                   "val_metric": math.inf, "target": target, "reached": reached,
                   "seconds": seconds}
            return
        model.eval()
        built.eval_mode()
        with torch.no_grad():
            val_loss, val_metric = problem.evaluate(model)
        reached = max(reached, float(val_metric <= target))
        yield {"step": float(step), "train_loss": train_loss, "val_loss": val_loss,
               "val_metric": val_metric, "target": target, "reached": reached,
               "seconds": seconds}


def _size(size: str) -> str:
    if size not in ("small", "full"):
        raise ValueError(f"size must be 'small' or 'full', got {size!r}")
    return size


def _sampler(x: torch.Tensor, y: torch.Tensor, batch: int):
    def sample(rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(rng.integers(0, len(x), size=batch))
        return x[idx], y[idx]
    return sample


def _classification_eval(x: torch.Tensor, y: torch.Tensor, device_of: Callable[[nn.Module], Any]):
    def evaluate(model: nn.Module) -> tuple[float, float]:
        dev = device_of(model)
        logits = model(x.to(dev))
        loss = float(F.cross_entropy(logits, y.to(dev)))
        error = float((logits.argmax(1) != y.to(dev)).float().mean())
        return loss, error
    return evaluate


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x), y)


def _mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(model(x), y)


@functools.lru_cache(maxsize=4)
def _images(size: str,
            pool: int) -> tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = image_classification()
    n_train, n_val = (6000, 1000) if size == "small" else (len(data.x_train), len(data.x_test))
    xt, yt = torch.from_numpy(data.x_train[:n_train]), torch.from_numpy(data.y_train[:n_train])
    xv, yv = torch.from_numpy(data.x_test[:n_val]), torch.from_numpy(data.y_test[:n_val])
    mean, std = float(xt.mean()), float(xt.std())
    xt, xv = (xt - mean) / std, (xv - mean) / std
    if pool > 1 and data.side >= 16:
        xt, xv = F.avg_pool2d(xt, pool), F.avg_pool2d(xv, pool)
    return data.name, xt, yt, xv, yv


def fashion_mlp(config: dict[str, Any], ctx: Context,
                size: str = "small") -> Iterator[dict[str, float]]:
    """An MLP on Fashion-MNIST (digits fallback); ``val_metric`` is the error rate."""
    size = _size(size)
    data, xt, yt, xv, yv = _images(size, 1)
    xt, xv = xt.flatten(1), xv.flatten(1)
    width, depth = (64, 1) if size == "small" else (256, 2)

    def make() -> nn.Module:
        layers: list[nn.Module] = []
        d = xt.shape[1]
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        return nn.Sequential(*layers, nn.Linear(d, 10))

    batch = 64 if size == "small" else 128
    problem = Problem("fashion_mlp", data, size, make, _sampler(xt, yt, batch), _ce,
                      _classification_eval(xv, yv, _device))
    yield from train(problem, config, ctx)


def fashion_cnn(config: dict[str, Any], ctx: Context,
                size: str = "small") -> Iterator[dict[str, float]]:
    """A two-layer CNN on Fashion-MNIST (14x14 at small size; digits fallback); error rate."""
    size = _size(size)
    data, xt, yt, xv, yv = _images(size, 2 if size == "small" else 1)
    c1, c2 = (8, 16) if size == "small" else (32, 64)
    side = xt.shape[-1]
    flat = c2 * ((side // 2) // 2) ** 2

    def make() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(flat, 10))

    batch = 64 if size == "small" else 128
    problem = Problem("fashion_cnn", data, size, make, _sampler(xt, yt, batch), _ce,
                      _classification_eval(xv, yv, _device))
    yield from train(problem, config, ctx)


class _CharTransformer(nn.Module):
    """A small causal transformer over bytes (pre-norm encoder layers with a causal mask)."""

    def __init__(self, context: int, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(128, width)
        self.position = nn.Parameter(torch.zeros(context, width))
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 128)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        h = self.embed(x) + self.position[:t]
        h = self.blocks(h, mask=self.mask[:t, :t], is_causal=True)
        return self.head(self.norm(h))


@functools.lru_cache(maxsize=2)
def _text(size: str) -> tuple[torch.Tensor, torch.Tensor]:
    chars = 300_000 if size == "small" else 2_000_000
    codes = np.frombuffer(text_corpus(chars).encode("ascii"), dtype=np.uint8).astype(np.int64)
    codes = np.minimum(codes, 127)
    split = int(len(codes) * 0.9)
    return torch.from_numpy(codes[:split]), torch.from_numpy(codes[split:])


def char_lm(config: dict[str, Any], ctx: Context,
            size: str = "small") -> Iterator[dict[str, float]]:
    """A character-level transformer LM on the standard library's source; ``val_metric`` is the
    validation cross-entropy in nats per character."""
    size = _size(size)
    train_codes, val_codes = _text(size)
    context, width, layers, heads, batch = ((32, 48, 2, 2, 32) if size == "small"
                                            else (128, 256, 4, 4, 64))
    vrng = np.random.default_rng(12345)
    starts = vrng.integers(0, len(val_codes) - context - 1, size=256 if size == "small" else 2048)
    xv = torch.stack([val_codes[s:s + context] for s in starts])
    yv = torch.stack([val_codes[s + 1:s + context + 1] for s in starts])

    def sample(rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        s = rng.integers(0, len(train_codes) - context - 1, size=batch)
        return (torch.stack([train_codes[i:i + context] for i in s]),
                torch.stack([train_codes[i + 1:i + context + 1] for i in s]))

    def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x).reshape(-1, 128), y.reshape(-1))

    def evaluate(model: nn.Module) -> tuple[float, float]:
        dev = _device(model)
        value = float(loss(model, xv.to(dev), yv.to(dev)))
        return value, value

    problem = Problem("char_lm", "stdlib", size,
                      lambda: _CharTransformer(context, width, layers, heads),
                      sample, loss, evaluate)
    yield from train(problem, config, ctx)


@functools.lru_cache(maxsize=1)
def _diabetes() -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    idx = np.random.default_rng(0).permutation(len(x))
    x, y = x[idx].astype(np.float32), y[idx].astype(np.float32)
    n_val = len(x) // 4
    xt, yt, xv, yv = x[n_val:], y[n_val:], x[:n_val], y[:n_val]
    mx, sx, my, sy = xt.mean(0), xt.std(0), yt.mean(), yt.std()
    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a))
    return (t((xt - mx) / sx), t(((yt - my) / sy)[:, None]), t((xv - mx) / sx),
            t(((yv - my) / sy)[:, None]))


def tabular(config: dict[str, Any], ctx: Context,
            size: str = "small") -> Iterator[dict[str, float]]:
    """An MLP regressor on scikit-learn's bundled diabetes data (442 patients, 10 features);
    ``val_metric`` is the validation MSE of the standardised target."""
    size = _size(size)
    xt, yt, xv, yv = _diabetes()
    width = 32 if size == "small" else 128

    def make() -> nn.Module:
        return nn.Sequential(nn.Linear(10, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                             nn.Linear(width, 1))

    def evaluate(model: nn.Module) -> tuple[float, float]:
        value = float(F.mse_loss(model(xv.to(_device(model))), yv.to(_device(model))))
        return value, value

    problem = Problem("tabular", "diabetes", size, make, _sampler(xt, yt, 32), _mse, evaluate)
    yield from train(problem, config, ctx)


class _GRURegressor(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.head(out[:, -1])


@functools.lru_cache(maxsize=4)
def _waves(length: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy sine waves of random frequency, phase and amplitude: ``length`` values as input, the
    next (noise-free) value as the label."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.2, 0.8, size=(n, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    amp = rng.uniform(0.5, 1.5, size=(n, 1))
    t = np.arange(length + 1)[None, :]
    wave = amp * np.sin(freq * t + phase)
    x = wave[:, :length] + 0.05 * rng.standard_normal((n, length))
    return (torch.from_numpy(x[:, :, None].astype(np.float32)),
            torch.from_numpy(wave[:, length:].astype(np.float32)))


def forecast(config: dict[str, Any], ctx: Context,
             size: str = "small") -> Iterator[dict[str, float]]:
    """A GRU forecasting the next value of a noisy sine wave (generated); ``val_metric`` is the
    validation MSE (predicting zero scores about 0.54)."""
    size = _size(size)
    length, hidden, n = (16, 24, 4000) if size == "small" else (64, 128, 50_000)
    xt, yt = _waves(length, n, 0)
    xv, yv = _waves(length, 1000, 1)

    def evaluate(model: nn.Module) -> tuple[float, float]:
        value = float(F.mse_loss(model(xv.to(_device(model))), yv.to(_device(model))))
        return value, value

    problem = Problem("forecast", "generated", size, lambda: _GRURegressor(hidden),
                      _sampler(xt, yt, 64), _mse, evaluate)
    yield from train(problem, config, ctx)
