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


def _model_hypers(model: str) -> tuple[dict[str, str], frozenset[str]]:
    from searchlab.methods.stn.models import MODELS

    cls = MODELS[model]
    return cls.HYPERS, cls.DISCRETE


def hyper_specs(settings: STNSettings, study: Study) -> list[HyperSpec]:
    """The tuned hyperparameters from the study's space; ValueError (one line) for anything the
    model cannot tune."""
    from searchlab.methods.stn.hyper import HyperSpec
    from searchlab.spec.space import Float, Int

    if study.space is None or not study.space.params:
        raise ValueError("stn needs a 'space' with the hyperparameters to tune")
    hypers, discrete = _model_hypers(settings.model)
    supported = (f"model '{settings.model}' tunes {', '.join(sorted(hypers))} "
                 f"(uniform or loguniform{'; ' + ', '.join(sorted(discrete)) + ': int' if discrete else ''})")
    specs = []
    for name, p in study.space.walk():
        if name not in hypers:
            raise ValueError(f"space parameter '{name}': not a hyperparameter stn can tune; {supported}")
        if name in discrete:
            if not isinstance(p, Int) or p.log or p.step != 1:
                raise ValueError(f"space parameter '{name}': must be {{int: [low, high]}}; {supported}")
            kind, low, high = "int", float(p.low), float(p.high)
            default = low
        else:
            if not isinstance(p, Float) or p.step:
                raise ValueError(f"space parameter '{name}': must be {{uniform: [a, b]}} or "
                                 f"{{loguniform: [a, b]}}; {supported}")
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
        return summarize(results, [s.name for s in self.specs])


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


def _settings(settings: MethodSettings) -> STNSettings:
    if not isinstance(settings, STNSettings):
        raise TypeError(f"expected STNSettings, got {type(settings).__name__}")
    return settings
