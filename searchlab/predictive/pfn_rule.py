"""The stopping rule on the PFN's predictions, free of Ray: one decision from a study's curves.

:class:`PFNRule` reads every trial's curve so far, asks
:class:`~searchlab.predictive.pfn.PFNPredictor` for the distribution of each trial's final value
(one forward pass for the whole study), and stops the trial in question when

    P(its final value beats the reference) < delta

where the reference is the ``rank``-th best *estimated* final value of the other trials (a
finished trial's final value, else the PFN's estimate of it: its median by default) once
``min_seen`` other trials have one, or the best final value so far (``reference="best"``). The
probability is the network's own: no residuals, no calibration set, no finished trial needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from searchlab.predictive.pfn import FinalDistribution, PFNPredictor
from searchlab.predictive.rule import rank_reference


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

    predictor: PFNPredictor
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
