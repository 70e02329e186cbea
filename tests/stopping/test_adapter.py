"""The Ray adapter of Ray-free stopping rules, and the one place it reads Ray's private API."""

from __future__ import annotations

from dataclasses import dataclass, field

from ray.tune.schedulers import HyperBandScheduler, TrialScheduler

from searchlab.stopping.adapter import RuleScheduler, resume_bracket
from searchlab.stopping.rule import TrialRule


class StopAtThree(TrialRule):
    """Stops every trial whose value at epoch 3 is below 0.5."""

    def __init__(self) -> None:
        self.ended: list[tuple[str, int | None]] = []

    def on_result(self, trial_id, config, epoch, value) -> bool:
        return epoch == 3 and value < 0.5

    def on_end(self, trial_id, config, epoch, value) -> None:
        self.ended.append((trial_id, epoch))


@dataclass(eq=False)
class FakeTrial:
    trial_id: str
    config: dict = field(default_factory=dict)
    status: str = "RUNNING"


def test_the_rule_decides_and_the_inner_scheduler_runs_the_rest():
    rule = StopAtThree()
    s = RuleScheduler(rule, metric="score", mode="max")
    low, high = FakeTrial("low"), FakeTrial("high")
    for t in (low, high):
        s.on_trial_add(None, t)
    for epoch in (1, 2, 3):
        for t, v in ((low, 0.1), (high, 0.9)):
            action = s.on_trial_result(None, t, {"training_iteration": epoch, "score": v})
            assert action == (TrialScheduler.STOP if (t is low and epoch == 3)
                              else TrialScheduler.CONTINUE)
    s.on_trial_complete(None, low, {"training_iteration": 3, "score": 0.1})
    assert s.stopped_by_rule == {"low"} and rule.ended == [("low", 3)]
    assert s.metric == "score" and not s.set_search_properties("other", None)


def test_the_ray_private_api_resume_bracket_uses_is_there():
    """resume_bracket reads HyperBandScheduler._trial_info (trial -> (bracket, ...)) and calls
    ._process_bracket, and the bracket's current_trials / finished / cur_iter_done /
    cleanup_full: this Ray has them all. A Ray upgrade that drops one fails here first."""
    hb = HyperBandScheduler(metric="score", mode="max", max_t=9)
    assert isinstance(hb._trial_info, dict)
    assert callable(hb._process_bracket)
    trial = FakeTrial("t")

    class Controller:
        def get_trials(self):
            return [trial]

        def get_live_trials(self):
            return [trial]

    hb.on_trial_add(Controller(), trial)
    bracket, _ = hb._trial_info[trial]
    for name in ("current_trials", "finished", "cur_iter_done", "cleanup_full"):
        assert callable(getattr(bracket, name)), name
    resume_bracket(hb, Controller(), trial)  # a running bracket: nothing to do, no error
    resume_bracket(hb, Controller(), FakeTrial("unknown"))  # not in a bracket: nothing
