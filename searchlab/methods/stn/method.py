"""``method: {name: stn}``: Self-Tuning Networks as a searchlab method.

The hyperparameters and their ranges come from the study's ``space`` (``uniform``/``loguniform``
for continuous ones, ``int`` for discrete ones such as ``cutout_holes``); a ``search:`` block is
refused, since STN tunes the hyperparameters itself inside one training run. The run asks for one
trial per (variant, seed); each trial hypertrains (:func:`train.hypertrain`) and reports per epoch
the losses, accuracies and every hyperparameter's current value, so MLflow holds the learned
schedules step by step. ``summarize`` plots the schedules and tabulates the runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from searchlab.methods.base import (
    Analysis,
    Method,
    MethodRun,
    MethodSettings,
    Objective,
    TrialRequest,
    TrialResult,
)
from searchlab.methods.stn.settings import STNSettings

if TYPE_CHECKING:
    from searchlab.methods.stn.hyper import HyperSpec
    from searchlab.spec.models import Study
    from searchlab.workloads.api import Context

WORKLOAD = "searchlab.methods.stn.method:stn_workload"
METRIC = Objective("val_loss", "min")


def _model_hypers(settings: STNSettings) -> tuple[dict[str, str] | None, frozenset[str]]:
    """The names the model tunes and its discrete ones; (None, ...) for a user's model, whose
    names are checked by the preflight (its code is found relative to the study file)."""
    if settings.user_model:
        return None, frozenset()
    from searchlab.methods.stn.models import MODELS

    cls = MODELS[settings.model]
    return cls.tunable(), cls.DISCRETE


def hyper_specs(settings: STNSettings, study: Study) -> list[HyperSpec]:
    """The tuned hyperparameters from the study's space; ValueError (one line) for anything the
    model cannot tune. For a user's model the kind follows the space (``int``: discrete)."""
    from searchlab.methods.stn.hyper import HyperSpec
    from searchlab.spec.space import Float, Int

    if study.space is None or not study.space.params:
        raise ValueError("stn needs a 'space' with the hyperparameters to tune")
    hypers, discrete = _model_hypers(settings)
    supported = "" if hypers is None else (
        f"; model '{settings.model}' tunes {', '.join(sorted(hypers))} (uniform or loguniform"
        f"{'; ' + ', '.join(sorted(discrete)) + ': int' if discrete else ''})")
    specs = []
    for name, p in study.space.walk():
        if hypers is not None and name not in hypers:
            raise ValueError(f"space parameter '{name}': not a hyperparameter stn can tune"
                             f"{supported}")
        if name in discrete or (hypers is None and isinstance(p, Int)):
            if not isinstance(p, Int) or p.log or p.step != 1:
                raise ValueError(f"space parameter '{name}': must be {{int: [low, high]}}"
                                 f"{supported}")
            kind, low, high = "int", float(p.low), float(p.high)
            default = low
        else:
            if not isinstance(p, Float) or p.step:
                raise ValueError(f"space parameter '{name}': must be {{uniform: [a, b]}} or "
                                 f"{{loguniform: [a, b]}}{supported}")
            kind, low, high = ("loguniform" if p.log else "uniform"), p.low, p.high
            default = (math.exp(math.log(low) + 0.05 * (math.log(high) - math.log(low)))
                       if p.log else low + 0.05 * (high - low))
        try:
            specs.append(HyperSpec(name, kind, low, high, settings.init.get(name, default)))
        except ValueError as e:
            raise ValueError(str(e)) from None
    unknown = sorted(set(settings.init) - {s.name for s in specs})
    if unknown:
        raise ValueError(f"method.init names '{unknown[0]}', which is not in the space")
    return specs


def trial_configs(settings: STNSettings, specs: list[HyperSpec]) -> list[dict[str, Any]]:
    """One flat, JSON-able config per (variant, seed)."""
    hypers = json.dumps([s.__dict__ for s in specs])
    body = settings.model_dump_json()
    return [{"variant": v, "seed": seed, "model": settings.model, "epochs": settings.epochs,
             "hypers": hypers, "settings": body}
            for v in settings.variants
            for seed in range(settings.first_seed, settings.first_seed + settings.seeds)]


