"""Every registered stopping rule on scripted fake trials, without a Ray cluster: the Tune
scheduler each binding builds is driven through Tune's scheduler API by a small stand-in for
Tune's controller (as Syne Tune's ``tst/schedulers/test_schedulers_api.py`` and Optuna's
``optuna/testing/pytest_samplers.py`` test every scheduler and sampler alike). A new rule is
covered by adding its settings to ``SETTINGS``; the Ray Tune path: test_registered.py.

The stand-in runs trials two at a time, one epoch each in turn; a paused trial gives up its slot
and continues where it stopped (trials checkpoint), a stopped one ends, and one that reported
``max_epochs`` times ends as the trainable does. It saves no checkpoints
for PBT, so PBT ranks trials but never clones one (Tune's own exploit needs a real trial)."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest
from ray.tune.schedulers import TrialScheduler
from test_registered import SCHEDULER_SETTINGS

from searchlab import stopping
from searchlab.spec.parse import parse_text
from searchlab.stopping import SchedulerContext

EPOCHS = 9  # a power of the reduction factor (3): every Hyperband bracket ends there
STUDY = """name: sch
workload: sphere
metric: {{name: score, mode: max}}
space: {{q: {{uniform: [0.0, 1.0]}}}}
stopping: {stopping}
budget: {{trials: 12, concurrency: 2, max_epochs: {epochs}}}
"""
ACTIONS = {TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP,
           TrialScheduler.NOOP}


class FakeTrial:
    """What Tune's schedulers read of a trial."""

    def __init__(self, trial_id: str, q: float, num_to_keep: int | None = 2) -> None:
        self.trial_id, self.config, self.status = trial_id, {"q": q}, "PENDING"
        # the checkpoints Tune keeps: as the runner sets them from the rule's traits
        config = types.SimpleNamespace(num_to_keep=num_to_keep)
        self.run_metadata = types.SimpleNamespace(
            checkpoint_manager=types.SimpleNamespace(checkpoint_config=config))
        self.experiment_tag, self.evaluated_params = trial_id, {"q": q}
        self.last_result: dict[str, Any] = {}
        self.epoch = 0
        self.checkpoint = None
        self.is_saving = False
        self.temporary_state = types.SimpleNamespace(saving_to=None)

    def is_finished(self) -> bool:
        return self.status in ("TERMINATED", "ERROR")

    def set_config(self, config: dict[str, Any]) -> None:
        self.config = config

    def set_experiment_tag(self, tag: str) -> None:
        self.experiment_tag = tag

    def __repr__(self) -> str:
        return self.trial_id


class FakeController:
    """The parts of Tune's controller the schedulers call, and its handling of their answers."""

    search_alg = None

    def __init__(self, scheduler: TrialScheduler, trials: list[FakeTrial], slots: int = 2) -> None:
        self.scheduler, self.trials, self.slots = scheduler, trials, slots
        self.running: list[FakeTrial] = []
        self.actions: list[str] = []
        self.after_stop: list[str] = []

    def get_trials(self) -> list[FakeTrial]:
        return self.trials

    def get_live_trials(self) -> list[FakeTrial]:
        return [t for t in self.trials if not t.is_finished()]

    def stop_trial(self, trial: FakeTrial) -> None:
        if trial.is_finished():
            return
        if trial.status in ("PENDING", "PAUSED"):
            self.scheduler.on_trial_remove(self, trial)
        else:
            self.scheduler.on_trial_complete(self, trial, trial.last_result)
            self.running.remove(trial)
        trial.status = "TERMINATED"

    def pause_trial(self, trial: FakeTrial, should_checkpoint: bool = True) -> None:
        if trial in self.running:
            self.running.remove(trial)
        trial.status = "PAUSED"

    def _schedule_trial_save(self, trial: FakeTrial, result: dict[str, Any] | None = None) -> None:
        return None  # no checkpoint: PBT then skips its exploit step

    def run(self, value: Any) -> None:
        for t in self.trials:
            self.scheduler.on_trial_add(self, t)
        for _ in range(10_000):
            while len(self.running) < self.slots:
                trial = self.scheduler.choose_trial_to_run(self)
                if trial is None:
                    break
                assert trial.status in ("PENDING", "PAUSED"), (trial, trial.status)
                trial.status = "RUNNING"
                self.running.append(trial)
            if not self.running:
                return
            for trial in list(self.running):
                if trial.status != "RUNNING":
                    continue
                trial.epoch += 1
                result = {"training_iteration": trial.epoch, "score": value(trial),
                          "trial_id": trial.trial_id}
                trial.last_result = result
                action = self.scheduler.on_trial_result(self, trial, result)
                self.actions.append(action)
                if action == TrialScheduler.STOP or trial.epoch >= EPOCHS:
                    self.stop_trial(trial)  # stopped, or the trainable's last report
                elif action == TrialScheduler.PAUSE:
                    self.pause_trial(trial)
        raise AssertionError("the scheduler never let the trials end")


def _built(name: str) -> tuple[Any, TrialScheduler]:
    study = parse_text(STUDY.format(stopping=SCHEDULER_SETTINGS[name], epochs=EPOCHS)).study
    assert study.stopping.name == name
    return study, study.stopping.build(SchedulerContext(
        metric="score", mode="max", max_epochs=EPOCHS, space=study.space))


def test_every_registered_scheduler_has_a_case():
    assert set(SCHEDULER_SETTINGS) == set(stopping.REGISTRY)


@pytest.mark.parametrize("name", list(stopping.REGISTRY))
def test_scheduler_on_scripted_fake_trials(name):
    """Twelve trials whose score rises towards q (q = 0.05 .. 0.60 in a shuffled order): every
    answer is one Tune knows, every trial ends, none runs past max_epochs, and the best
    configuration is trained to the end."""
    study, scheduler = _built(name)
    assert isinstance(scheduler, TrialScheduler)
    qs = np.random.default_rng(0).permutation(np.arange(1, 13) * 0.05)
    keep = None if study.stopping.traits.keeps_checkpoints else 2
    trials = [FakeTrial(f"t{i:02d}", float(q), keep) for i, q in enumerate(qs)]
    controller = FakeController(scheduler, trials)
    controller.run(lambda t: t.config["q"] * (1 - 0.5 ** t.epoch))
    assert set(controller.actions) <= ACTIONS
    assert all(t.status == "TERMINATED" for t in trials)
    assert all(1 <= t.epoch <= EPOCHS for t in trials)
    best = max(trials, key=lambda t: t.config["q"])
    assert best.epoch == EPOCHS, (name, {t.trial_id: t.epoch for t in trials})
    assert isinstance(scheduler.debug_string(), str)
    if name != "fifo" and name != "pbt":  # these never stop a trial early
        assert any(t.epoch < EPOCHS for t in trials), f"{name} stopped nothing"


@pytest.mark.parametrize("name", list(stopping.REGISTRY))
def test_scheduler_traits_fit_what_the_runner_does(name):
    """A rule that refuses a searcher runs only methods that list their trials; one that keeps
    every checkpoint clones trials; one whose trials wait for brackets is built as such."""
    study, scheduler = _built(name)
    traits = study.stopping.traits
    if traits.refuses_searcher:
        from searchlab.errors import SpecError

        with pytest.raises(SpecError, match="runs a list of trials fixed up front"):
            parse_text("name: l\nmethod: {name: lr_free}\n"
                       f"stopping: {SCHEDULER_SETTINGS[name]}\n")
    assert traits.keeps_checkpoints == (name == "pbt")
    assert traits.pauses_trials == (name == "hyperband")
