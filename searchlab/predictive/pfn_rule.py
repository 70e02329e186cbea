"""The stopping rule on the PFN's predictions, free of Ray (``stopping: {scheduler: predictive,
model: pfn}``).

:class:`PFNRule` reads every trial's curve so far, asks
:class:`~searchlab.predictive.pfn.PFNPredictor` for the distribution of each trial's final value
(one forward pass for the whole study), and stops the trial in question when

    P(its final value beats the reference) < delta

where the reference is the ``rank``-th best *estimated* final value of the other trials (a
finished trial's final value, else the PFN's estimate of it: its median by default) once
``min_seen`` other trials have one, or the best final value so far (``reference="best"``). The
probability is the network's own: no residuals, no calibration set, no finished trial needed.

:class:`PFNTrialRule` is that decision as a :class:`~searchlab.stopping.rule.TrialRule`: the
predictive rule of :class:`~searchlab.predictive.core.PredictiveRule` (curves by epoch, rungs,
``min_epoch``, ``keep_top``, finished trials, MLflow annotations, the :class:`Decision` records)
with the prediction replaced: instead of a regressor fitted on finished curves (and a prior until
there are enough), one pass of the trained network over every trial's curve so far. It decides
from the first trials on; the Ray adapter (:class:`~searchlab.stopping.adapter.RuleScheduler`)
is the same as the regressor's (``predictive/factory.build_rule`` picks the rule).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from searchlab.predictive.core import Decision, PredictiveRule, decision_epochs
from searchlab.predictive.pfn import FinalDistribution, StudyPrediction
from searchlab.predictive.rule import rank_reference

if TYPE_CHECKING:
    from searchlab.predictive.factory import PredictiveSettings


class StudyPredictor(Protocol):
    """What the rule needs of the network (:class:`~searchlab.predictive.pfn.PFNPredictor`)."""

    def predict(self, curves: Sequence[Sequence[float]], max_t: int,
                mode: str = "max") -> StudyPrediction:
        """Every curve's final value as a distribution, in one pass."""


@dataclass(frozen=True)
class PFNDecision:
    """The rule's reading of one trial: its prediction, the value to beat and the verdict."""

    predicted: FinalDistribution
    p_beat: float
    reference: float
    stop: bool
    estimates: dict[str, float]  # every unfinished trial's estimated final, from this pass


@dataclass
class PFNRule:
    """Args:
        predictor: the trained network.
        max_t: the length of a full trial (epochs).
        mode: ``max`` or ``min``.
        delta: stop when P(final beats the reference) < delta.
        reference: ``rank`` (the rank-th best estimate of the other trials) or ``best`` (the
            best final value of a finished trial).
        rank, min_seen: as for the regressor's rule.
        estimate: the quantile of a trial's predicted final used as its estimate (0.5: median).
    """

    predictor: StudyPredictor
    max_t: int
    mode: str = "max"
    delta: float = 0.05
    reference: str = "rank"
    rank: int = 1
    min_seen: int = 3
    estimate: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', not {self.mode!r}")
        if self.reference not in ("best", "rank"):
            raise ValueError(f"reference must be 'best' or 'rank', not {self.reference!r}")
        if not 0 < self.delta < 1 or not 0 < self.estimate < 1:
            raise ValueError("delta and estimate must be in (0, 1)")
        if self.rank < 1 or self.min_seen < self.rank:
            raise ValueError(f"need 1 <= rank <= min_seen, got {self.rank}, {self.min_seen}")

    def decide(self, trial_id: str, curves: Mapping[str, Sequence[float]],
               finals: Mapping[str, float]) -> PFNDecision | None:
        """Judge ``trial_id`` given every trial's curve so far (``curves``, epochs 1..len, the
        trial's own included) and the final values of the trials that finished (``finals``).
        None when there is no value to compare with yet."""
        ids = [k for k, c in curves.items() if len(c) >= 1]
        if trial_id not in ids:
            raise ValueError(f"no curve of trial {trial_id!r}")
        study = self.predictor.predict([curves[k] for k in ids], self.max_t, self.mode)
        estimates = {k: float(v) for k, v in zip(ids, study.quantiles(self.estimate))
                     if k not in finals}
        if self.reference == "best":
            if not finals:
                return None
            better = max if self.mode == "max" else min
            reference = better(finals.values())
        else:
            others = [v for k, v in {**estimates, **finals}.items() if k != trial_id]
            if len(others) < self.min_seen:
                return None
            reference = rank_reference(others, self.rank, self.mode)
        mine = study[ids.index(trial_id)]
        p = mine.prob_beats(reference)
        return PFNDecision(mine, p, reference, p < self.delta, estimates)


