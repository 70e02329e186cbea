"""Study-file settings of the predictive scheduler: ``stopping: {scheduler: predictive, ...}``.

Example::

    stopping:
      scheduler: predictive
      regressor: svr          # svr | forest | linear
      delta: 0.05             # stop when P(final beats best) < delta
      min_finished: 15        # finished curves needed before the rule acts
      fallback: none          # none | asha | median, until then
      bracket: none           # none | hyperband (the rule inside Hyperband brackets)
      warm_start:
        file: curves.npz      # a curve file (benchmarks/record_curves.py writes one)
        mlflow: true          # and/or earlier trials of the same workload in MLflow
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from searchlab.stopping.base import (
    BuiltScheduler,
    SchedulerContext,
    SchedulerFactory,
    StoppingSettings,
)

logger = logging.getLogger(__name__)


class WarmStart(BaseModel):
    """Curves to train the predictor on before any trial of this study has finished."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str | None = Field(None, description="a curve file (.npz) with the study's metric")
    mlflow: bool = Field(False, description="finished trials of earlier studies of this workload")
    workload: str | None = Field(None, description="workload name to match in MLflow "
                                 "(default: this study's workload)")
    max_runs: int = Field(1000, ge=1, description="at most this many MLflow runs")


class PredictiveSettings(StoppingSettings):
    """Settings of :class:`~searchlab.predictive.scheduler.PredictiveScheduler`."""

    regressor: Literal["svr", "forest", "linear"] = Field(
        "svr", description="nu-SVR with RBF kernel (the paper's best), random forest, or ridge")
    spread: Literal["cv", "ensemble"] = Field(
        "cv", description="spread from cross-validated residuals, or from a bootstrap ensemble")
    delta: float = Field(0.05, gt=0, lt=1, description="stop when P(final beats best) < delta")
    min_finished: int = Field(15, ge=3, description="finished curves before the rule acts")
    min_epoch: int = Field(2, ge=1, description="first epoch at which the rule may stop a trial")
    fallback: Literal["none", "asha", "median"] = Field(
        "none", description="what stops trials before the predictor is ready")
    bracket: Literal["none", "hyperband"] = Field(
        "none", description="run the rule inside Hyperband brackets (Baker et al., section 5.2)")
    reduction_factor: float = Field(3, gt=1, description="for hyperband and the asha fallback")
    grace_period: int = Field(4, ge=1, description="for the asha and median fallbacks")
    warm_start: WarmStart | None = None
    seed: int = Field(0, ge=0, description="cross-validation splits and bootstrap samples")


class PredictiveFactory(SchedulerFactory):
    name: ClassVar[str] = "predictive"
    settings_model: ClassVar[type[StoppingSettings]] = PredictiveSettings
    def build(self, settings: StoppingSettings, ctx: SchedulerContext) -> BuiltScheduler:
        if not isinstance(settings, PredictiveSettings):
            raise TypeError(f"expected PredictiveSettings, got {type(settings).__name__}")
        # Inside Hyperband brackets trials are paused and brackets must fill, which Tune's
        # max_concurrent_trials prevents: the runner limits concurrency through resources.
        hyperband = settings.bracket == "hyperband"
        scheduler = build_scheduler(settings, metric=ctx.metric, mode=ctx.mode,
                                    max_t=ctx.max_epochs, tracking_uri=ctx.tracking_uri,
                                    workload=(ctx.extra or {}).get("workload"))
        return BuiltScheduler(scheduler, synchronous=hyperband, pauses_trials=hyperband)


def build_scheduler(settings: PredictiveSettings, *, metric: str | None, mode: str | None,
                    max_t: int, tracking_uri: str | None = None, workload: str | None = None,
                    time_attr: str = "training_iteration") -> Any:
    """The scheduler for ``settings`` (also used by the benchmark, without a study)."""
    from ray.tune.schedulers import (
        AsyncHyperBandScheduler,
        FIFOScheduler,
        HyperBandScheduler,
        MedianStoppingRule,
    )

    from searchlab.predictive.predictor import CurvePredictor
    from searchlab.predictive.scheduler import PredictiveScheduler

    predictor = CurvePredictor(max_t, regressor=settings.regressor, spread=settings.spread,
                               seed=settings.seed)
    if settings.warm_start is not None:
        for config, curve in _warm_curves(settings.warm_start, metric, max_t, tracking_uri, workload):
            predictor.add(config, curve)
    inner: Any = FIFOScheduler()
    if settings.bracket == "hyperband":
        inner = HyperBandScheduler(time_attr=time_attr, max_t=max_t,
                                   reduction_factor=settings.reduction_factor)
    fallback: Any = None
    if settings.fallback == "asha":
        fallback = AsyncHyperBandScheduler(time_attr=time_attr, max_t=max_t,
                                           grace_period=settings.grace_period,
                                           reduction_factor=settings.reduction_factor)
    elif settings.fallback == "median":
        fallback = MedianStoppingRule(time_attr=time_attr, grace_period=settings.grace_period)
    scheduler = PredictiveScheduler(predictor, delta=settings.delta,
                                    min_finished=settings.min_finished,
                                    min_epoch=settings.min_epoch, inner=inner, fallback=fallback,
                                    time_attr=time_attr)
    if metric or mode:
        scheduler.set_search_properties(metric, mode)
    return scheduler


def _warm_curves(warm: WarmStart, metric: str | None, max_t: int, tracking_uri: str | None,
                 workload: str | None) -> list[tuple[dict[str, Any], list[float]]]:
    from searchlab.predictive.curves import CurveSet, from_mlflow

    out: list[tuple[dict[str, Any], list[float]]] = []
    if warm.file:
        curve_set = CurveSet.load(warm.file)
        if metric not in curve_set.curves:
            raise ValueError(f"warm_start.file {warm.file} has no curves of metric {metric!r} "
                             f"(it has {', '.join(curve_set.curves)})")
        if curve_set.epochs < max_t:
            raise ValueError(f"warm_start.file {warm.file} has {curve_set.epochs} epochs, "
                             f"the study runs {max_t}")
        out += [(c, list(y[:max_t])) for c, y in zip(curve_set.configs, curve_set.curves[metric])]
    if warm.mlflow:
        name = warm.workload or workload
        if name is None or metric is None:
            logger.warning("warm_start.mlflow: no workload name known; skipped")
        else:
            configs, curves = from_mlflow(tracking_uri, name, metric, max_t, warm.max_runs)
            out += list(zip(configs, curves))
    logger.info("predictive: warm start with %d curves", len(out))
    return out
