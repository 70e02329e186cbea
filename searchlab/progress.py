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


def quiet_ray_trial_errors() -> None:
    """Stop Ray Tune from logging each failed trial's traceback (and the closing list of
    incomplete trials) on the console: :class:`Progress` prints one line per failed trial, and the
    traceback stays in the trial's ``error.txt``. Call before Tune starts (Tune reads the
    variable when its controller is built)."""
    os.environ["TUNE_PRINT_ALL_TRIAL_ERRORS"] = "0"
    for name, drop in (("ray.tune.tune", _drop_incomplete_trials),
                       ("ray.tune.execution.tune_controller", _drop_gone_checkpoint),
                       ("ray.tune.execution.experiment_state", _drop_temp_file_race)):
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


def _drop_temp_file_race(record: logging.LogRecord) -> bool:
    """Tune copies its driver's files to the study's storage while it writes them through a
    temporary file and a rename: a copy that starts before the rename and opens after it fails
    with FileNotFoundError on the ``...-tmp-...`` file, logged with a traceback as "Saving
    experiment state to storage ... failed", though the next save copies the renamed file."""
    exc = record.exc_info[1] if record.exc_info else None
    return not (isinstance(exc, FileNotFoundError) and "-tmp-" in str(exc)
                and "Saving experiment state" in record.getMessage())


def live_display(stream: Any) -> bool:
    """A live progress bar for ``stream``: a terminal, outside CI (``CI`` set) and not a dumb
    terminal. Elsewhere (piped, a log file, CI) progress is plain periodic lines."""
    tty = bool(getattr(stream, "isatty", lambda: False)())
    return tty and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