class PFNTrialRule(PredictiveRule):
    """The predictive rule with the PFN's decisions (see :class:`PFNRule`).

    Args:
        settings: the validated ``stopping:`` block with ``model: pfn`` (delta, reference, rank,
            min_seen, estimate, min_epoch, rungs, keep_top).
        predictor: the trained network (or anything with its ``predict``).
        max_t: the length of a full trial (epochs).
        mode: ``max`` or ``min``.
        on_decision: called with every :class:`Decision` (for tests and benchmarks).
    """

    def __init__(self, settings: PredictiveSettings, predictor: StudyPredictor, *, max_t: int,
                 mode: str, on_decision: Callable[[Decision], None] | None = None) -> None:
        # PredictiveRule's state without its regressor and prior (the network needs neither)
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
        self.settings, self.mode, self.max_t = settings, mode, max_t
        self.pfn = PFNRule(predictor, max_t, mode=mode, delta=settings.delta,
                           reference=settings.reference, rank=settings.rank,
                           min_seen=settings.min_seen, estimate=settings.estimate)
        self.prior = None
        self.rungs = decision_epochs(settings.rungs, max_t)
        self.on_decision = on_decision
        self.curves: dict[str, dict[int, float]] = {}
        self.best: float | None = None
        self.finished: set[str] = set()
        self.stopped: set[str] = set()
        self.estimates: dict[str, float] = {}
        self.prefix: dict[str, list[float]] = {}  # each trial's curve from epoch 1, unbroken

    @property
    def own_ready(self) -> bool:
        return True  # the network needs no finished curve

    @property
    def ready(self) -> bool:
        if self.settings.reference == "best":
            return self.best is not None
        return len(self.curves) > self.settings.min_seen

    def describe(self) -> str:
        return f"Predictive stopping with the PFN (delta={self.settings.delta:g})"

    def on_result(self, trial_id: str, config: Mapping[str, Any], epoch: int,
                  value: float) -> bool:
        self._extend(trial_id, epoch, value)
        return super().on_result(trial_id, config, epoch, value)

    def on_end(self, trial_id: str, config: Mapping[str, Any], epoch: int | None,
               value: float | None) -> None:
        if epoch is not None and value is not None:
            self._extend(trial_id, epoch, value)
        super().on_end(trial_id, config, epoch, value)

    def _extend(self, trial_id: str, epoch: int, value: float) -> None:
        """Keep the trial's curve from epoch 1 as far as it is complete."""
        points = self.curves.setdefault(trial_id, {})
        prefix = self.prefix.setdefault(trial_id, [])
        if epoch <= len(prefix):  # a restarted trial: its later epochs are not seen (yet)
            for later in [e for e in points if e > epoch]:
                del points[later]
            del prefix[epoch - 1:]
        points[epoch] = value
        while len(prefix) + 1 in points and len(prefix) < self.max_t:
            prefix.append(points[len(prefix) + 1])

    def evaluate(self, trial_id: str, config: Mapping[str, Any], epoch: int) -> Decision | None:
        s = self.settings
        if epoch < s.min_epoch or epoch >= self.max_t:
            return None
        if self.rungs is not None and epoch not in self.rungs:
            return None
        if len(self.prefix.get(trial_id, ())) < epoch:
            return None
        curves = {k: v for k, v in self.prefix.items() if v}
        curves[trial_id] = curves[trial_id][:epoch]
        finals = {k: v for k, v in self.estimates.items() if k in self.finished}
        verdict = self.pfn.decide(trial_id, curves, finals)
        if verdict is None:
            return None
        self.estimates.update(verdict.estimates)
        mean, std, p = verdict.predicted.mean, verdict.predicted.std, verdict.p_beat
        stop = verdict.stop and not self.ranked_high(trial_id, epoch, curves[trial_id][-1])
        decision = Decision(trial_id, epoch, mean, std, p, verdict.reference, stop, "pfn")
        return self._record(decision, "predictive (pfn)",
                            f"predicted median {verdict.predicted.median:.4g}")

    def _finish(self, trial_id: str, config: Mapping[str, Any]) -> None:
        """A trial that reported all ``max_t`` epochs: its final value is known."""
        if trial_id in self.finished:
            return
        curve = self.curve(trial_id, self.max_t)
        if curve is None:
            return
        self.finished.add(trial_id)
        final = curve[-1]
        self.estimates[trial_id] = final
        if self.best is None or (final > self.best if self.mode == "max" else final < self.best):
            self.best = final

    def report_r2(self) -> dict[str, float]:
        return {}  # no regressor to report on

    def state(self) -> dict[str, Any]:  # the network is not part of the state: it is shipped
        return {"curves": self.curves, "best": self.best, "finished": self.finished,
                "stopped": self.stopped, "estimates": self.estimates, "prefix": self.prefix}

    def load(self, state: dict[str, Any]) -> None:
        self.curves, self.best, self.finished = state["curves"], state["best"], state["finished"]
        self.stopped, self.estimates = state["stopped"], state["estimates"]
        self.prefix = state["prefix"]
