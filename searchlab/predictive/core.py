"""The predictive stopping rule's decisions, free of Ray: a :class:`~searchlab.stopping.rule.
TrialRule` told each trial's results, answering whether to stop it.

After each result it asks a predictor for the trial's final value and stops the trial when the
probability that it beats the best final value so far is below ``delta``
(:mod:`searchlab.predictive.rule`, Baker et al. 2017). Until ``min_finished`` curves are known it
does not decide (the Ray adapter then leaves decisions to the wrapped scheduler or a fallback).

A trial counts as finished when it has reported ``max_t`` epochs; trials stopped early never enter
the training set. The curve of a trial is kept by epoch, so a paused trial that restarts from
epoch 1 simply overwrites it.

Beyond the paper (all off by default, which is the paper's rule; see
:class:`~searchlab.predictive.factory.PredictiveSettings`):

* a prior (``prior``, a predictor trained on other tasks' curves) predicts until the study has
  ``prior.takeover`` finished curves of its own, so the rule can act from the first trials on;
* ``calibration: conformal``: the probability comes from held-out residuals
  (:mod:`~searchlab.predictive.calibration`) instead of a Gaussian tail;
* ``reference: rank``: the value to beat is the ``rank``-th best of the other trials' estimated
  finals (a finished trial's final value, else its latest prediction), so a decision needs
  neither a finished trial nor the single best, which a noisy early estimate overstates;
* ``rungs``: the rule is applied only after these epochs (fewer looks, fewer wrong stops);
* ``keep_top``: a stop needs the trial's *observed* value to agree: a trial whose value at this
  epoch is among the best ``keep_top`` fraction of all trials' values at the same epoch is never
  stopped by the rule.

The predictor is any object with :class:`FinalPredictor`'s methods
(:class:`~searchlab.predictive.predictor.CurvePredictor` today), and the prior any with
:class:`CurvePrior`'s (:class:`~searchlab.predictive.prior.PriorPredictor`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from searchlab.predictive.calibration import conformal_probability
from searchlab.predictive.factory import GEOMETRIC_RUNGS
from searchlab.predictive.rule import probability_beats, rank_reference, should_stop
from searchlab.stopping.rule import TrialRule
from searchlab.tracking.annotations import annotate, annotate_study

if TYPE_CHECKING:
    from searchlab.predictive.factory import PredictiveSettings  # noqa: F401 - in annotations


class Predicted(Protocol):
    mean: float
    std: float


class FinalPredictor(Protocol):
    """What the rule needs of the study's own predictor of final values."""

    max_t: int  # the length of a full curve

    @property
    def n(self) -> int:
        """Finished curves it was given."""

    def add(self, config: Mapping[str, Any], curve: Sequence[float]) -> None:
        """A finished curve (``max_t`` values)."""

    def predict(self, config: Mapping[str, Any], curve: Sequence[float]) -> Predicted:
        """The final value of a partial curve: a mean and a standard deviation."""

    def residuals(self, t: int) -> np.ndarray:
        """Held-out residuals (true - predicted) of predictions after ``t`` epochs."""

    def r2_by_fraction(self) -> dict[str, float]:
        """Cross-validated R^2 of the final value by fraction of the curve seen."""


class CurvePrior(Protocol):
    """What the rule needs of a prior trained on other tasks' curves."""

    def distribution(self, config: Mapping[str, Any],
                     curve: Sequence[float]) -> tuple[float, np.ndarray]:
        """The predicted final value and the residuals around it."""


@dataclass(frozen=True)
class Decision:
    """One evaluation of the rule, as annotated in MLflow."""

    trial_id: str
    epoch: int
    predicted_final: float
    std: float
    p_beat_best: float
    best: float  # the value to beat: the best final so far, or the rank reference
    stop: bool
    source: str = "own"  # which predictor: the study's own ("own") or the prior ("prior")


def decision_epochs(rungs: str | Sequence[int], max_t: int) -> frozenset[int] | None:
    """The epochs after which the rule decides (None: after every epoch)."""
    if rungs == "every":
        return None
    if rungs == "geometric":
        return frozenset(r for r in GEOMETRIC_RUNGS if r < max_t)
    return frozenset(int(r) for r in rungs)


