"""The predictive stopping rule in the study file: ``stopping: {scheduler: predictive, ...}``.

Its settings, its binding (:class:`Predictive`) and :func:`build_scheduler`, which assembles the
Ray-free core (:class:`~searchlab.predictive.core.PredictiveRule`) with its predictor, prior and
warm-start curves and hands it to the Ray adapter (:mod:`searchlab.predictive.scheduler`). This
module imports neither Ray nor scikit-learn; building does.

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

Calibrated decisions from the first trials on (the setting tuned on five LCBench tasks and
reported on the other 29, see docs/predictive.md)::

    stopping:
      scheduler: predictive
      calibration: conformal  # held-out residual quantiles instead of a Gaussian tail
      reference: rank         # beat the rank-th best estimate of the other trials
      rank: 1                 # 3: more careful, slower
      min_seen: 3
      delta: 0.1
      rungs: geometric        # decide after epochs 2, 3, 4, 6, 8, 12, ... (min_epoch 2)
      prior:                  # curves of other tasks until the study's own take over
        lcbench: true         # sampled from the YAHPO LCBench surrogate ...
        exclude: ["3945"]     # ... leaving out the study's own task
        mlflow_workloads: [digits_mlp]   # and/or finished trials of other workloads
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from searchlab.stopping.base import (
    Scheduler,
    SchedulerContext,
    SchedulerTraits,
    StoppingSettings,
)

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

    from searchlab.predictive.core import CurvePrior, Decision, PredictiveRule

logger = logging.getLogger(__name__)


class WarmStart(BaseModel):
    """Curves to train the predictor on before any trial of this study has finished."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str | None = Field(None, description="a curve file (.npz) with the study's metric")
    mlflow: bool = Field(False, description="finished trials of earlier studies of this workload")
    workload: str | None = Field(None, description="workload name to match in MLflow "
                                 "(default: this study's workload)")
    max_runs: int = Field(1000, ge=1, description="at most this many MLflow runs")


