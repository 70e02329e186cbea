"""Live progress instead of Ray's log stream: trials done / running / total, best, elapsed.

"best" is the best final value of the trials that have finished (completed or stopped early), so
it only ever improves; a running trial's partial value (a cumulative regret after a few rounds, a
loss after one epoch) would make it jump. Until a trial finishes, the line shows the best latest
value of the running trials, marked "(running)".

A failed trial gets one line (its id, the exception's type and message, and where the full
traceback is) instead of Ray Tune's own multi-line traceback, which :func:`quiet_ray_trial_errors`
turns off. After a resume, trials that finished in the earlier run count as done.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from typing import Any

from ray.tune import Callback

from searchlab import status
from searchlab.trainable import DIVERGED


class Forwarder(Callback):
    """A picklable stand-in that Tune stores in its state; forwards hooks to the live callback.

    Tune pickles its RunConfig (callbacks included) for resumption. Our callbacks hold threads
    and clients, so Tune gets this forwarder; a resumed study registers fresh live callbacks
    under the same key and the restored forwarder reaches them.
    """

    LIVE: dict[str, Callback] = {}

    def __init__(self, key: str) -> None:
        self.key = key

    def _call(self, name: str, *args: Any, **kwargs: Any) -> None:
        target = Forwarder.LIVE.get(self.key)
        if target is not None:
            getattr(target, name)(*args, **kwargs)

    def on_step_end(self, *a: Any, **k: Any) -> None: self._call("on_step_end", *a, **k)
    def on_trial_start(self, *a: Any, **k: Any) -> None: self._call("on_trial_start", *a, **k)
    def on_trial_result(self, *a: Any, **k: Any) -> None: self._call("on_trial_result", *a, **k)
    def on_trial_complete(self, *a: Any, **k: Any) -> None: self._call("on_trial_complete", *a, **k)
    def on_trial_error(self, *a: Any, **k: Any) -> None: self._call("on_trial_error", *a, **k)
    def on_trial_recover(self, *a: Any, **k: Any) -> None: self._call("on_trial_recover", *a, **k)
    def on_experiment_end(self, *a: Any, **k: Any) -> None: self._call("on_experiment_end", *a, **k)


def quiet_ray_trial_errors() -> None:
    """Stop Ray Tune from logging each failed trial's traceback (and the closing list of
    incomplete trials) on the console: :class:`Progress` prints one line per failed trial, and the
    traceback stays in the trial's ``error.txt``. Call before the Tuner starts (Tune reads the
    variable when its controller is built)."""
    os.environ["TUNE_PRINT_ALL_TRIAL_ERRORS"] = "0"
    for name, drop in (("ray.tune.tune", _drop_incomplete_trials),
                       ("ray.tune.execution.tune_controller", _drop_gone_checkpoint)):
        log = logging.getLogger(name)
        if drop not in log.filters:
            log.addFilter(drop)


def _drop_incomplete_trials(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Trials did not complete")


def _drop_gone_checkpoint(record: logging.LogRecord) -> bool:
    """Tune's experiment state lags its trials' checkpoints: after a driver was killed, the
    restored state still lists a checkpoint the trial had already deleted (it keeps the newest
    two), and deleting it again fails with FileNotFoundError, logged with a traceback as
    "Error handling checkpoint" though nothing is lost and the trial goes on."""
    exc = record.exc_info[1] if record.exc_info else None
    return not (isinstance(exc, FileNotFoundError)
                and "Error handling checkpoint" in record.getMessage())


class Progress(Callback):
    """The progress line. ``started``: when the study started (``time.monotonic()``; default:
    now), so that the clock agrees with the summary. ``tracked``: whether trials go to MLflow
    (where a failed trial's line says its traceback is)."""

    def __init__(self, *, total: int | None, metric: str, mode: str, max_epochs: int,
                 quiet: bool = False, stream: Any = None, interval: float | None = None,
                 started: float | None = None, tracked: bool = True) -> None:
        quiet_ray_trial_errors()
        self.max_epochs = max_epochs
        self.study_dir: str | None = None  # where trials leave their markers
        self.tracked = tracked
        self.resumed = False  # trials finished in an earlier run of the study
        self.statuses: dict[str, str] = {}  # trial id -> final status, as the hooks saw it
        self.total, self.metric, self.mode, self.quiet = total, metric, mode, quiet
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.5 if self.tty else 10.0)
        self.started = started if started is not None else time.monotonic()
        self.done = self.failed = self.stopped_early = 0
        self.running: set[str] = set()
        self.best: float | None = None
        self.best_trial: str | None = None
        self.best_running = False  # no trial has finished: best is a running trial's value
        self._latest: dict[str, float] = {}  # each trial's latest value
        self._finished: set[str] = set()  # trials whose latest value is final
        self._last_print = 0.0
        self._last_line = ""

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.add(trial.trial_id)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        v = result.get(self.metric)
        if v is None or result.get(DIVERGED) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return
        self._latest[trial.trial_id] = float(v)
        self._rank()

    def _rank(self) -> None:
        final = [t for t in self._latest if t in self._finished]
        candidates = final or list(self._latest)
        self.best_running = not final
        if not candidates:
            self.best = self.best_trial = None
            return
        pick = max if self.mode == "max" else min
        self.best_trial = pick(candidates, key=self._latest.__getitem__)
        self.best = self._latest[self.best_trial]

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        state = self._end(trial, errored=True)
        self._say(f"trial {trial.trial_id} {state.replace('_', ' ')}: {self._error(trial)}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        self._say(f"trial {trial.trial_id} failed, retrying from its last checkpoint "
                  f"(attempt {trial.num_failures + 1}): {self._error(trial)}")

    def _error(self, trial: Any) -> str:
        """The error in one line of words (see :func:`status.trial_error`), and where its full
        text is."""
        path = getattr(trial, "error_file", None)
        try:
            with open(path or "", errors="replace") as f:
                text: str | None = f.read()
        except OSError:
            text = None
        message = status.trial_error(text, status.files_of(self.study_dir, trial.trial_id))
        where = (f"artifact trial/error.txt of trial {trial.trial_id} in MLflow" if self.tracked
                 else path or "the trial's directory")
        return f"{message or 'unknown error'} (details: {where})"

    def _end(self, trial: Any, errored: bool) -> str:
        self.running.discard(trial.trial_id)
        self.done += 1
        state = self.statuses[trial.trial_id] = status.of_trial(trial, self.max_epochs, errored,
                                                                       self.study_dir)
        if state in ("failed", "timed_out"):
            self.failed += 1
        if state in ("failed", "timed_out", "diverged"):
            self._latest.pop(trial.trial_id, None)
        else:
            self._finished.add(trial.trial_id)
        self._rank()
        return state

    def _count_earlier(self, trials: list) -> None:
        """Trials that finished before a resume never pass through the hooks: count them."""
        for trial in trials:
            if trial.trial_id in self.statuses or trial.status not in ("TERMINATED", "ERROR"):
                continue
            self.resumed = True
            state = self._end(trial, errored=trial.status == "ERROR")
            v = (trial.last_result or {}).get(self.metric)
            if (state not in ("failed", "timed_out", "diverged") and isinstance(v, (int, float))
                    and math.isfinite(v)):
                self._latest[trial.trial_id] = float(v)
                self._rank()

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._count_earlier(trials)
        now = time.monotonic()
        if not self.quiet and now - self._last_print >= self.interval:
            self._last_print = now
            self._emit(self.line())

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._count_earlier(trials)
        if not self.quiet:
            self._emit(self.line(), final=True)

    def line(self) -> str:
        total = self.total if self.total is not None else "?"
        best = "-" if self.best is None else f"{self.best:.6g}"
        if self.best is not None and self.best_running:
            best += " (running)"
        failed = f" · {self.failed} failed" if self.failed else ""
        resumed = " (resumed)" if self.resumed else ""
        return (f"trials {self.done}/{total} done · {len(self.running)} running{failed} · "
                f"best {self.metric} {best} · {_fmt_time(time.monotonic() - self.started)}{resumed}")

    def _say(self, message: str) -> None:
        """One line of its own, above the live progress line (also with ``quiet``)."""
        self.stream.write(("\r\x1b[2K" if self.tty else "") + message + "\n")
        if self.tty and self._last_line:
            self.stream.write(self._last_line)
        self.stream.flush()

    def _emit(self, line: str, final: bool = False) -> None:
        if self.tty:
            end = "\n" if final else ""
            self.stream.write("\r\x1b[2K" + line + end)
        elif line != self._last_line or final:
            self.stream.write(line + "\n")
        self._last_line = line
        self.stream.flush()


def _fmt_time(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