class PredictiveRule(TrialRule):
    """Stops trials whose predicted final value is unlikely to beat the best so far.

    Args:
        settings: the validated ``stopping:`` block (delta, min_finished, min_epoch, reference,
            rank, min_seen, calibration, rungs, keep_top, and ``prior.takeover``).
        predictor: the study's own (possibly warm-started) predictor; its ``max_t`` is the
            length of a full trial.
        mode: ``max`` or ``min``.
        prior: a predictor of other tasks' curves, used until ``takeover`` own curves exist.
        on_decision: called with every :class:`Decision` (for tests and benchmarks).
    """

    def __init__(self, settings: PredictiveSettings, predictor: FinalPredictor, *, mode: str,
                 prior: CurvePrior | None = None,
                 on_decision: Callable[[Decision], None] | None = None) -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
        self.settings, self.predictor, self.mode = settings, predictor, mode
        self.max_t = predictor.max_t
        self.prior = prior
        self.takeover = settings.prior.takeover if settings.prior is not None else 50
        self.rungs = decision_epochs(settings.rungs, self.max_t)
        self.on_decision = on_decision
        self.curves: dict[str, dict[int, float]] = {}
        self.best: float | None = None  # best final value of this study's finished trials
        self.finished: set[str] = set()
        self.stopped: set[str] = set()
        self.estimates: dict[str, float] = {}  # trial -> final value, or its latest prediction

    # --- readiness --------------------------------------------------------------------------------
    @property
    def own_ready(self) -> bool:
        """Whether the study's own predictor has enough finished curves to predict."""
        n = self.predictor.n
        return n >= self.settings.min_finished and (self.prior is None or n >= self.takeover)

    @property
    def ready(self) -> bool:
        """Whether a predictor can predict and there is a value to compare with."""
        if not (self.own_ready or self.prior is not None):
            return False
        if self.settings.reference == "best":
            return self.best is not None
        return len(self.estimates) >= self.settings.min_seen

    def describe(self) -> str:
        state = ("ready" if self.ready
                 else f"warming up ({self.predictor.n}/{self.settings.min_finished})")
        return f"Predictive stopping (delta={self.settings.delta:g}, {state})"

    # --- TrialRule --------------------------------------------------------------------------------
    def on_result(self, trial_id: str, config: Mapping[str, Any], epoch: int,
                  value: float) -> bool:
        self.curves.setdefault(trial_id, {})[epoch] = value
        if epoch >= self.max_t:
            self._finish(trial_id, config)
        decision = self.evaluate(trial_id, config, epoch)
        if decision is not None and decision.stop:
            self.stopped.add(trial_id)
            return True
        return False

    def on_end(self, trial_id: str, config: Mapping[str, Any], epoch: int | None,
               value: float | None) -> None:
        if epoch is None or value is None:
            return
        self.curves.setdefault(trial_id, {})[epoch] = value
        if epoch >= self.max_t:
            self._finish(trial_id, config)

    # --- the rule ---------------------------------------------------------------------------------
    def curve(self, trial_id: str, epoch: int) -> list[float] | None:
        """The trial's values at epochs 1..``epoch`` (None while one is missing)."""
        points = self.curves.get(trial_id, {})
        if any(e not in points for e in range(1, epoch + 1)):
            return None
        return [points[e] for e in range(1, epoch + 1)]

    def _reference(self, trial_id: str) -> float | None:
        s = self.settings
        if s.reference == "best":
            return self.best
        others = [v for k, v in self.estimates.items() if k != trial_id]
        if len(others) < s.min_seen:
            return None
        return rank_reference(others, s.rank, self.mode)

    def evaluate(self, trial_id: str, config: Mapping[str, Any], epoch: int) -> Decision | None:
        """Apply the rule to the trial after ``epoch`` epochs (None: no decision possible)."""
        s = self.settings
        if epoch < s.min_epoch or epoch >= self.max_t:
            return None
        if self.rungs is not None and epoch not in self.rungs:
            return None
        if not (self.own_ready or self.prior is not None):
            return None
        if s.reference == "best" and self.best is None:
            return None
        curve = self.curve(trial_id, epoch)
        if curve is None:
            return None
        residuals: np.ndarray | None = None
        if self.own_ready:
            source = "own"
            prediction = self.predictor.predict(config, curve)
            mean, std = prediction.mean, prediction.std
            if s.calibration == "conformal":
                residuals = self.predictor.residuals(epoch)
        else:
            source = "prior"
            assert self.prior is not None  # not own_ready: the prior predicts
            mean, residuals = self.prior.distribution(config, curve)
            std = float(np.sqrt(np.mean(residuals**2)))
        if trial_id not in self.finished:
            self.estimates[trial_id] = mean  # before any reference: the rank needs it
        reference = self._reference(trial_id)
        if reference is None:
            return None
        if s.calibration == "conformal" and residuals is not None:
            p = conformal_probability(mean, residuals, reference, self.mode)
        else:
            p = probability_beats(mean, std, reference, self.mode)
        stop = should_stop(p, s.delta) and not self.ranked_high(trial_id, epoch, curve[-1])
        decision = Decision(trial_id, epoch, mean, std, p, reference, stop, source)
        return self._record(decision, "predictive",
                            f"predicted {mean:.4g} +- {std:.3g}, {source} predictor")

    def _record(self, decision: Decision, rule: str, detail: str) -> Decision:
        """Annotate ``decision`` on its trial (a stopped one with its reason, ``rule`` and
        ``detail`` in it) and pass it to ``on_decision``."""
        s, d = self.settings, decision
        tags = {}
        if d.stop:
            what = (f"best {d.best:.4g}" if s.reference == "best"
                    else f"rank-{s.rank} estimate {d.best:.4g}")
            tags["searchlab.stop_reason"] = (
                f"{rule}: P(final beats {what}) = {d.p_beat_best:.3g} < delta {s.delta:g}"
                f" at epoch {d.epoch} ({detail})")
        annotate(d.trial_id, step=d.epoch, tags=tags,
                 metrics={"predicted_final": d.predicted_final, "predicted_std": d.std,
                          "p_beat_best": d.p_beat_best})
        if self.on_decision is not None:
            self.on_decision(d)
        return d

    def ranked_high(self, trial_id: str, epoch: int, value: float) -> bool:
        """Whether ``value`` is in the best ``keep_top`` fraction of the values other trials
        reported at ``epoch`` (always False without the guard)."""
        keep_top = self.settings.keep_top
        if keep_top <= 0:
            return False
        others = [c[epoch] for k, c in self.curves.items() if k != trial_id and epoch in c]
        if not others:
            return True  # nothing to rank against: the data cannot agree with a stop yet
        better = sum(v > value if self.mode == "max" else v < value for v in others)
        return better < keep_top * len(others)

    def _finish(self, trial_id: str, config: Mapping[str, Any]) -> None:
        """Add a trial that reported all ``max_t`` epochs to the training set."""
        if trial_id in self.finished:
            return
        curve = self.curve(trial_id, self.max_t)
        if curve is None:
            return
        self.finished.add(trial_id)
        self.predictor.add(config, curve)
        final = curve[-1]
        self.estimates[trial_id] = final
        if self.best is None or (final > self.best if self.mode == "max" else final < self.best):
            self.best = final
        n = self.predictor.n
        if n >= self.settings.min_finished and (n & (n - 1) == 0 or
                                                n == self.settings.min_finished):
            self.report_r2()  # at min_finished and whenever the training set doubles

    # --- per-study record ------------------------------------------------------------------------
    def report_r2(self) -> dict[str, float]:
        """Annotate the study with the predictor's cross-validated R^2 by fraction of curve seen.

        Called when ``min_finished`` curves are known and whenever their number doubles; the
        metrics' step is the number of training curves.
        """
        if self.predictor.n < 3:
            return {}
        r2 = self.predictor.r2_by_fraction()
        record = {"training_curves": self.predictor.n, "r2_by_fraction_seen": r2}
        annotate_study(step=self.predictor.n,
                       texts={"predictor_r2.json": json.dumps(record, indent=1)},
                       metrics={f"predictor_r2_at_{k}": v for k, v in r2.items()})
        return r2

    def state(self) -> dict[str, Any]:
        return {"curves": self.curves, "best": self.best, "finished": self.finished,
                "predictor": self.predictor, "stopped": self.stopped, "prior": self.prior,
                "estimates": self.estimates}

    def load(self, state: dict[str, Any]) -> None:
        self.curves, self.best, self.finished = state["curves"], state["best"], state["finished"]
        self.predictor, self.stopped = state["predictor"], state["stopped"]
        self.prior, self.estimates = state["prior"], state["estimates"]
