"""Result keys and trial statuses, decided in one place. Ray-free.

completed      reported its full length (the request's ``length``), or its workload ended by itself
early_stopped  stopped by the scheduler before that
diverged       its metric became NaN or infinite
timed_out      ran past budget.trial_timeout
failed         raised (its error is kept)
interrupted    the study was stopped while it ran (Ctrl-C, SIGTERM); a resume continues it
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

#: the key of a Tune config that carries searchlab's own request data (never a parameter)
META = "__searchlab"
#: result keys the trial adapter adds
DIVERGED = "searchlab_diverged"
TIMED_OUT = "searchlab_timed_out"
#: files the trial adapter leaves in <study_dir>/<trial_id>/
TIMED_OUT_MARKER = "searchlab-timed-out"
FINISHED_MARKER = "searchlab-finished"  # the workload ended by itself
EXITED_MARKER = "searchlab-exited"  # the trial's process ended with os._exit(code): the code
LOG_FILE = "trial.log"

#: keys of a Tune result that are Tune's bookkeeping, never a workload's metric
TUNE_KEYS = frozenset({
    "timestamp", "pid", "hostname", "node_ip", "time_this_iter_s", "time_since_restore",
    "iterations_since_restore", "done", "training_iteration", "date", "trial_id", "config",
    "checkpoint_dir_name", "should_checkpoint", "experiment_tag", DIVERGED, TIMED_OUT,
})

def reported(result: dict[str, Any] | None) -> dict[str, float]:
    """The metrics a trial reported in one Tune result, as the writer logs them to MLflow:
    finite numbers, not Tune's bookkeeping (``TUNE_KEYS``)."""
    return {k: float(v) for k, v in (result or {}).items()
            if k not in TUNE_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v)}


STATUSES = ("completed", "early_stopped", "diverged", "timed_out", "failed", "interrupted")
MLFLOW_STATUS = {"completed": "FINISHED", "early_stopped": "FINISHED", "diverged": "FINISHED",
                 "timed_out": "FAILED", "failed": "FAILED", "interrupted": "KILLED"}
#: statuses whose metric does not count (for best-trial tables)
UNSCORED = ("failed", "diverged", "timed_out")


def length_of(config: dict[str, Any] | None, default: int) -> int:
    """A trial's length (most reports) from its config's request data, else ``default``."""
    meta = (config or {}).get(META)
    if isinstance(meta, dict) and meta.get("length"):
        return int(meta["length"])
    return default


def tracking_key(config: dict[str, Any] | None, trial_id: str) -> str:
    """The id a trial is recorded under in MLflow: its own, or, for a request handed out again
    after a resume (Tune had lost the first trial), the id it was first asked under."""
    meta = (config or {}).get(META)
    if isinstance(meta, dict) and meta.get("request_id"):
        return str(meta["request_id"])
    return trial_id


def decide(last: dict[str, Any] | None, length: int, errored: bool, files: str | None) -> str:
    """``files``: the trial's own directory (<study_dir>/<trial_id>), where markers are left."""
    last = last or {}
    if files and os.path.exists(os.path.join(files, TIMED_OUT_MARKER)):
        return "timed_out"
    if last.get(TIMED_OUT):
        return "timed_out"
    if errored:
        return "failed"
    if last.get(DIVERGED):
        return "diverged"
    if int(last.get("training_iteration") or 0) >= length:
        return "completed"
    if files and os.path.exists(os.path.join(files, FINISHED_MARKER)):
        return "completed"
    return "early_stopped"


def files_of(study_dir: str | None, trial_id: str) -> str | None:
    return os.path.join(study_dir, trial_id) if study_dir else None


def of_trial(trial: Any, default_length: int, errored: bool, study_dir: str | None = None) -> str:
    """From a live Ray Tune Trial (driver-side hooks)."""
    return decide(trial.last_result, length_of(trial.config, default_length), errored,
                  files_of(study_dir, trial.trial_id) or getattr(trial, "path", None))


def of_result(result: Any, default_length: int, study_dir: str | None = None) -> str:
    """From a Ray Tune Result (trials that finished in an earlier, interrupted driver)."""
    tid = str((result.metrics or {}).get("trial_id", ""))
    return decide(result.metrics, length_of(result.config, default_length),
                  result.error is not None,
                  (files_of(study_dir, tid) if tid else None) or result.path)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Ray's memory monitor, in the error of the trial whose process it ended
_OOM = re.compile(r"running low on memory.*?was ([\d.]+)\s*GB used / ([\d.]+)\s*GB limit", re.S)
#: Ray's error when a trial's process died under it (os._exit, a signal, a crash)
_DIED = ("The actor is dead because its worker process has died", "ActorDiedError",
         "Worker unexpectedly exits")


def trial_error(text: str | None, files: str | None = None) -> str | None:
    """A trial's error in one line of words: its time limit, a process that died (out of memory
    at N GB, exited with code N, killed) instead of Ray's multi-line report, or else the
    workload's own exception (:func:`error_line`). ``files``: the trial's own directory, where
    the trial adapter leaves its markers."""
    timed_out = _read_marker(files, TIMED_OUT_MARKER)
    if timed_out:
        return error_line(timed_out)
    plain = _ANSI.sub("", text or "")
    oom = _OOM.search(plain)
    if oom:
        used, limit = float(oom.group(1)), float(oom.group(2))
        return (f"out of memory: its node was using {used:.1f} GB of {limit:.1f} GB and Ray's "
                "memory monitor ended the trial's process")
    if any(s in plain for s in _DIED):
        code = (_read_marker(files, EXITED_MARKER) or "").strip()
        if code:
            return f"its process exited with code {code}"
        return ("its process died without an exit status (killed by a signal, such as the "
                "kernel's out-of-memory killer's, or crashed)")
    line = error_line(text)
    # the trial adapter's own error says it all in words (the metric it never saw)
    return line.split("MissingMetricError: ", 1)[-1] if line else line


def _read_marker(files: str | None, name: str) -> str | None:
    if not files:
        return None
    try:
        with open(os.path.join(files, name), errors="replace") as f:
            return f.read()
    except OSError:
        return None


def error_line(text: str | None) -> str | None:
    """The last line of a trial's error text (the workload's own exception, not Ray's
    wrapping), without terminal colour codes."""
    if not text:
        return None
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    if len(lines) >= 3 and lines[-1].startswith("For further information visit"):
        # pydantic ends with a link: "<field>", "<message> [type=...]", "For further ... <url>"
        message = re.sub(r"\s*\[type=[^\]]*\]$", "", lines[-2])
        field = "" if "validation error" in lines[-3] else f"{lines[-3]}: "
        return f"{field}{message}"[:300]
    return lines[-1][:300] if lines else None
