"""Ray Tune adapter: the predictive stopping rule as a ``TrialScheduler``.

:class:`PredictiveScheduler` wraps another scheduler (``FIFOScheduler`` for plain searches, or
``HyperBandScheduler`` for the paper's second setting) and forwards every call to it; on each
result it first asks the predictor, and stops the trial when the probability that it beats the
best final value so far is below ``delta`` (:mod:`searchlab.predictive.rule`). Until
``min_finished`` curves are known it leaves decisions to the wrapped scheduler, or to a fallback
(ASHA or the median rule) when one is given.

A trial counts as finished when it has reported ``max_t`` epochs; trials stopped early (by the
rule, by Hyperband or by the fallback) never enter the training set. The curve of a trial is kept
by epoch, so a paused trial that restarts from epoch 1 simply overwrites it.

Beyond the paper (all off by default, which is the paper's rule):

* ``prior``: a :class:`~searchlab.predictive.prior.PriorPredictor` trained on curves of other
  tasks predicts until the study has ``takeover`` finished curves of its own, so the rule can act
  from the first trials on;
* ``calibration="conformal"``: the probability comes from held-out residuals
  (:mod:`~searchlab.predictive.calibration`) instead of a Gaussian tail;
* ``reference="rank"``: the value to beat is the ``rank``-th best of the other trials' estimated
  finals (a finished trial's final value, else its latest prediction), so a decision needs
  neither a finished trial nor the single best, which a noisy early estimate overstates;
* ``rungs``: the rule is applied only after these epochs (fewer looks, fewer wrong stops);
* ``keep_top``: a stop needs the trial's *observed* value to agree: a trial whose value at this
  epoch is among the best ``keep_top`` fraction of all trials' values at the same epoch is never
  stopped by the rule (the prediction alone does not stop a trial the data rank high).
"""

from __future__ import annotations

import json
import logging
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from searchlab.predictive.calibration import conformal_probability
from searchlab.predictive.predictor import CurvePredictor
from searchlab.predictive.rule import probability_beats, rank_reference, should_stop
from searchlab.spec.space import flat_config
from searchlab.tracking.annotations import annotate, annotate_study

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController

    from searchlab.predictive.prior import PriorPredictor

logger = logging.getLogger(__name__)


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


