"""``stopping: {scheduler: predictive, model: pfn}``: the PFN rule in the predictive scheduler.

Everything the PFN changes in the predictive scheduler is here, so that the rule can move onto
another scheduler core without touching the rest: :class:`PFNScheduler` keeps the Ray Tune
adapter of :class:`~searchlab.predictive.scheduler.PredictiveScheduler` (curves by epoch, rungs,
``min_epoch``, ``keep_top``, finished trials, MLflow annotations, the :class:`Decision` records)
and replaces only the prediction: instead of a regressor fitted on finished curves (and a prior
until there are enough), :class:`~searchlab.predictive.pfn_rule.PFNRule` reads every trial's
curve so far in one pass of the trained network. It decides from the first trials on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from searchlab.predictive.pfn import PFNPredictor
from searchlab.predictive.pfn_rule import PFNRule
from searchlab.predictive.predictor import CurvePredictor
from searchlab.predictive.scheduler import Decision, PredictiveScheduler
from searchlab.tracking.annotations import annotate

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

    from searchlab.predictive.factory import PredictiveSettings


class PFNScheduler(PredictiveScheduler):
    """The predictive scheduler with the PFN's decisions (see :class:`PFNRule`).

    Args:
        rule: the PFN rule (its ``delta``, ``reference``, ``rank`` and ``min_seen`` are used).
        **kwargs: as for :class:`PredictiveScheduler` (``min_epoch``, ``rungs``, ``keep_top``,
            ``inner``, ``fallback``, ``time_attr``, ``metric``, ``mode``, ``on_decision``).
    """

    def __init__(self, rule: PFNRule, **kwargs: Any) -> None:
        super().__init__(CurvePredictor(rule.max_t), delta=rule.delta, reference=rule.reference,
                         rank=rule.rank, min_seen=rule.min_seen, min_finished=3, **kwargs)
        self.rule = rule
        self._prefix: dict[str, list[float]] = {}

    @property
    def own_ready(self) -> bool:
        return True  # the network needs no finished curve

    @property
    def ready(self) -> bool:
        if self.reference == "best":
            return self._best is not None
        return len(self._curves) > self.min_seen

    def _record(self, trial: Trial, result: Any) -> int | None:
        epoch = super()._record(trial, result)
        if epoch is not None:  # keep each trial's curve from epoch 1, as far as it is complete
            prefix = self._prefix.setdefault(trial.trial_id, [])
            points = self._curves[trial.trial_id]
            del prefix[epoch - 1:]  # a restarted trial overwrites its curve from here on
            while len(prefix) + 1 in points and len(prefix) < self.max_t:
                prefix.append(points[len(prefix) + 1])
        return epoch

    def _prefixes(self) -> dict[str, list[float]]:
        """Every trial's curve from epoch 1 as far as it is complete."""
        return {k: list(v) for k, v in self._prefix.items() if v}

    def evaluate(self, trial: Trial, epoch: int) -> Decision | None:
        if epoch < self.min_epoch or epoch >= self.max_t:
            return None
        if self.rungs is not None and epoch not in self.rungs:
            return None
        curves = self._prefixes()
        if len(curves.get(trial.trial_id, ())) < epoch:
            return None
        curves[trial.trial_id] = curves[trial.trial_id][:epoch]
        finals = {k: v for k, v in self._estimates.items() if k in self._finished}
        self.rule.mode = self._mode or self.rule.mode
        verdict = self.rule.decide(trial.trial_id, curves, finals)
        if verdict is None:
            return None
        self._estimates.update(verdict.estimates)
        mean, std, p = verdict.predicted.mean, verdict.predicted.std, verdict.p_beat
        stop = verdict.stop and not self._ranked_high(trial.trial_id, epoch, curves[
            trial.trial_id][-1])
        decision = Decision(trial.trial_id, epoch, mean, std, p, verdict.reference, stop, "pfn")
        tags = {}
        if stop:
            what = (f"best {verdict.reference:.4g}" if self.reference == "best"
                    else f"rank-{self.rank} estimate {verdict.reference:.4g}")
            tags["searchlab.stop_reason"] = (
                f"predictive (pfn): P(final beats {what}) = {p:.3g} < delta {self.delta:g}"
                f" at epoch {epoch} (predicted median {verdict.predicted.median:.4g})")
        annotate(trial.trial_id, step=epoch, tags=tags,
                 metrics={"predicted_final": mean, "predicted_std": std, "p_beat_best": p})
        if self.on_decision is not None:
            self.on_decision(decision)
        return decision

    def debug_string(self) -> str:
        return (f"Predictive stopping with the PFN (delta={self.delta:g}, "
                f"stopped {len(self.stopped_by_rule)}); {self.inner.debug_string()}")

    def report_r2(self) -> dict[str, float]:
        return {}  # no regressor to report on


def build_pfn_scheduler(settings: PredictiveSettings, *, inner: Any, fallback: Any,
                        rungs: list[int] | None, max_t: int, mode: str | None,
                        time_attr: str) -> PFNScheduler:
    """The scheduler of ``settings`` with ``model: pfn`` (called by the factory)."""
    predictor = PFNPredictor.load(settings.weights)
    rule = PFNRule(predictor, max_t, mode=mode or "max", delta=settings.delta,
                   reference=settings.reference, rank=settings.rank, min_seen=settings.min_seen,
                   estimate=settings.estimate)
    return PFNScheduler(rule, min_epoch=settings.min_epoch, inner=inner, fallback=fallback,
                        time_attr=time_attr, rungs=rungs, keep_top=settings.keep_top)
