"""A finished trial's status, decided in one place for the writer, the progress line and the table.

completed      ran to budget.max_epochs
early_stopped  stopped by the scheduler (or the method) before max_epochs
diverged       its metric became NaN or infinite
timed_out      ran past budget.trial_timeout
failed         raised (its error is kept)
"""

from __future__ import annotations

import os
from typing import Any

from searchlab.trainable import DIVERGED, TIMED_OUT, TIMED_OUT_MARKER

MLFLOW_STATUS = {"completed": "FINISHED", "early_stopped": "FINISHED", "diverged": "FINISHED",
                 "timed_out": "FAILED", "failed": "FAILED"}


def decide(last: dict[str, Any] | None, max_epochs: int, errored: bool, trial_dir: str | None) -> str:
    last = last or {}
    if trial_dir and os.path.exists(os.path.join(trial_dir, TIMED_OUT_MARKER)):
        return "timed_out"
    if last.get(TIMED_OUT):
        return "timed_out"
    if errored:
        return "failed"
    if last.get(DIVERGED):
        return "diverged"
    if int(last.get("training_iteration") or 0) >= max_epochs:
        return "completed"
    return "early_stopped"


def of_trial(trial: Any, max_epochs: int, errored: bool) -> str:
    """From a live Ray Tune Trial (driver-side hooks)."""
    return decide(trial.last_result, max_epochs, errored, getattr(trial, "path", None))


def of_result(result: Any, max_epochs: int) -> str:
    """From a Ray Tune Result (trials that finished in an earlier, interrupted driver)."""
    return decide(result.metrics, max_epochs, result.error is not None, result.path)