class PriorSettings(BaseModel):
    """Curves of other tasks for a cold-start prior (:mod:`searchlab.predictive.prior`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lcbench: bool = Field(False, description="sample curves of every LCBench task from the YAHPO "
                          "surrogate ($SEARCHLAB_YAHPO_DATA)")
    exclude: list[str] = Field(default_factory=list, description="LCBench tasks to leave out "
                               "(the study's own task)")
    per_task: int = Field(40, ge=2, description="LCBench curves per task")
    file: str | None = Field(None, description="a saved corpus (.npz, prior.TaskCurves.save)")
    mlflow_workloads: list[str] = Field(default_factory=list, description="other workloads "
                                        "whose finished MLflow trials join the corpus")
    use_config: bool = Field(True, description="use hyperparameters as features (off when the "
                             "corpus's workloads have other hyperparameters than the study)")
    normalized: bool = Field(False, description="scale the conformal residuals per curve "
                             "(locally weighted conformal; off: one distribution per epoch)")
    takeover: int = Field(50, ge=3, description="own finished curves after which the study's "
                          "own predictor replaces the prior")
    config_prefix: str = Field("", description="prefix of the study's hyperparameter keys "
                               "(e.g. 'hp.'), for the LCBench corpus")


#: the decision epochs of ``rungs: geometric``: roughly x sqrt(2) apart.
GEOMETRIC_RUNGS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


class PredictiveSettings(StoppingSettings):
    """Settings of the predictive rule (:class:`~searchlab.predictive.core.PredictiveRule`)."""

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
    calibration: Literal["gaussian", "conformal"] = Field(
        "gaussian", description="P(beats) from a Gaussian tail (the paper) or from held-out "
        "residual quantiles (conformal)")
    reference: Literal["best", "rank"] = Field(
        "best", description="the value to beat: the best final so far, or the rank-th best "
        "estimated final of the other trials")
    rank: int = Field(1, ge=1, description="which estimate is the reference for reference: rank")
    min_seen: int = Field(10, ge=1, description="trials with an estimate before the rank "
                          "reference is used")
    rungs: Literal["every", "geometric"] | Annotated[list[Annotated[int, Field(ge=1)]],
                                                     Field(min_length=1)] = Field(
        "every", description="epochs after which the rule decides: every epoch, the geometric "
        "rungs 1, 2, 3, 4, 6, 8, 12, ..., or a list")
    prior: PriorSettings | None = Field(None, description="a predictor of other tasks' curves "
                                        "for the start of the study")
    keep_top: float = Field(0.0, ge=0, lt=1, description="never stop a trial whose value at the "
                            "epoch is in this best fraction of all trials' values at that epoch "
                            "(the data must agree with the prediction; 0: off)")
    # --- model: pfn (searchlab/predictive/pfn_rule.py) --------------------------------------
    model: Literal["regressor", "pfn"] = Field(
        "regressor", description="what predicts the final values: Baker et al.'s regressor "
        "fitted on the study's finished curves, or the learning-curve PFN trained on synthetic "
        "curves (docs/predictive.md), which reads every trial's curve in context")
    weights: str | None = Field(None, description="model: pfn: a weights file (default: the "
                                "shipped searchlab/data/pfn_curves.pt)")
    estimate: float = Field(0.5, gt=0, lt=1, description="model: pfn: the quantile of a trial's "
                            "predicted final that is its estimate for the rank reference")

    @field_validator("weights")
    @classmethod
    def _weights_file(cls, v: str | None, info: ValidationInfo) -> str | None:
        """A weights file is there at validate time (relative: from the study file's folder)."""
        from searchlab import refs

        return None if v is None else str(refs.locate(v, refs.study_file_of(info.context)))

    @model_validator(mode="after")
    def _rank_seen(self) -> PredictiveSettings:
        if self.reference == "rank" and self.min_seen < self.rank:
            raise ValueError(f"min_seen ({self.min_seen}) must be at least rank ({self.rank})")
        return self

    @model_validator(mode="after")
    def _pfn_alone(self) -> PredictiveSettings:
        if self.model == "pfn":
            unused = [k for k in ("warm_start", "prior", "calibration", "bracket", "regressor",
                                  "spread", "min_finished", "fallback")
                      if k in self.model_fields_set]
            if unused:
                raise ValueError(f"model: pfn does not use {', '.join(unused)} (the network "
                                 "predicts from the first trials on, with its own probabilities)")
        return self


class Predictive(Scheduler[PredictiveSettings]):
    name: ClassVar[str] = "predictive"
    settings_model: ClassVar[type[StoppingSettings]] = PredictiveSettings

    @property
    def traits(self) -> SchedulerTraits:
        # inside Hyperband brackets trials wait paused for their bracket
        return SchedulerTraits(pauses_trials=self.settings.bracket == "hyperband")

    def build(self, ctx: SchedulerContext) -> TrialScheduler:
        return build_scheduler(self.settings, metric=ctx.metric, mode=ctx.mode,
                               max_t=ctx.max_epochs, tracking_uri=ctx.tracking_uri,
                               workload=ctx.workload)


def build_rule(settings: PredictiveSettings, *, metric: str | None, mode: str, max_t: int,
               tracking_uri: str | None = None, workload: str | None = None,
               prior: CurvePrior | None = None,
               on_decision: Callable[[Decision], None] | None = None) -> PredictiveRule:
    """The Ray-free rule of ``settings``: its predictor (warm-started as the settings say) and
    its prior (``prior``: one built already, else from ``settings.prior``); with ``model: pfn``
    the PFN's rule (:class:`~searchlab.predictive.pfn_rule.PFNTrialRule`), which needs neither."""
    from searchlab.predictive.core import PredictiveRule
    from searchlab.predictive.predictor import CurvePredictor

    if settings.model == "pfn":
        from searchlab.predictive.pfn import PFNPredictor
        from searchlab.predictive.pfn_rule import PFNTrialRule

        return PFNTrialRule(settings, PFNPredictor.load(settings.weights), max_t=max_t,
                            mode=mode, on_decision=on_decision)
    predictor = CurvePredictor(max_t, regressor=settings.regressor, spread=settings.spread,
                               seed=settings.seed)
    if settings.warm_start is not None:
        for config, curve in _warm_curves(settings.warm_start, metric, max_t, tracking_uri,
                                          workload):
            predictor.add(config, curve)
    if prior is None and settings.prior is not None:
        prior = build_prior(settings.prior, metric=metric, max_t=max_t,
                            tracking_uri=tracking_uri, regressor=settings.regressor,
                            seed=settings.seed)
    return PredictiveRule(settings, predictor, mode=mode, prior=prior, on_decision=on_decision)


def build_scheduler(settings: PredictiveSettings, *, metric: str, mode: str, max_t: int,
                    tracking_uri: str | None = None, workload: str | None = None,
                    time_attr: str = "training_iteration", prior: CurvePrior | None = None,
                    on_decision: Callable[[Decision], None] | None = None) -> Any:
    """The Ray Tune scheduler of ``settings`` (also used by the benchmark, without a study):
    :func:`build_rule` inside :func:`searchlab.predictive.scheduler.ray_scheduler`."""
    from searchlab.predictive.scheduler import ray_scheduler

    rule = build_rule(settings, metric=metric, mode=mode, max_t=max_t,
                      tracking_uri=tracking_uri, workload=workload, prior=prior,
                      on_decision=on_decision)
    return ray_scheduler(rule, settings, metric=metric, mode=mode, max_t=max_t,
                         time_attr=time_attr)


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


def build_prior(settings: PriorSettings, *, metric: str | None, max_t: int,
                tracking_uri: str | None = None, regressor: str = "svr", seed: int = 0) -> Any:
    """The :class:`~searchlab.predictive.prior.PriorPredictor` of ``settings``' corpus."""
    import numpy as np

    from searchlab.predictive.prior import PriorPredictor, TaskCurves, lcbench_corpus, mlflow_corpus

    corpus = TaskCurves([], np.zeros((0, max_t)), [])
    if settings.lcbench:
        from searchlab.workloads.lcbench import MAX_EPOCHS, available, data_dir

        if not available():
            raise ValueError(f"prior.lcbench: the LCBench surrogate is not under {data_dir()}; "
                             "set SEARCHLAB_YAHPO_DATA")
        if max_t > MAX_EPOCHS:
            raise ValueError(f"prior.lcbench: LCBench curves have {MAX_EPOCHS} epochs, the study "
                             f"runs {max_t}")
        corpus = corpus + lcbench_corpus(settings.per_task, max_t, exclude=settings.exclude,
                                         prefix=settings.config_prefix)
    if settings.file:
        corpus = corpus + TaskCurves.load(settings.file)
    if settings.mlflow_workloads:
        if metric is None:
            raise ValueError("prior.mlflow_workloads needs the study's metric")
        corpus = corpus + mlflow_corpus(tracking_uri, settings.mlflow_workloads, metric, max_t)
    if len(corpus.curves) < 10:
        raise ValueError(f"prior: only {len(corpus.curves)} curves found; at least 10 are needed")
    logger.info("predictive: prior from %d curves of %d tasks", len(corpus.curves),
                len(set(corpus.tasks)))
    return PriorPredictor(corpus, max_t, regressor=regressor, use_config=settings.use_config,
                          normalized=settings.normalized, seed=seed)
