"""Ray Tune's own schedulers, each with validated settings (Ray is imported only to build)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from searchlab.stopping.base import (
    Scheduler,
    SchedulerContext,
    SchedulerTraits,
    StoppingSettings,
)

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

    from searchlab.spec.models import Study


class FIFOSettings(StoppingSettings):
    """Run every trial to max_epochs."""


class FIFO(Scheduler[FIFOSettings]):
    name: ClassVar[str] = "fifo"
    settings_model: ClassVar[type[StoppingSettings]] = FIFOSettings

    def build(self, ctx: SchedulerContext) -> TrialScheduler:
        from ray.tune.schedulers import FIFOScheduler

        return FIFOScheduler()


class ASHASettings(StoppingSettings):
    max_t: int | None = Field(None, ge=1, description="default: budget.max_epochs")
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(3, gt=1)
    brackets: int = Field(1, ge=1)


class ASHA(Scheduler[ASHASettings]):
    name: ClassVar[str] = "asha"
    settings_model: ClassVar[type[StoppingSettings]] = ASHASettings

    def build(self, ctx: SchedulerContext) -> TrialScheduler:
        from ray.tune.schedulers import ASHAScheduler

        s = self.settings
        return ASHAScheduler(
            time_attr="training_iteration", metric=ctx.metric, mode=ctx.mode,
            max_t=s.max_t or ctx.max_epochs, grace_period=s.grace_period,
            reduction_factor=s.reduction_factor, brackets=s.brackets,
        )


class HyperbandSettings(StoppingSettings):
    max_t: int | None = Field(None, ge=1, description="default: budget.max_epochs")
    reduction_factor: float = Field(3, gt=1)


class Hyperband(Scheduler[HyperbandSettings]):
    name: ClassVar[str] = "hyperband"
    settings_model: ClassVar[type[StoppingSettings]] = HyperbandSettings
    TRAITS: ClassVar[SchedulerTraits] = SchedulerTraits(pauses_trials=True)

    def build(self, ctx: SchedulerContext) -> TrialScheduler:
        from ray.tune.schedulers import HyperBandScheduler

        s = self.settings
        return HyperBandScheduler(
            time_attr="training_iteration", metric=ctx.metric, mode=ctx.mode,
            max_t=s.max_t or ctx.max_epochs, reduction_factor=s.reduction_factor,
        )


class MedianSettings(StoppingSettings):
    grace_period: int = Field(1, ge=0, description="epochs before a trial may be stopped")
    min_samples_required: int = Field(3, ge=1)
    hard_stop: bool = True


class Median(Scheduler[MedianSettings]):
    name: ClassVar[str] = "median"
    settings_model: ClassVar[type[StoppingSettings]] = MedianSettings

    def build(self, ctx: SchedulerContext) -> TrialScheduler:
        from ray.tune.schedulers import MedianStoppingRule

        s = self.settings
        return MedianStoppingRule(
            time_attr="training_iteration", metric=ctx.metric, mode=ctx.mode,
            grace_period=s.grace_period, min_samples_required=s.min_samples_required,
            hard_stop=s.hard_stop,
        )


class PBTSettings(StoppingSettings):
    perturbation_interval: int = Field(2, ge=1, description="epochs between exploit/explore steps")
    quantile_fraction: float = Field(0.25, gt=0, le=0.5)
    resample_probability: float = Field(0.25, ge=0, le=1)
    mutate: list[str] | None = Field(
        None, description="parameters to mutate (default: all top-level non-constant)")


class PBT(Scheduler[PBTSettings]):
    name: ClassVar[str] = "pbt"
    settings_model: ClassVar[type[StoppingSettings]] = PBTSettings
    TRAITS: ClassVar[SchedulerTraits] = SchedulerTraits(keeps_checkpoints=True,
                                                        refuses_searcher=True)

    def check(self, study: Study) -> None:
        from searchlab.spec.space import Conditional, Constant

        if study.space is None:
            raise ValueError("pbt needs a search space to mutate")
        for name in self.settings.mutate or []:
            p = study.space.params.get(name)
            if p is None or isinstance(p, (Constant, Conditional)):
                raise ValueError(f"pbt can only mutate top-level non-conditional parameters; "
                                 f"'{name}' is not one")

    def build(self, ctx: SchedulerContext) -> TrialScheduler:
        from ray.tune.schedulers import PopulationBasedTraining

        from searchlab.searchers.variants import to_ray
        from searchlab.spec.space import Conditional, Constant

        if ctx.space is None:
            raise ValueError("pbt needs a search space")
        s = self.settings
        ray_space = to_ray(ctx.space)
        names = s.mutate or [
            n for n, p in ctx.space.params.items() if not isinstance(p, (Constant, Conditional))
        ]
        return PopulationBasedTraining(
            time_attr="training_iteration", metric=ctx.metric, mode=ctx.mode,
            perturbation_interval=s.perturbation_interval,
            quantile_fraction=s.quantile_fraction,
            resample_probability=s.resample_probability,
            hyperparam_mutations={n: ray_space[n] for n in names},
        )
