"""The optimizers under test, each from its official package, behind one registry.

``build(name, params, hparams, steps)`` returns a :class:`Built`: the torch optimizer, a
per-step learning-rate scheduler (or None) and whether the optimizer needs ``train()`` /
``eval()`` switching (schedule-free). ``hparams`` is merged over the optimizer's *literature
defaults*; ``space`` is what calibration searches (Kasimbeg et al. 2025 calibrate the
non-learning-rate hyperparameters of the learning-rate-free methods once for all workloads).

Learning-rate-free (the learning rate stays at the package's 1.0 multiplier):

- ``dog`` -- DoG, Ivgi, Hinder & Carmon, "DoG is SGD's Best Friend" (ICML 2023); ``dog-optimizer``.
  No schedule (the paper's), no iterate averaging (the package's ``PolynomialDecayAverager`` is
  not used: evaluations see the raw iterate).
- ``dadapt_adam`` -- D-Adaptation (Adam), Defazio & Mishchenko (ICML 2023); ``dadaptation``.
  Cosine decay of the multiplier, as its README recommends.
- ``prodigy`` -- Prodigy, Mishchenko & Defazio (ICML 2024); ``prodigyopt``. Cosine decay.
- ``mechanic`` -- Mechanic, Cutkosky, Defazio & Mehta (NeurIPS 2023); ``mechanic-pytorch``
  wrapping torch's AdamW at base lr 1.0 (its README: "set the lr to anything"). Cosine decay.

Learning-rate methods (their learning rate is a default from the literature and is calibrated):

- ``schedulefree_adamw`` -- Defazio et al., "The Road Less Scheduled" (NeurIPS 2024);
  ``schedulefree``. No schedule by design; needs train/eval mode switching.
- ``lion`` -- Chen et al., "Symbolic Discovery of Optimization Algorithms" (NeurIPS 2023);
  ``lion-pytorch``; linear warmup + cosine decay.
- ``adamw``, ``nadamw`` -- torch's AdamW and NAdam(decoupled_weight_decay=True), the AlgoPerf
  baselines, with linear warmup + cosine decay to zero.

A user's optimizer is named by reference, ``"package.module:Name"``: a ``torch.optim.Optimizer``
subclass, or any factory ``Name(params, **hyperparameters) -> torch.optim.Optimizer``
(:func:`user_spec`). Its hyperparameters are keyword arguments, except ``warmup`` and
``schedule`` which this module applies (see :func:`multiplier`).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

# the optimizers whose learning-rate sensitivity is measured, the trial config keys a user
# optimizer may not use, and one calibrated hyperparameter (light: the settings module)
from searchlab.methods.lr_free.settings import BASELINES as BASELINES
from searchlab.methods.lr_free.settings import RESERVED as RESERVED
from searchlab.methods.lr_free.settings import Param as Param

#: the schedule every optimizer gets unless its defaults say otherwise (applied here, not passed
#: to the optimizer): no warmup, constant multiplier
SCHEDULE = {"warmup": 0.0, "schedule": "constant"}


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    label: str
    package: str  # the PyPI distribution it comes from ("torch" for the baselines)
    lr_free: bool
    defaults: dict[str, Any]
    space: dict[str, Param]
    factory: Callable[[Iterable[torch.nn.Parameter], dict[str, Any]], torch.optim.Optimizer]
    schedule_free: bool = False
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    user: bool = False  # named by reference in the study file

    def hyperparameters(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The defaults with ``overrides`` on top; a key neither in the defaults nor in the
        calibration space is an error."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.defaults) - set(self.space))
        if unknown:
            raise ValueError(f"{self.name} has no hyperparameter {', '.join(unknown)}; "
                             f"it has: {', '.join(dict.fromkeys([*self.defaults, *self.space]))}")
        return {**self.defaults, **overrides}


@dataclass
class Built:
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    schedule_free: bool

    def train_mode(self) -> None:
        if self.schedule_free:
            self.optimizer.train()

    def eval_mode(self) -> None:
        if self.schedule_free:
            self.optimizer.eval()

    def step(self) -> None:
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()


def multiplier(step: int, steps: int, warmup: float, schedule: str) -> float:
    """The learning-rate multiplier at ``step`` (0-based) of ``steps``: linear warmup over the
    first ``warmup`` fraction, then constant or cosine decay to zero."""
    w = int(round(warmup * steps))
    if w > 0 and step < w:
        return (step + 1) / w
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - w) / max(1, steps - w))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _dog(params, h):
    from dog import DoG

    return DoG(params, reps_rel=h["reps_rel"], lr=1.0, weight_decay=h["weight_decay"])


def _quiet(cls, *args, **kwargs):
    """Construct without the "Using decoupled weight decay" line that D-Adaptation and Prodigy
    print to stdout on every construction."""
    with contextlib.redirect_stdout(io.StringIO()):
        return cls(*args, **kwargs)


def _dadapt(params, h):
    from dadaptation import DAdaptAdam

    return _quiet(DAdaptAdam, params, lr=1.0, betas=(h["beta1"], h["beta2"]),
                      weight_decay=h["weight_decay"], decouple=h["decouple"])


def _prodigy(params, h):
    from prodigyopt import Prodigy

    return _quiet(Prodigy, params, lr=1.0, betas=(h["beta1"], h["beta2"]), d_coef=h["d_coef"],
                   weight_decay=h["weight_decay"], decouple=True,
                   safeguard_warmup=h["warmup"] > 0)


def _mechanic(params, h):
    from mechanic_pytorch import mechanize

    cls = mechanize(torch.optim.AdamW, s_decay=h["s_decay"])
    return cls(params, lr=1.0, betas=(h["beta1"], h["beta2"]), weight_decay=0.0)


def _schedulefree(params, h):
    from schedulefree import AdamWScheduleFree

    return AdamWScheduleFree(params, lr=h["lr"], betas=(h["beta1"], h["beta2"]),
                             weight_decay=h["weight_decay"], warmup_steps=h["warmup_steps"])


def _lion(params, h):
    from lion_pytorch import Lion

    return Lion(params, lr=h["lr"], betas=(h["beta1"], h["beta2"]), weight_decay=h["weight_decay"])


def _adamw(params, h):
    return torch.optim.AdamW(params, lr=h["lr"], betas=(h["beta1"], h["beta2"]),
                             weight_decay=h["weight_decay"])


def _nadamw(params, h):
    return torch.optim.NAdam(params, lr=h["lr"], betas=(h["beta1"], h["beta2"]),
                             weight_decay=h["weight_decay"], decoupled_weight_decay=True)


_ADAM_BETAS = {"beta1": Param(0.8, 0.97), "beta2": Param(0.95, 0.9999)}
_WD = Param(1e-5, 0.3, log=True)
_WARMUP = Param(0.0, 0.1)

OPTIMIZERS: dict[str, OptimizerSpec] = {s.name: s for s in [
    OptimizerSpec(
        "dog", "DoG", "dog-optimizer", True,
        {"reps_rel": 1e-6, "weight_decay": 0.0, "warmup": 0.0, "schedule": "constant"},
        {"reps_rel": Param(1e-8, 1e-2, log=True), "weight_decay": _WD,
         "schedule": Param(choices=("constant", "cosine"))}, _dog),
    OptimizerSpec(
        "dadapt_adam", "D-Adapt Adam", "dadaptation", True,
        {"beta1": 0.9, "beta2": 0.999, "weight_decay": 0.0, "decouple": False, "warmup": 0.0,
         "schedule": "cosine"},
        {**_ADAM_BETAS, "weight_decay": _WD, "decouple": Param(choices=(True, False)),
         "warmup": _WARMUP}, _dadapt),
    OptimizerSpec(
        "prodigy", "Prodigy", "prodigyopt", True,
        {"beta1": 0.9, "beta2": 0.999, "weight_decay": 0.0, "d_coef": 1.0, "warmup": 0.0,
         "schedule": "cosine"},
        {**_ADAM_BETAS, "weight_decay": _WD, "d_coef": Param(0.1, 10.0, log=True),
         "warmup": _WARMUP}, _prodigy),
    OptimizerSpec(
        "mechanic", "Mechanic (AdamW)", "mechanic-pytorch", True,
        {"s_decay": 0.01, "beta1": 0.9, "beta2": 0.999, "warmup": 0.0, "schedule": "cosine"},
        {"s_decay": Param(1e-4, 0.1, log=True), **_ADAM_BETAS, "warmup": _WARMUP}, _mechanic),
    OptimizerSpec(
        "schedulefree_adamw", "Schedule-free AdamW", "schedulefree", False,
        {"lr": 0.0025, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.0, "warmup_steps": 0,
         "warmup": 0.0, "schedule": "constant"},
        {"lr": Param(1e-4, 3e-2, log=True), "beta1": _ADAM_BETAS["beta1"],
         "weight_decay": _WD, "warmup_steps": Param(choices=(0, 10, 50))},
        _schedulefree, schedule_free=True),
    OptimizerSpec(
        "lion", "Lion", "lion-pytorch", False,
        {"lr": 1e-4, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0, "warmup": 0.05,
         "schedule": "cosine"},
        {"lr": Param(1e-5, 3e-3, log=True), "beta1": Param(0.8, 0.97),
         "beta2": Param(0.95, 0.999), "weight_decay": _WD, "warmup": _WARMUP}, _lion),
    OptimizerSpec(
        "adamw", "AdamW", "torch", False,
        {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.01, "warmup": 0.05,
         "schedule": "cosine"},
        {"lr": Param(1e-4, 3e-2, log=True), **_ADAM_BETAS, "weight_decay": _WD,
         "warmup": _WARMUP}, _adamw),
    OptimizerSpec(
        "nadamw", "NAdamW", "torch", False,
        {"lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.01, "warmup": 0.05,
         "schedule": "cosine"},
        {"lr": Param(1e-4, 3e-2, log=True), **_ADAM_BETAS, "weight_decay": _WD,
         "warmup": _WARMUP}, _nadamw),
]}


class UserFactory:
    """The optimizer a reference names, called as ``obj(params, **hyperparameters)`` without
    ``warmup`` and ``schedule`` (applied by :func:`build`). Picklable: it holds the reference."""

    def __init__(self, ref: str) -> None:
        self.ref = ref

    def __call__(self, params: list[torch.nn.Parameter], h: dict[str, Any]
                 ) -> torch.optim.Optimizer:
        from searchlab.refs import import_ref

        obj = import_ref(self.ref)  # the study's code directory is on sys.path in a trial
        if not callable(obj):
            raise TypeError(f"optimizer '{self.ref}' is a {type(obj).__name__}, not a class "
                            "or a factory")
        optimizer = obj(params, **{k: v for k, v in h.items() if k not in SCHEDULE})
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer '{self.ref}' returned a {type(optimizer).__name__}, "
                            "not a torch.optim.Optimizer")
        return optimizer


def user_spec(ref: str, defaults: dict[str, Any] | None = None,
              space: dict[str, Param] | None = None, label: str | None = None,
              lr_free: bool | None = None) -> OptimizerSpec:
    """The spec of a user's optimizer ``"package.module:Name"``: its ``defaults`` (keyword
    arguments, plus ``warmup`` and ``schedule``, default none and constant) and calibration
    ``space``. ``lr_free`` defaults to whether it has no ``lr`` among them."""
    defaults, space = dict(defaults or {}), dict(space or {})
    if lr_free is None:
        lr_free = "lr" not in defaults and "lr" not in space
    return OptimizerSpec(ref, label or ref.rpartition(":")[2], "(user)", lr_free,
                         {**SCHEDULE, **defaults}, space, UserFactory(ref), user=True)


def spec(name: str) -> OptimizerSpec:
    """A built-in optimizer's spec; a reference gets a spec with no defaults but the schedule's
    (in a trial, every hyperparameter comes with the config)."""
    if name in OPTIMIZERS:
        return OPTIMIZERS[name]
    from searchlab.refs import is_ref

    if is_ref(name):
        return user_spec(name)
    raise ValueError(f"unknown optimizer '{name}'; use one of: {', '.join(OPTIMIZERS)} "
                     "or 'package.module:Class'")


def hyperparameters(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The literature defaults of built-in ``name`` with ``overrides`` on top (unknown keys are
    errors)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer '{name}'; use one of: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name].hyperparameters(overrides)


def build(name: str, params: Iterable[torch.nn.Parameter], hparams: dict[str, Any] | None,
          steps: int) -> Built:
    """The optimizer ``name`` (built-in or ``"package.module:Name"``) over ``params`` with
    ``hparams`` (over its defaults) for a run of ``steps`` steps, with its learning-rate
    schedule: linear warmup over the ``warmup`` fraction, then ``schedule`` (constant or
    cosine), multiplying each parameter group's ``lr``. A user's optimizer that has ``train``
    and ``eval`` methods (schedule-free) is switched like schedule-free AdamW."""
    s = spec(name)
    h = {**s.defaults, **(hparams or {})} if s.user else s.hyperparameters(hparams)
    optimizer = s.factory(list(params), h)
    scheduler = None
    warmup, schedule = float(h["warmup"]), str(h["schedule"])
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    if schedule != "constant" or warmup > 0:
        if any("lr" not in g for g in optimizer.param_groups):
            raise ValueError(f"optimizer '{name}' has no 'lr' in its parameter groups, so a "
                             f"schedule ({schedule}, warmup {warmup:g}) cannot scale it; set "
                             "schedule: constant and warmup: 0")
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda t: multiplier(t, steps, warmup, schedule))
    schedule_free = s.schedule_free or (s.user and callable(getattr(optimizer, "train", None))
                                        and callable(getattr(optimizer, "eval", None)))
    return Built(optimizer, scheduler, schedule_free)


def optimizer_check(s: OptimizerSpec) -> Callable[[Any], str | None]:
    """The preflight of a user's optimizer (given the object its reference names): it builds
    on a small parameter and takes a step, with its defaults and with the low end of each
    calibration range; returns why not (one line) or None."""
    def check(obj: Any) -> str | None:
        if not callable(obj):
            return f"is a {type(obj).__name__}, not an optimizer class or factory"
        trials = [("its defaults", s.defaults)]
        if s.space:
            low = s.hyperparameters({k: p.lowest() for k, p in s.space.items()})
            trials.append(("the low end of its calibration space", low))
        for what, h in trials:
            p = torch.nn.Parameter(torch.zeros(4))
            try:
                built = build(s.name, [p], h, steps=10)
                built.train_mode()
                p.grad = torch.full_like(p, 0.1)
                built.step()
                built.eval_mode()
            except Exception as e:  # noqa: BLE001 - the user's code: say what it raised
                text = (str(e).strip().splitlines() or [""])[0][:200]
                return f"fails to build and step with {what}: {type(e).__name__}: {text}"
        return None

    return check
