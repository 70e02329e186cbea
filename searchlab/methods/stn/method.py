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


def _model_hypers(model: str) -> tuple[dict[str, str], frozenset[str]]:
    from searchlab.methods.stn.models import MODELS

    cls = MODELS[model]
    return cls.HYPERS, cls.DISCRETE


def spec_fields(settings: STNSettings, study: Study) -> list[dict[str, Any]]:
    """The tuned hyperparameters from the study's space, as the fields of
    :class:`~searchlab.methods.stn.hyper.HyperSpec` (plain data: no torch here); ValueError (one
    line, pointing at the key) for anything the model cannot tune."""
    from searchlab.spec.space import Float, Int

    if study.space is None or not study.space.params:
        raise ValueError("stn needs a 'space' with the hyperparameters to tune")
    hypers, discrete = TUNABLE[settings.model]
    ints = f"; {', '.join(sorted(discrete))}: int" if discrete else ""
    supported = (f"model '{settings.model}' tunes {', '.join(sorted(hypers))} "
                 f"(uniform or loguniform{ints})")
    specs = []
    for name, p in study.space.walk():
        if name not in hypers:
            raise invalid(f"space parameter '{name}': not a hyperparameter stn can tune; "
                          f"{supported}", "space", name)
        if name in discrete:
            if not isinstance(p, Int) or p.log or p.step != 1:
                raise invalid(f"space parameter '{name}': must be {{int: [low, high]}}; "
                              f"{supported}", "space", name)
            kind, low, high = "int", float(p.low), float(p.high)
            default = low
        else:
            if not isinstance(p, Float) or p.step:
                raise invalid(f"space parameter '{name}': must be {{uniform: [a, b]}} or "
                              f"{{loguniform: [a, b]}}; {supported}", "space", name)
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
    """One STN (or Delta-STN) run; per epoch: losses, accuracies, every hyperparameter."""
    import torch

    from searchlab.methods.stn.hyper import HyperSpec
    from searchlab.methods.stn.train import hypertrain

    s = STNSettings.model_validate_json(config["settings"])
    specs = [HyperSpec(**d) for d in json.loads(config["hypers"])]
    torch.set_num_threads(s.threads)
    seed = int(config["seed"])
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

    from searchlab.methods.stn.train import train_fixed

    s = STNSettings.model_validate(settings or {})
    hypers, _ = _model_hypers(s.model)
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
        self.names = [s["name"] for s in specs]

    def summarize(self, results: list[TrialResult]) -> Analysis:
        return summarize(results, self.names)


def summarize(results: list[TrialResult], names: list[str]) -> Analysis:
    """Schedules figure (one panel per hyperparameter, one line per run), a table of runs, and
    the mean best validation loss per variant."""
    from plotly.subplots import make_subplots

    rows, by_variant = [], {}
    fig = make_subplots(rows=len(names) + 1, cols=1, shared_xaxes=True,
                        subplot_titles=[*names, "val_loss"], vertical_spacing=0.04)
    for r in results:
        variant, seed = r.request.config.get("variant"), r.request.config.get("seed")
        hist = [h for h in r.history if "val_loss" in h]
        if not hist:
            rows.append({"trial": r.trial_id, "variant": variant, "seed": seed, "status": r.status})
            continue
        best = min(hist, key=lambda h: h["val_loss"])
        rows.append({"trial": r.trial_id, "variant": variant, "seed": seed, "status": r.status,
                     "best_val_loss": best["val_loss"], "best_epoch": best["epoch"],
                     "test_loss_at_best": best.get("test_loss"),
                     "test_accuracy_at_best": best.get("test_accuracy"),
                     "seconds": hist[-1].get("seconds"),
                     **{f"final.{n}": hist[-1].get(n) for n in names}})
        by_variant.setdefault(variant, []).append(best["val_loss"])
        epochs = [h["epoch"] for h in hist]
        label = f"{variant} seed {seed}"
        for i, n in enumerate(names, 1):
            fig.add_scatter(x=epochs, y=[h.get(n) for h in hist], mode="lines", name=label,
                            legendgroup=label, showlegend=i == 1, row=i, col=1)
        fig.add_scatter(x=epochs, y=[h["val_loss"] for h in hist], mode="lines", name=label,
                        legendgroup=label, showlegend=False, row=len(names) + 1, col=1)
    fig.update_layout(title="STN: learned hyperparameter schedules", height=220 * (len(names) + 1))
    fig.update_xaxes(title_text="epoch", row=len(names) + 1, col=1)
    metrics = {f"{v}.best_val_loss_mean": sum(xs) / len(xs) for v, xs in by_variant.items()}
    text = "\n".join(f"- {v}: best val loss {sum(xs) / len(xs):.4f} (mean of {len(xs)} runs)"
                     for v, xs in by_variant.items())
    return Analysis(metrics=metrics, tables={"stn_runs": rows},
                    figures={"stn_schedules": fig.to_dict()}, tags={"method": "stn"},
                    text="STN\n" + text)


class STNMethod(Method[STNSettings]):
    name: ClassVar[str] = "stn"
    settings_model: ClassVar[type[MethodSettings]] = STNSettings
    TRAITS: ClassVar[MethodTraits] = MethodTraits(space="required", draws_own_analysis=True)

    def check(self, study: Study) -> None:
        spec_fields(self.settings, study)

    def objective(self, study: Study) -> Objective:
        return METRIC

    def start(self, study: Study) -> STNRun:
        return STNRun(self.settings, spec_fields(self.settings, study))

    def preflight(self, study: Study) -> None:
        from searchlab.preflight import missing

        why = missing("torch")
        if why:
            raise ValueError(why)

    def describe(self, study: Study) -> list[str]:
        s = self.settings
        return [f"trials     {len(s.variants) * s.seeds} ({', '.join(s.variants)} x {s.seeds} "
                f"seed(s)), {study.budget.concurrency} at a time, {s.epochs} epochs each"]
