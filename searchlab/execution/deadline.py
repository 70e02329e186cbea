"""``budget.time_limit`` as a Tune ``Stopper``: the study's wall-clock budget over all its runs.

Tune keeps its stopper in its experiment state, and a resumed study runs with the stopper it
restores from there, not with the one it is given (so Tune's own ``time_budget_s`` would hold a
resumed study to the limit it started with, however the study file changed). This stopper is
therefore a view of the study's state file: whenever it is built or unpickled it reads the time
limit the study now runs to and the time its earlier runs took (``elapsed_s``, which the runner
adds up). The clock of this run starts at Tune's first check, after the cluster is up, as Tune's
own timeout stopper does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ray.tune import Stopper

from searchlab import study_state

#: the key of the budget the study runs to, in its state file (see searchlab.continuation)
TIME_LIMIT = "budget.time_limit"


class StudyDeadline(Stopper):
    def __init__(self, study_dir: str | os.PathLike[str]) -> None:
        self.study_dir = str(study_dir)
        self._load()

    def _load(self) -> None:
        state = study_state.read_state(Path(self.study_dir))
        limit = (state.get("budget") or {}).get(TIME_LIMIT)
        self.limit: float | None = None if limit is None else float(limit)
        self.spent = float(state.get("elapsed_s") or 0.0)
        self._started: float | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"study_dir": self.study_dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.study_dir = state["study_dir"]
        self._load()

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        if self.limit is None:
            return False
        now = time.monotonic()
        if self._started is None:
            self._started = now
        return self.spent + (now - self._started) >= self.limit