def stn_workload(config: dict[str, Any], ctx: Context) -> Iterator[dict[str, float]]:
    """One STN (or Delta-STN) run, or the plain network at the initial values (``plain``); per
    epoch: losses, accuracies, every hyperparameter (constant for ``plain``)."""
    import torch

    from searchlab.methods.stn.hyper import HyperSpec
    from searchlab.methods.stn.train import hypertrain, train_fixed

    s = STNSettings.model_validate_json(config["settings"])
    specs = [HyperSpec(**d) for d in json.loads(config["hypers"])]
    torch.set_num_threads(s.threads)
    seed = int(config["seed"])
    if config["variant"] == "plain":
        init = {h.name: h.init for h in specs}
        for row in train_fixed(s, init, seed=seed, device=ctx.device):
            yield {**row, **init}
        return
    yield from hypertrain(s, specs, delta=config["variant"] == "delta_stn", seed=seed,
                          device=ctx.device)


def fixed_workload(config: dict[str, Any], ctx: Context, settings: dict[str, Any] | None = None,
                   seed: int = 0) -> Iterator[dict[str, float]]:
    """The baseline STN is compared with, as an ordinary searchlab workload: the plain network
    (no modulation branch) trained at the fixed hyperparameters in ``config`` (the names STN
    tunes), with STN's data, optimiser and evaluation (``settings``: an ``STNSettings`` mapping).
    The trial's seed is ``seed`` plus a hash of its config, so trials differ but reruns agree.
    Per epoch: ``train_loss``, ``val_loss``, ``best_val_loss``, test metrics at the best epoch,
    ``seconds`` and ``cpu_seconds``."""
    import zlib

    import torch

    from searchlab.methods.stn.problem import model_class
    from searchlab.methods.stn.train import train_fixed

    s = STNSettings.model_validate(settings or {})
    hypers = model_class(s).tunable()
    unknown = sorted(set(config) - set(hypers))
    if unknown:
        raise ValueError(f"config names '{unknown[0]}', which model '{s.model}' does not take; "
                         f"it takes {', '.join(sorted(hypers))}")
    torch.set_num_threads(s.threads)
    trial_seed = seed + zlib.crc32(json.dumps(config, sort_keys=True).encode()) % 100_000
    yield from train_fixed(s, {k: float(v) for k, v in config.items()}, seed=trial_seed,
                           device=ctx.device)


class STNRun(MethodRun):
    def __init__(self, settings: STNSettings, specs: list[HyperSpec]) -> None:
        self.settings, self.specs = settings, specs
        self.pending = trial_configs(settings, specs)
        self.n = len(self.pending)

    def ask(self, trial_id: str) -> TrialRequest | None:
        if not self.pending:
            return None
        config = self.pending.pop(0)
        return TrialRequest(config=config, length=self.settings.epochs, workload=WORKLOAD,
                            tags={"method": "stn", "stn.variant": config["variant"]})

    @property
    def done(self) -> bool:
        return not self.pending

    @property
    def total(self) -> int:
        return self.n

    def summarize(self, results: list[TrialResult]) -> Analysis:
        from searchlab.methods.stn.analysis import summarize

        init = {h.name: h.init for h in self.specs}
        return summarize(results, list(init), init, describe_problem(self.settings))


def describe_problem(s: STNSettings) -> str:
    """What the runs train, in a few words (``model on data, N epochs``)."""
    data = "text corpus" if s.model == "lstm" else s.data
    return f"{s.model} on {data}, {s.epochs} epochs ({s.warmup_epochs} warm-up)"


class STNMethod(Method):
    name: ClassVar[str] = "stn"
    settings_model: ClassVar[type[MethodSettings]] = STNSettings
    needs: ClassVar[tuple[str, ...]] = ("space",)
    refuses: ClassVar[tuple[str, ...]] = ("search",)

    def check(self, settings: MethodSettings, study: Study) -> None:
        hyper_specs(_settings(settings), study)

    def objective(self, settings: MethodSettings, study: Study) -> Objective:
        return METRIC

    def start(self, settings: MethodSettings, study: Study) -> STNRun:
        s = _settings(settings)
        return STNRun(s, hyper_specs(s, study))

    # ---- the user's own model and data (searchlab.methods.stn.problem)
    def preflight(self, settings: MethodSettings, study: Study) -> None:
        s = _settings(settings)
        if s.user_model or s.user_data:
            from searchlab.methods.stn.problem import check_problem

            check_problem(s, hyper_specs(s, study))

    def describe(self, settings: MethodSettings, study: Study) -> list[str]:
        s = _settings(settings)
        where = f" (code in {s.path})" if s.path else ""
        return [f"trains     {describe_problem(s)}{where}",
                f"runs       {', '.join(s.variants)} x {s.seeds} seed(s)"]


def _settings(settings: MethodSettings) -> STNSettings:
    if not isinstance(settings, STNSettings):
        raise TypeError(f"expected STNSettings, got {type(settings).__name__}")
    return settings
