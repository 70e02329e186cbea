"""The predictive rule through its Ray Tune adapter, driven with fake trials (no Ray cluster):
the binding builds it from a study file, decisions become Tune's STOP, the fallback decides while
the rule warms up. The decisions themselves: test_core.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from ray.tune.schedulers import TrialScheduler

from searchlab.predictive.factory import PredictiveSettings, build_scheduler
from searchlab.spec.parse import parse_text
from searchlab.stopping import SchedulerContext
from searchlab.stopping.adapter import RuleScheduler

from .synthetic import curve, pool

EPOCHS = 12


@dataclass(eq=False)
class FakeTrial:
    trial_id: str
    config: dict = field(default_factory=dict)
    status: str = "RUNNING"


def run_trial(scheduler, trial, values):
    """Feed results until the scheduler stops the trial; return the epochs it ran."""
    for epoch, value in enumerate(values, start=1):
        action = scheduler.on_trial_result(None, trial, {"training_iteration": epoch,
                                                         "acc": float(value)})
        if action == TrialScheduler.STOP or epoch == len(values):
            scheduler.on_trial_complete(None, trial, {"training_iteration": epoch,
                                                      "acc": float(value)})
            return epoch
        assert action == TrialScheduler.CONTINUE
    return len(values)


def test_the_binding_builds_the_adapter_around_the_rule():
    study = parse_text("name: p\nworkload: sphere\nmetric: {name: acc, mode: max}\n"
                       "space: {x: {uniform: [0, 1]}}\nbudget: {trials: 3}\n"
                       "stopping: {scheduler: predictive, min_finished: 10, delta: 0.1}\n").study
    assert not study.stopping.traits.pauses_trials
    s = study.stopping.build(SchedulerContext(metric="acc", mode="max", max_epochs=EPOCHS,
                                              space=study.space))
    assert isinstance(s, RuleScheduler) and s.metric == "acc"
    assert s.rule.settings.delta == 0.1 and s.rule.max_t == EPOCHS
    configs, curves = pool(10, EPOCHS)
    for i, (c, y) in enumerate(zip(configs, curves)):
        assert run_trial(s, FakeTrial(f"w{i}", {"hp": c}), y) == EPOCHS
    assert s.rule.ready and "ready" in s.debug_string()
    bad = FakeTrial("bad", {"hp": {"a": 0.25, "tau": 3.0, "opt": "adam"}})
    assert run_trial(s, bad, curve(0.25, 3.0, EPOCHS)) <= 3
    assert s.stopped_by_rule == {"bad"} == s.rule.stopped


def test_hyperband_brackets_make_the_rule_pause_trials():
    study = parse_text("name: p\nworkload: sphere\nmetric: {name: acc, mode: max}\n"
                       "space: {x: {uniform: [0, 1]}}\nbudget: {trials: 3}\n"
                       "stopping: {scheduler: predictive, bracket: hyperband}\n").study
    assert study.stopping.traits.pauses_trials


def test_the_fallback_decides_until_the_rule_is_ready():
    settings = PredictiveSettings(min_finished=10, fallback="asha", grace_period=1,
                                  reduction_factor=2)
    s = build_scheduler(settings, metric="acc", mode="max", max_t=EPOCHS)
    trials = [FakeTrial(f"t{i}", {"hp": {"a": 0.1 * (i + 1)}}) for i in range(4)]
    for t in trials:
        s.on_trial_add(None, t)
    actions = [s.on_trial_result(None, t, {"training_iteration": 1, "acc": 0.1 * (4 - i)})
               for i, t in enumerate(trials)]
    assert not s.rule.ready and TrialScheduler.STOP in actions  # ASHA's, not the rule's
    assert not s.stopped_by_rule