class Progress(Callback):
    """The progress display: a live bar (rich) on a terminal, a plain line every ``interval``
    seconds elsewhere (see :func:`live_display`); the final line is the same plain text either
    way. ``started``: when the study started (``time.monotonic()``; default: now), so that the
    clock agrees with the summary. ``tracked``: whether trials go to MLflow (where a failed
    trial's line says its traceback is).

    Trials are counted once each, by the id they are tracked under: after a resume the count
    starts from the trials the method was told of before (:meth:`resuming`), so it never drops
    below what the interrupted run showed, and the line says "(resumed)" only then."""

    def __init__(self, *, total: int | None, metric: str, mode: str, max_epochs: int,
                 quiet: bool = False, stream: Any = None, interval: float | None = None,
                 started: float | None = None, tracked: bool = True) -> None:
        quiet_ray_trial_errors()
        self.max_epochs = max_epochs
        self.study_dir: str | None = None  # where trials leave their markers
        self.tracked = tracked
        self.resumed = False  # this run continues an earlier one (see resuming)
        self.statuses: dict[str, str] = {}  # trial id -> final status, as the hooks saw it
        self.total, self.metric, self.mode, self.quiet = total, metric, mode, quiet
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.live = live_display(self.stream)
        self.interval = interval if interval is not None else (0.5 if self.live else 10.0)
        self.started = started if started is not None else time.monotonic()
        self.failed = self.stopped_early = 0
        self.running: set[str] = set()
        self.best: float | None = None
        self.best_trial: str | None = None
        self.best_running = False  # no trial has finished: best is a running trial's value
        self._counted: set[str] = set()  # the tracked ids of the trials that ended
        self._alias: dict[str, str] = {}  # a Tune trial id -> the request id it runs
        self._latest: dict[str, float] = {}  # each running trial's latest value
        self._final: tuple[float, str] | None = None  # the best final value, and its trial
        self._earlier_counted = False
        self._last_print = 0.0
        self._last_line = ""
        self._bar: Any = None  # rich's live display, once started

    @property
    def done(self) -> int:
        return len(self._counted)

    def resuming(self, study_dir: str) -> None:
        """This run resumes the study in ``study_dir``: count the trials the method was told of
        in earlier runs (its journal), with their values, before Tune's restored trials."""
        from searchlab.execution.driver import JOURNAL, _read_journal

        self.resumed = True
        for entry in _read_journal(os.path.join(study_dir, JOURNAL)):
            if entry.get("kind") == "alias":
                self._alias[str(entry["new"])] = str(entry["old"])
            elif entry.get("kind") == "tell":
                told = entry.get("result") or {}
                key, state = str(told.get("trial_id")), str(told.get("status"))
                self.statuses.setdefault(key, state)
                self._count(key, state, (told.get("metrics") or {}).get(self.metric))

    def _key(self, trial: Any) -> str:
        key = status.tracking_key(trial.config, trial.trial_id)
        return self._alias.get(key, key)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.add(trial.trial_id)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        v = result.get(self.metric)
        key = self._key(trial)
        if (key in self._counted or v is None or result.get(DIVERGED)
                or not isinstance(v, (int, float)) or not math.isfinite(v)):
            return
        self._latest[key] = float(v)
        self._rank()

    def _rank(self) -> None:
        """The best final value; until a trial has one, the best value of the running trials
        (a few: constant time per result however many trials the study has)."""
        self.best_running = self._final is None
        if self._final is not None:
            self.best, self.best_trial = self._final
            return
        if not self._latest:
            self.best = self.best_trial = None
            return
        from searchlab.results import best_first

        self.best_trial = best_first(self._latest, self.mode, value=self._latest.__getitem__,
                                     epochs=lambda t: 0, trial_id=str)[0]
        self.best = self._latest[self.best_trial]

    def _final_value(self, trial_id: str, value: float) -> None:
        """Keep the best final value, in :func:`searchlab.results.best_first`'s order (by value,
        then the trial id)."""
        sign = -1.0 if self.mode == "max" else 1.0
        if self._final is None or (sign * value, trial_id) < (sign * self._final[0],
                                                               self._final[1]):
            self._final = (value, trial_id)

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
        state = self.statuses[trial.trial_id] = status.of_trial(trial, self.max_epochs, errored,
                                                                       self.study_dir)
        key = self._key(trial)
        self._count(key, state, self._latest.get(key, (trial.last_result or {}).get(self.metric)))
        return state

    def _count(self, key: str, state: str, value: Any) -> None:
        """Trial ``key`` ended in ``state`` with ``value``; a trial is counted once."""
        if key in self._counted:
            return
        self._counted.add(key)
        if state in ("failed", "timed_out"):
            self.failed += 1
        self._latest.pop(key, None)
        if (state not in ("failed", "timed_out", "diverged") and isinstance(value, (int, float))
                and math.isfinite(value)):
            self._final_value(key, float(value))
        self._rank()

    def _count_earlier(self, trials: list) -> None:
        """A resumed run: the trials Tune restored as ended never pass through the hooks; count
        those the method's journal did not hold (once, at the first step)."""
        if not self.resumed or self._earlier_counted:
            return
        self._earlier_counted = True
        for trial in trials:
            if trial.trial_id in self.statuses or trial.status not in ("TERMINATED", "ERROR"):
                continue
            self._end(trial, errored=trial.status == "ERROR")

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if not self._earlier_counted:
            self._earlier_counted = True
            self._count_earlier(trials)
        now = time.monotonic()
        if not self.quiet and now - self._last_print >= self.interval:
            self._last_print = now
            self._emit(self.line())

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._count_earlier(trials)
        if not self.quiet:
            self._emit(self.line(), final=True)
        self.close()

    def line(self) -> str:
        total = self.total if self.total is not None else "?"
        return (f"trials {self.done}/{total} done · {len(self.running)} running"
                f"{self._tail()}")

    def _tail(self) -> str:
        """The line after the counts: failed, best, the clock, (resumed)."""
        best = "-" if self.best is None else f"{self.best:.4g}"
        if self.best is not None and self.best_running:
            best += " (running)"
        failed = f" · {self.failed} failed" if self.failed else ""
        resumed = " (resumed)" if self.resumed else ""
        return (f"{failed} · best {self.metric} {best} · "
                f"{_fmt_time(time.monotonic() - self.started)}{resumed}")

    def _say(self, message: str) -> None:
        """One line of its own, above the live display (also with ``quiet``)."""
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False, soft_wrap=True)
            return
        self.stream.write(("\r\x1b[2K" if self.tty else "") + message + "\n")
        if self.tty and self._last_line:
            self.stream.write(self._last_line)
        self.stream.flush()

    def _emit(self, line: str, final: bool = False) -> None:
        if self.live and not final:
            self._draw()
        elif self.live:
            self.close()
            self.stream.write(line + "\n")
        elif line != self._last_line or final:
            self.stream.write(line + "\n")
        self._last_line = line
        self.stream.flush()

    def _draw(self) -> None:
        """The live bar: trials done of the total, then the rest of the line."""
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as Bar

            console = Console(file=self.stream, highlight=False)
            self._bar = Bar(TextColumn("trials"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.description}"), console=console,
                            auto_refresh=False, transient=True)
            self._task = self._bar.add_task("", total=self.total)
            self._bar.start()
        self._bar.update(self._task, completed=self.done,
                         description=f"done · {len(self.running)} running{self._tail()}")
        self._bar.refresh()

    def close(self) -> None:
        """Take the live bar off the terminal (the final line replaces it). Idempotent."""
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.stop()


def _fmt_time(s: float) -> str:
    s = int(s)
    return (f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600
            else f"{s // 60}:{s % 60:02d}")
