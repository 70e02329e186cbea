"""Live progress instead of Ray's log stream: trials done / running / total, best, elapsed."""

from __future__ import annotations

import math
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


class Progress(Callback):
    def __init__(self, *, total: int | None, metric: str, mode: str, max_epochs: int,
                 quiet: bool = False, stream: Any = None, interval: float | None = None) -> None:
        self.max_epochs = max_epochs
        self.study_dir: str | None = None  # where trials leave their markers
        self.statuses: dict[str, str] = {}  # trial id -> final status, as the hooks saw it
        self.total, self.metric, self.mode, self.quiet = total, metric, mode, quiet
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.5 if self.tty else 10.0)
        self.started = time.monotonic()
        self.done = self.failed = self.stopped_early = 0
        self.running: set[str] = set()
        self.best: float | None = None
        self.best_trial: str | None = None
        self._latest: dict[str, float] = {}  # each trial's latest value: what "best" ranks
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
        if not self._latest:
            self.best = self.best_trial = None
            return
        pick = max if self.mode == "max" else min
        self.best_trial = pick(self._latest, key=self._latest.__getitem__)
        self.best = self._latest[self.best_trial]

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial, errored=True)

    def _end(self, trial: Any, errored: bool) -> None:
        self.running.discard(trial.trial_id)
        self.done += 1
        state = self.statuses[trial.trial_id] = status.of_trial(trial, self.max_epochs, errored,
                                                                       self.study_dir)
        if state in ("failed", "timed_out"):
            self.failed += 1
        if state in ("failed", "timed_out", "diverged"):
            self._latest.pop(trial.trial_id, None)
            self._rank()

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.monotonic()
        if not self.quiet and now - self._last_print >= self.interval:
            self._last_print = now
            self._emit(self.line())

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if not self.quiet:
            self._emit(self.line(), final=True)

    def line(self) -> str:
        total = self.total if self.total is not None else "?"
        best = "-" if self.best is None else f"{self.best:.6g}"
        failed = f" · {self.failed} failed" if self.failed else ""
        return (f"trials {self.done}/{total} done · {len(self.running)} running{failed} · "
                f"best {self.metric} {best} · {_fmt_time(time.monotonic() - self.started)}")

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
