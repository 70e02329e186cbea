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
    FixedTrials,
    Method,
    MethodSettings,
    MethodTraits,
    Objective,
    TrialRequest,
    TrialResult,
    invalid,
)
from searchlab.methods.stn.settings import STNSettings

if TYPE_CHECKING:
    from searchlab.methods.stn.hyper import HyperSpec
    from searchlab.spec.models import Study
    from searchlab.workloads.api import Context

WORKLOAD = "searchlab.methods.stn.method:stn_workload"
METRIC = Objective("val_loss", "min")


#: per model: the hyperparameters it tunes, and those that must be integers. The model classes
#: declare the same (``models.MODELS[m].HYPERS`` / ``.DISCRETE``, a test keeps the two in step);
#: this copy lets a study be checked without importing torch.
TUNABLE: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "mlp": (frozenset({"dropout_in", "dropout1", "dropout2", "noise", "weight_decay"}),
            frozenset()),
    "cnn": (frozenset({"noise", "shift", "cutout_length", "cutout_holes", "cutmix_prob",
                       "dropout_conv", "dropout_fc", "weight_decay"}), frozenset({"cutout_holes"})),
    "lstm": (frozenset({"dropout_in", "dropout_hidden", "dropout_out", "weight_decay"}),
             frozenset()),
}


def spec_fields(settings: STNSettings, study: Study) -> list[dict[str, Any]]:
    """The tuned hyperparameters from the study's space, as the fields of
    :class:`~searchlab.methods.stn.hyper.HyperSpec` (plain data: no torch here); ValueError (one
    line, pointing at the key) for anything the model cannot tune. A user's model is checked
    against its ``HYPERS`` by the preflight (its code is imported there, not when the study file
    is read); here the kind follows the space (``int``: discrete)."""
    from searchlab.spec.space import Float, Int

    if study.space is None or not study.space.params:
        raise ValueError("stn needs a 'space' with the hyperparameters to tune")
    hypers, discrete = (None, frozenset()) if settings.user_model else TUNABLE[settings.model]
    ints = f"; {', '.join(sorted(discrete))}: int" if discrete else ""
    supported = "" if hypers is None else (
        f"; model '{settings.model}' tunes {', '.join(sorted(hypers))} "
        f"(uniform or loguniform{ints})")
    specs = []
    for name, p in study.space.walk():
        if hypers is not None and name not in hypers:
            raise invalid(f"space parameter '{name}': not a hyperparameter stn can tune"
                          f"{supported}", "space", name)
        if name in discrete or (hypers is None and isinstance(p, Int)):
            if not isinstance(p, Int) or p.log or p.step != 1:
                raise invalid(f"space parameter '{name}': must be {{int: [low, high]}}"
                              f"{supported}", "space", name)
            kind, low, high = "int", float(p.low), float(p.high)
            default = low
        else:
            if not isinstance(p, Float) or p.step:
                raise invalid(f"space parameter '{name}': must be {{uniform: [a, b]}} or "
                              f"{{loguniform: [a, b]}}{supported}", "space", name)
            kind, low, high = ("loguniform" if p.log else "uniform"), p.low, p.high
            default = (math.exp(math.log(low) + 0.05 * (math.log(high) - math.log(low)))
                       if p.log else low + 0.05 * (high - low))
        init = settings.init.get(name, default)
        if not low <= init <= high:
            raise invalid(f"hyperparameter '{name}': initial value {init} is outside "
                          f"[{low}, {high}]", "method", "init", name)
        specs.append({"name": name, "kind": kind, "low": low, "high": high, "init": init})
    unknown = sorted(set(settings.init) - {s["name"] for s in specs})
    if unknown:
        raise invalid(f"method.init names '{unknown[0]}', which is not in the space",
                      "method", "init", unknown[0])
    return specs


def hyper_specs(settings: STNSettings, study: Study) -> list[HyperSpec]:
    """The tuned hyperparameters as :class:`~searchlab.methods.stn.hyper.HyperSpec`."""
    from searchlab.methods.stn.hyper import HyperSpec

    return [HyperSpec(**fields) for fields in spec_fields(settings, study)]


def trial_configs(settings: STNSettings, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat, JSON-able config per (variant, seed); ``specs`` as :func:`spec_fields` gives."""
    hypers = json.dumps(specs)
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
    tunes), with STN's data, optimiser and evaluation (``settings``: an ``STNSettings`` mapping,
    which may name a user's model and data with an absolute ``path``).
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


class STNRun(FixedTrials):
    """One trial per (variant, seed)."""

    def __init__(self, settings: STNSettings, specs: list[dict[str, Any]]) -> None:
        super().__init__([
            TrialRequest(config=c, length=settings.epochs, workload=WORKLOAD,
                         tags={"method": "stn", "stn.variant": c["variant"]})
            for c in trial_configs(settings, specs)])
        self.settings = settings
        self.init = {s["name"]: s["init"] for s in specs}

    def summarize(self, results: list[TrialResult]) -> Analysis:
        from searchlab.methods.stn.analysis import summarize

        return summarize(results, list(self.init), self.init, describe_problem(self.settings))


def describe_problem(s: STNSettings) -> str:
    """What the runs train, in a few words (``model on data, N epochs``)."""
    data = "text corpus" if s.model == "lstm" else s.data
    return f"{s.model} on {data}, {s.epochs} epochs ({s.warmup_epochs} warm-up)"


class STNMethod(Method[STNSettings]):
    name: ClassVar[str] = "stn"
    settings_model: ClassVar[type[MethodSettings]] = STNSettings
    TRAITS: ClassVar[MethodTraits] = MethodTraits(space="required", draws_own_analysis=True,
                                                  independent_trials=True,
                                                  budget_settings=("seeds",))

    def check(self, study: Study) -> None:
        spec_fields(self.settings, study)

    def objective(self, study: Study) -> Objective:
        return METRIC

    def start(self, study: Study) -> STNRun:
        return STNRun(self.settings, spec_fields(self.settings, study))

    def preflight(self, study: Study) -> None:
        """torch is installed; a user's model and data (``searchlab.methods.stn.problem``)
        import, fit the space, and take one training and one evaluation pass on two examples."""
        from searchlab.preflight import missing

        why = missing("torch")
        if why:
            raise ValueError(why)
        s = self.settings
        if s.user_model or s.user_data:
            from searchlab.methods.stn.problem import check_problem

            check_problem(s, hyper_specs(s, study))

    def describe(self, study: Study) -> list[str]:
        s = self.settings
        where = f" (code in {s.path})" if s.path and (s.user_model or s.user_data) else ""
        examples = (f"up to {s.train_size:,} training examples" if s.train_size
                    else "the training examples but the validation set")
        per_epoch = f" ({max(1, s.train_size // s.batch_size):,} weight steps)" \
            if s.train_size and s.model != "lstm" else ""
        return [f"trials     {len(s.variants) * s.seeds} ({', '.join(s.variants)} x {s.seeds} "
                f"seed(s)), {study.concurrency_text}, {s.epochs} epochs each",
                f"           trains {describe_problem(s)}{where}",
                f"           a trial: {s.warmup_epochs} warm-up epochs of weight steps, "
                f"then {s.epochs - s.warmup_epochs} of {s.train_steps} weight steps per "
                f"{s.valid_steps} hyperparameter step(s)",
                f"           an epoch: {examples} in batches of {s.batch_size}{per_epoch}, "
                f"up to {s.val_size:,} for validation"]
