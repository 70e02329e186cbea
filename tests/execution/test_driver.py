"""The Tune adapter of method runs, without a cluster: Tune's calls made by hand.

Every ask and tell lands in the journal; a searcher built again (a resumed study) or unpickled
replays the journal into a fresh run; requests that Tune never saved are handed out again under
their first id."""

from __future__ import annotations

import functools
import pickle

from searchlab import status
from searchlab.execution.driver import MethodSearcher
from searchlab.methods.base import MethodRun, TrialRequest, TrialResult


class Countdown(MethodRun):
    """Asks for ``n`` trials, the i-th at x = i; ``asked`` counts asks (replays included)."""

    builds = 0

    def __init__(self, n: int) -> None:
        Countdown.builds += 1
        self.n, self.asked, self.told = n, 0, []

    def ask(self, trial_id: str) -> TrialRequest | None:
        if self.asked >= self.n:
            return None
        self.asked += 1
        return TrialRequest({"x": self.asked - 1}, length=2)

    def tell(self, trial_id: str, result: TrialResult) -> None:
        self.told.append((trial_id, result.status, result.metrics.get("loss")))

    @property
    def done(self) -> bool:
        return len(self.told) >= self.n

    @property
    def total(self) -> int:
        return self.n


def _searcher(tmp_path, n=3):
    return MethodSearcher(functools.partial(Countdown, n), tmp_path, "loss", "min", 2)


def _finish(s, tid, x):
    s.on_trial_result(tid, {"loss": float(x), "training_iteration": 1})
    s.on_trial_complete(tid, {"loss": float(x), "training_iteration": 2})


def test_journal_replay_and_resume(tmp_path):
    s = _searcher(tmp_path)
    configs = [s.suggest(f"t{i}") for i in range(3)]
    assert [c["x"] for c in configs] == [0, 1, 2]
    assert configs[1][status.META]["length"] == 2 and configs[1][status.META]["index"] == 1
    assert s.suggest("t3") is None  # asked out, not done: wait for results
    _finish(s, "t0", 0)
    _finish(s, "t2", 2)
    assert s.run.told == [("t0", "completed", 0.0), ("t2", "completed", 2.0)]

    # Tune pickles the searcher and unpickles it on resume: the journal is replayed
    back = pickle.loads(pickle.dumps(s))
    assert back.run is not s.run and back.run.told == s.run.told
    assert back.running() == ["t1"]
    # Tune's saved state never had t1: it is handed out again, recorded under its first id
    again = back.suggest("t9")
    assert again["x"] == 1 and again[status.META]["request_id"] == "t1"
    _finish(back, "t9", 1)
    assert back.run.told[-1] == ("t1", "completed", 1.0)
    assert back.suggest("t10") == MethodSearcher.FINISHED

    # a resumed study builds a fresh searcher on the same journal: the same view, replayed
    builds = Countdown.builds
    resumed = _searcher(tmp_path)
    assert Countdown.builds == builds + 1 and resumed.run.told == back.run.told
    assert [r.trial_id for r in resumed.all_results()] == ["t0", "t2", "t1"]
    assert resumed.alias == {"t9": "t1"} and not resumed.stalled


def test_a_result_is_told_once_and_failures_carry_their_status(tmp_path):
    s = _searcher(tmp_path, n=2)
    s.suggest("a")
    s.suggest("b")
    _finish(s, "a", 0)
    _finish(s, "a", 0)  # Tune reran a finished trial after a resume
    s.on_trial_complete("b", {"loss": 5.0, "training_iteration": 1}, error=True)
    s.on_trial_complete("zz", {"loss": 1.0})  # not ours
    assert [(t, st) for t, st, _ in s.run.told] == [("a", "completed"), ("b", "failed")]
    assert s.suggest("c") == MethodSearcher.FINISHED
