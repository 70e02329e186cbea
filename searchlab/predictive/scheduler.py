"""Ray Tune adapter: the predictive rule as a ``TrialScheduler``.

The rule's decisions are Ray-free (:class:`~searchlab.predictive.core.PredictiveRule`); here it is
placed in :class:`~searchlab.stopping.adapter.RuleScheduler` around the scheduler that runs the
trials: Ray's ``FIFOScheduler``, or ``HyperBandScheduler`` for the paper's second setting (the
rule inside Hyperband brackets), with ASHA or the median rule as the fallback that decides until
the rule is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ray.tune.schedulers import (
    AsyncHyperBandScheduler,
    FIFOScheduler,
    HyperBandScheduler,
    MedianStoppingRule,
)

from searchlab.stopping.adapter import RuleScheduler

if TYPE_CHECKING:
    from searchlab.predictive.core import PredictiveRule
    from searchlab.predictive.factory import PredictiveSettings


def ray_scheduler(rule: PredictiveRule, settings: PredictiveSettings, *, metric: str | None,
                  mode: str | None, max_t: int,
                  time_attr: str = "training_iteration") -> RuleScheduler:
    """``rule`` inside the scheduler and fallback ``settings`` name."""
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
    scheduler = RuleScheduler(rule, inner=inner, fallback=fallback, time_attr=time_attr)
    if metric or mode:
        scheduler.set_search_properties(metric, mode)
    return scheduler