class PredictiveScheduler(TrialScheduler):
    """Stops trials whose predicted final value is unlikely to beat the best so far.

    Args:
        predictor: the (possibly warm-started) :class:`CurvePredictor`; its ``max_t`` is the
            length of a full trial.
        metric, mode: the reported value to predict and its direction (or set by Tune).
        delta: stop when P(final beats best) < delta.
        min_finished: finished curves (warm-start curves included) needed before predicting.
        min_epoch: the first epoch at which a trial may be stopped by the rule.
        inner: the scheduler that runs trials (FIFO by default, or HyperBand).
        fallback: a scheduler that decides alone until the predictor is ready (ASHA, median).
        time_attr: the result key counting epochs.
        on_decision: called with every :class:`Decision` (for tests and benchmarks).
        prior: a predictor trained on other tasks, used until ``takeover`` own curves exist.
        takeover: own finished curves after which the study's predictor replaces the prior.
        calibration: ``gaussian`` (the paper) or ``conformal`` (held-out residual quantiles).
        reference: ``best`` (best final so far, the paper) or ``rank`` (the ``rank``-th best
            estimated final of the other trials).
        rank: which estimate is the reference when ``reference="rank"``.
        min_seen: other trials with an estimate needed before the rank reference is used.
        rungs: epochs after which the rule is applied (None: after every epoch).
        keep_top: never stop a trial whose value at the epoch is in this best fraction of the
            other trials' values at that epoch (0: no such guard).
    """

    def __init__(self, predictor: CurvePredictor, *, metric: str | None = None,
                 mode: str | None = None, delta: float = 0.05, min_finished: int = 10,
                 min_epoch: int = 2, inner: TrialScheduler | None = None,
                 fallback: TrialScheduler | None = None, time_attr: str = "training_iteration",
                 on_decision: Callable[[Decision], None] | None = None,
                 prior: PriorPredictor | None = None, takeover: int = 50,
                 calibration: str = "gaussian", reference: str = "best", rank: int = 1,
                 min_seen: int = 10, rungs: Sequence[int] | None = None,
                 keep_top: float = 0.0) -> None:
        super().__init__()
        if calibration not in ("gaussian", "conformal"):
            raise ValueError(f"calibration must be 'gaussian' or 'conformal', not {calibration!r}")
        if reference not in ("best", "rank"):
            raise ValueError(f"reference must be 'best' or 'rank', not {reference!r}")
        if rank < 1 or min_seen < rank:
            raise ValueError(f"need 1 <= rank <= min_seen, got rank {rank}, min_seen {min_seen}")
        if not 0 < delta < 1:
            raise ValueError(f"delta must be in (0, 1), not {delta}")
        if not 0 <= keep_top < 1:
            raise ValueError(f"keep_top must be in [0, 1), not {keep_top}")
        if min_finished < 3:
            raise ValueError(f"min_finished must be at least 3, not {min_finished}")
        self.predictor = predictor
        self.max_t = predictor.max_t
        self.delta, self.min_finished, self.min_epoch = delta, min_finished, min_epoch
        self.inner = inner or FIFOScheduler()
        self.fallback = fallback
        self.time_attr = time_attr
        self.on_decision = on_decision
        self._metric, self._mode = metric, mode
        self._supports_buffered_results = (
            self.inner.supports_buffered_results
            and (fallback is None or fallback.supports_buffered_results))
        self._curves: dict[str, dict[int, float]] = {}
        self._best: float | None = None  # best final value of this study's finished trials
        self._finished: set[str] = set()
        self.stopped_by_rule: set[str] = set()
        self.prior, self.takeover = prior, takeover
        self.calibration, self.reference, self.rank, self.min_seen = (
            calibration, reference, rank, min_seen)
        self.rungs = frozenset(rungs) if rungs is not None else None
        self.keep_top = keep_top
        self._estimates: dict[str, float] = {}  # trial -> final value, or its latest prediction

    # --- properties Tune passes in --------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if (self._metric and metric) or (self._mode and mode):
            return False
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        for scheduler in (self.inner, self.fallback):
            if scheduler is not None:
                scheduler.set_search_properties(metric, mode, **spec)
        return True

    @property
    def own_ready(self) -> bool:
        """Whether the study's own predictor has enough finished curves to predict."""
        return self.predictor.n >= self.min_finished and (
            self.prior is None or self.predictor.n >= self.takeover)

    @property
    def ready(self) -> bool:
        """Whether a predictor can predict and there is a value to compare with."""
        if not (self.own_ready or self.prior is not None):
            return False
        if self.reference == "best":
            return self._best is not None
        return len(self._estimates) >= self.min_seen

    def _reference(self, trial_id: str) -> float | None:
        if self.reference == "best":
            return self._best
        others = [v for k, v in self._estimates.items() if k != trial_id]
        if len(others) < self.min_seen:
            return None
        return rank_reference(others, self.rank, self._mode or "max")

    # --- the rule ---------------------------------------------------------------------------------
    def _record(self, trial: Trial, result: Mapping[str, Any]) -> int | None:
        epoch, value = result.get(self.time_attr), result.get(self._metric or "")
        if epoch is None or value is None:
            return None
        self._curves.setdefault(trial.trial_id, {})[int(epoch)] = float(value)
        return int(epoch)

    def _curve(self, trial_id: str, epoch: int) -> list[float] | None:
        points = self._curves.get(trial_id, {})
        if any(e not in points for e in range(1, epoch + 1)):
            return None
        return [points[e] for e in range(1, epoch + 1)]

    def evaluate(self, trial: Trial, epoch: int) -> Decision | None:
        """Apply the rule to ``trial`` after ``epoch`` epochs (None: no decision possible)."""
        if epoch < self.min_epoch or epoch >= self.max_t:
            return None
        if self.rungs is not None and epoch not in self.rungs:
            return None
        if not (self.own_ready or self.prior is not None):
            return None
        if self.reference == "best" and self._best is None:
            return None
        curve = self._curve(trial.trial_id, epoch)
        if curve is None:
            return None
        assert self._mode is not None
        config = flat_config(trial.config)
        source = "own" if self.own_ready else "prior"
        if source == "prior":
            assert self.prior is not None
            mean, residuals = self.prior.distribution(config, curve)
            std = float(np.sqrt(np.mean(residuals**2)))
        else:
            prediction = self.predictor.predict(config, curve)
            mean, std = prediction.mean, prediction.std
            residuals = self.predictor.residuals(epoch) if self.calibration == "conformal" else None
        if trial.trial_id not in self._finished:
            self._estimates[trial.trial_id] = mean  # before any reference: the rank needs it
        reference = self._reference(trial.trial_id)
        if reference is None:
            return None
        if self.calibration == "conformal":
            p = conformal_probability(mean, residuals, reference, self._mode)
        else:
            p = probability_beats(mean, std, reference, self._mode)
        stop = should_stop(p, self.delta) and not self._ranked_high(trial.trial_id, epoch, curve[-1])
        decision = Decision(trial.trial_id, epoch, mean, std, p, reference, stop, source)
        tags = {}
        if decision.stop:
            what = (f"best {reference:.4g}" if self.reference == "best"
                    else f"rank-{self.rank} estimate {reference:.4g}")
            tags["searchlab.stop_reason"] = (
                f"predictive: P(final beats {what}) = {p:.3g} < delta {self.delta:g}"
                f" at epoch {epoch} (predicted {mean:.4g} +- {std:.3g}, {source} predictor)")
        annotate(trial.trial_id, step=epoch, tags=tags,
                 metrics={"predicted_final": mean, "predicted_std": std, "p_beat_best": p})
        if self.on_decision is not None:
            self.on_decision(decision)
        return decision

    def _ranked_high(self, trial_id: str, epoch: int, value: float) -> bool:
        """Whether ``value`` is in the best ``keep_top`` fraction of the values other trials
        reported at ``epoch`` (always False without the guard)."""
        if self.keep_top <= 0:
            return False
        others = [c[epoch] for k, c in self._curves.items() if k != trial_id and epoch in c]
        if not others:
            return True  # nothing to rank against: the data cannot agree with a stop yet
        better = sum(v > value if self._mode == "max" else v < value for v in others)
        return better < self.keep_top * len(others)

    def _finish(self, trial: Trial) -> None:
        """Add a trial that reported all ``max_t`` epochs to the training set."""
        if trial.trial_id in self._finished:
            return
        curve = self._curve(trial.trial_id, self.max_t)
        if curve is None:
            return
        self._finished.add(trial.trial_id)
        self.predictor.add(flat_config(trial.config), curve)
        final = curve[-1]
        self._estimates[trial.trial_id] = final
        better = self._best is None or (final > self._best if self._mode == "max" else final < self._best)
        if better:
            self._best = final
        n = self.predictor.n
        if n >= self.min_finished and (n & (n - 1) == 0 or n == self.min_finished):
            self.report_r2()  # at min_finished and whenever the training set doubles

    # --- TrialScheduler ---------------------------------------------------------------------------
    def on_trial_add(self, tune_controller: TuneController, trial: Trial) -> None:
        self.inner.on_trial_add(tune_controller, trial)
        if self.fallback is not None:
            self.fallback.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller: TuneController, trial: Trial,
                        result: dict[str, Any]) -> str:
        epoch = self._record(trial, result)
        if epoch is not None and epoch >= self.max_t:
            self._finish(trial)
        decision = self.evaluate(trial, epoch) if epoch is not None else None
        if decision is not None and decision.stop:
            self.stopped_by_rule.add(trial.trial_id)
            return TrialScheduler.STOP  # Tune then calls on_trial_complete, which tells `inner`
        action = self.inner.on_trial_result(tune_controller, trial, result)
        if self.fallback is not None and not self.ready and action == TrialScheduler.CONTINUE:
            action = self.fallback.on_trial_result(tune_controller, trial, result)
        return action

    def on_trial_complete(self, tune_controller: TuneController, trial: Trial,
                          result: dict[str, Any]) -> None:
        if result:
            epoch = self._record(trial, result)
            if epoch is not None and epoch >= self.max_t:
                self._finish(trial)
        self.inner.on_trial_complete(tune_controller, trial, result)
        if trial.trial_id in self.stopped_by_rule:
            self._resume_bracket(tune_controller, trial)
        if self.fallback is not None:
            self.fallback.on_trial_complete(tune_controller, trial, result)

    def _resume_bracket(self, tune_controller: TuneController, trial: Trial) -> None:
        """After the rule stopped a trial inside a Hyperband bracket, let the bracket go on.

        Ray's HyperBandScheduler only re-processes a bracket on removal until its first halving
        (``is_being_processed`` is never reset), and never ends a bracket on removal: a bracket
        whose other trials are all paused at the milestone (or at ``max_t``) would wait forever
        for the trial the rule stopped.
        """
        info = getattr(self.inner, "_trial_info", None)
        if not info or trial not in info:
            return
        bracket, _ = info[trial]
        if not bracket.current_trials():
            return
        if bracket.finished():
            bracket.cleanup_full(tune_controller)  # stops the trials paused at max_t
        elif bracket.cur_iter_done():
            self.inner._process_bracket(tune_controller, bracket)  # type: ignore[attr-defined]

    def on_trial_error(self, tune_controller: TuneController, trial: Trial) -> None:
        self.inner.on_trial_error(tune_controller, trial)
        if self.fallback is not None:
            self.fallback.on_trial_error(tune_controller, trial)

    def on_trial_remove(self, tune_controller: TuneController, trial: Trial) -> None:
        self.inner.on_trial_remove(tune_controller, trial)
        if self.fallback is not None:
            self.fallback.on_trial_remove(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: TuneController) -> Trial | None:
        return self.inner.choose_trial_to_run(tune_controller)

    def debug_string(self) -> str:
        state = ("ready" if self.ready
                 else f"warming up ({self.predictor.n}/{self.min_finished})")
        return (f"Predictive stopping (delta={self.delta:g}, {state}, "
                f"stopped {len(self.stopped_by_rule)}); {self.inner.debug_string()}")

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
        annotate_study(step=self.predictor.n, texts={"predictor_r2.json": json.dumps(record, indent=1)},
                       metrics={f"predictor_r2_at_{k}": v for k, v in r2.items()})
        return r2

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"curves": self._curves, "best": self._best, "finished": self._finished,
                         "predictor": self.predictor, "stopped": self.stopped_by_rule,
                         "prior": self.prior, "estimates": self._estimates}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)
        self._curves, self._best, self._finished = state["curves"], state["best"], state["finished"]
        self.predictor, self.stopped_by_rule = state["predictor"], state["stopped"]
        self.prior = state.get("prior", self.prior)
        self._estimates = state.get("estimates", {})
