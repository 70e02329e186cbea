"""The Ray Tune adapter of a Ray-free stopping rule (:class:`~searchlab.stopping.rule.TrialRule`).

:class:`RuleScheduler` wraps another Ray scheduler (``FIFOScheduler`` to run trials, or
``HyperBandScheduler`` for brackets) and forwards every call to it; on each result it first asks
the rule, and stops the trial when the rule says so. Until the rule is ``ready`` it leaves
decisions to the wrapped scheduler, or to a fallback (ASHA, the median rule) when one is given.

Ray's private attributes are touched in one function only, :func:`resume_bracket`, which a test
pins to the Ray version installed (``tests/stopping/test_adapter.py``).
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from searchlab.spec.space import flat_config
from searchlab.stopping.rule import TrialRule

if TYPE_CHECKING:
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.experiment import Trial


class RuleScheduler(TrialScheduler):
    """A :class:`TrialRule` as a Ray Tune ``TrialScheduler``.

    Args:
        rule: the Ray-free decisions.
        metric, mode: the reported value the rule reads (or set by Tune).
        inner: the scheduler that runs trials (FIFO by default, or HyperBand).
        fallback: a scheduler that decides alone until the rule is ready (ASHA, median).
        time_attr: the result key counting epochs.
    """

    def __init__(self, rule: TrialRule, *, metric: str | None = None, mode: str | None = None,
                 inner: TrialScheduler | None = None, fallback: TrialScheduler | None = None,
                 time_attr: str = "training_iteration") -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.rule = rule
        self.inner = inner or FIFOScheduler()
        self.fallback = fallback
        self.time_attr = time_attr
        self.rule_metric, self.rule_mode = metric, mode
        self.stopped_by_rule: set[str] = set()

    # --- what Tune reads and sets -----------------------------------------------------------------
    @property
    def metric(self) -> str | None:
        return self.rule_metric

    @property
    def supports_buffered_results(self) -> bool:
        return self.inner.supports_buffered_results and (
            self.fallback is None or self.fallback.supports_buffered_results)

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if (self.rule_metric and metric) or (self.rule_mode and mode):
            return False
        self.rule_metric = self.rule_metric or metric
        self.rule_mode = self.rule_mode or mode
        for scheduler in (self.inner, self.fallback):
            if scheduler is not None:
                scheduler.set_search_properties(metric, mode, **spec)
        return True

    # --- TrialScheduler ---------------------------------------------------------------------------
    def _tell(self, trial: Trial, result: dict[str, Any] | None, end: bool) -> bool:
        """Pass a result to the rule; True when the rule stops the trial."""
        epoch = (result or {}).get(self.time_attr)
        value = (result or {}).get(self.rule_metric or "")
        config = flat_config(trial.config)
        if end:
            self.rule.on_end(trial.trial_id, config, None if epoch is None else int(epoch),
                             None if value is None else float(value))
            return False
        if epoch is None or value is None:
            return False
        return self.rule.on_result(trial.trial_id, config, int(epoch), float(value))

    def on_trial_add(self, tune_controller: TuneController, trial: Trial) -> None:
        self.inner.on_trial_add(tune_controller, trial)
        if self.fallback is not None:
            self.fallback.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller: TuneController, trial: Trial,
                        result: dict[str, Any]) -> str:
        if self._tell(trial, result, end=False):
            self.stopped_by_rule.add(trial.trial_id)
            return TrialScheduler.STOP  # Tune then calls on_trial_complete, which tells `inner`
        action = self.inner.on_trial_result(tune_controller, trial, result)
        if self.fallback is not None and not self.rule.ready and action == TrialScheduler.CONTINUE:
            action = self.fallback.on_trial_result(tune_controller, trial, result)
        return action

    def on_trial_complete(self, tune_controller: TuneController, trial: Trial,
                          result: dict[str, Any]) -> None:
        self._tell(trial, result, end=True)
        self.inner.on_trial_complete(tune_controller, trial, result)
        if trial.trial_id in self.stopped_by_rule:
            resume_bracket(self.inner, tune_controller, trial)
        if self.fallback is not None:
            self.fallback.on_trial_complete(tune_controller, trial, result)

    def on_trial_error(self, tune_controller: TuneController, trial: Trial) -> None:
        self._tell(trial, None, end=True)
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
        return (f"{self.rule.describe()}, stopped {len(self.stopped_by_rule)}; "
                f"{self.inner.debug_string()}")

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"rule": self.rule.state(), "stopped": self.stopped_by_rule}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)
        self.rule.load(state["rule"])
        self.stopped_by_rule = state["stopped"]


def resume_bracket(inner: TrialScheduler, tune_controller: TuneController, trial: Trial) -> None:
    """After the rule stopped a trial inside a Hyperband bracket, let the bracket go on.

    RAY PRIVATE API: the one place searchlab reads Ray's private attributes
    (``HyperBandScheduler._trial_info`` and ``._process_bracket``), pinned by
    ``tests/stopping/test_adapter.py::test_the_ray_private_api_resume_bracket_uses_is_there``.
    Ray's HyperBandScheduler only re-processes a bracket on removal until its first halving
    (``is_being_processed`` is never reset), and never ends a bracket on removal: a bracket whose
    other trials are all paused at the milestone (or at ``max_t``) would wait forever for the
    trial the rule stopped.
    """
    info = getattr(inner, "_trial_info", None)
    if not info or trial not in info:
        return
    bracket, _ = info[trial]
    if not bracket.current_trials():
        return
    if bracket.finished():
        bracket.cleanup_full(tune_controller)  # stops the trials paused at max_t
    elif bracket.cur_iter_done():
        inner._process_bracket(tune_controller, bracket)  # type: ignore[attr-defined]
