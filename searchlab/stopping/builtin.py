"""Ray Tune's own schedulers, each with validated settings."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from searchlab.stopping.base import (
    BuiltScheduler,
    SchedulerContext,
    SchedulerFactory,
    StoppingSettings,
)


class FIFOSettings(StoppingSettings):
    """Run every trial to max_epochs."""


class FIFO(SchedulerFactory):
    name: ClassVar[str] = "fifo"
    settings_model: ClassVar[type[StoppingSettings]] = FIFOSettings

    def build(self, settings: StoppingSettings, ctx: SchedulerContext) -> BuiltScheduler:
        from ray.tune.schedulers import FIFOScheduler

        return BuiltScheduler(FIFOScheduler())


class ASHASettings(StoppingSettings):
    max_t: int | None = Field(None, ge=1, description="default: budget.max_epochs")
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(3, gt=1)
    brackets: int = Field(1, ge=1)


class ASHA(SchedulerFactory):
    name: ClassVar[str] = "asha"
    settings_model: ClassVar[type[StoppingSettings]] = ASHASettings

    def build(self, settings: StoppingSettings, ctx: SchedulerContext) -> BuiltScheduler:
        from ray.tune.schedulers import ASHAScheduler

        assert isinstance(settings, ASHASettings)
        return BuiltScheduler(ASHAScheduler(
            time_attr="training_iteration", metric=ctx.metric, mode=ctx.mode,
            max_t=settings.max_t or ctx.max_epochs, grace_period=settings.grace_period,
            reduction_factor=settings.reduction_factor, brackets=settings.brackets,
        ))


class HyperbandSettings(StoppingSettings):
    max_t: int | None = Field(None, ge=1, description="default: budget.max_epochs")
    reduction_factor: float = Field(3, gt=1)


class Hyperband(SchedulerFactory):
    name: ClassVar[str] = "hyperband"
    settings_model: ClassVar[type[StoppingSettings]] = HyperbandSettings

    def build(self, settings: StoppingSettings, ctx: SchedulerContext) -> BuiltScheduler:
        from ray.tune.schedulers import HyperBandScheduler

        assert isinstance(settings, HyperbandSettings)
        return BuiltScheduler(HyperBandScheduler(
            time_attr="training_iteration", metric=ctx.metric, mode=ctx.mode,
            max_t=settings.max_t or ctx.max_epochs, reduction_factor=settings.reduction_factor,
        ), synchronous=True, pauses_trials=True)


class MedianSettings(StoppingSettings):
    grace_period: int = Field(1, ge=0, description="epochs before a trial may be stopped")
    min_samples_required: int = Field(3, ge=1)
    hard_stop: bool = True


class Median(SchedulerFactory):
    name: ClassVar[str] = "median"
    settings_model: ClassVar[type[StoppingSettings]] = MedianSettings

    def build(self, settings: StoppingSettings, ctx: SchedulerContext) -> BuiltScheduler:
        from ray.tune.schedulers import MedianStoppingRule

        assert isinstance(settings, MedianSettings)
        return BuiltScheduler(MedianStoppingRule(
            time_attr="training_iteration", metric=ctx.metric, mode=ctx.mode,
            grace_period=settings.grace_period, min_samples_required=settings.min_samples_required,
            hard_stop=settings.hard_stop,
        ), pauses_trials=True)  # it pauses trials while it lacks samples


class PBTSettings(StoppingSettings):
    perturbation_interval: int = Field(2, ge=1, description="epochs between exploit/explore steps")
    quantile_fraction: float = Field(0.25, gt=0, le=0.5)
    resample_probability: float = Field(0.25, ge=0, le=1)
    mutate: list[str] | None = Field(None, description="parameters to mutate (default: all top-level non-constant)")


class PBT(SchedulerFactory):
    name: ClassVar[str] = "pbt"
    settings_model: ClassVar[type[StoppingSettings]] = PBTSettings

    def check(self, settings: StoppingSettings, study: Any) -> None:
        from searchlab.spec.space import Conditional, Constant

        assert isinstance(settings, PBTSettings)
        if study.space is None:
            raise ValueError("pbt needs a search space to mutate")
        for name in settings.mutate or []:
            p = study.space.params.get(name)
            if p is None or isinstance(p, (Constant, Conditional)):
                raise ValueError(f"pbt can only mutate top-level non-conditional parameters; "
                                 f"'{name}' is not one")

    def build(self, settings: StoppingSettings, ctx: SchedulerContext) -> BuiltScheduler:
        from ray.tune.schedulers import PopulationBasedTraining

        from searchlab.spec.space import Conditional, Constant

        assert isinstance(settings, PBTSettings)
        if ctx.space is None:
            raise ValueError("pbt needs a search space")
        from searchlab.searchers.variants import to_ray

        ray_space = to_ray(ctx.space)
        names = settings.mutate or [
            n for n, p in ctx.space.params.items() if not isinstance(p, (Constant, Conditional))
        ]
        mutations = {n: ray_space[n] for n in names}
        return BuiltScheduler(PopulationBasedTraining(
            time_attr="training_iteration", metric=ctx.metric, mode=ctx.mode,
            perturbation_interval=settings.perturbation_interval,
            quantile_fraction=settings.quantile_fraction,
            resample_probability=settings.resample_probability,
            hyperparam_mutations=mutations,
        ), pauses_trials=True, clones_checkpoints=True, fixed_trials=True)
