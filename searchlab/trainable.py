"""The thin adapter from a workload function to a Ray Tune function trainable.

It resolves the workload in the worker, flattens the searcher's config, restores and saves
checkpoints, picks the device honestly (CUDA only when the trial was given a GPU and CUDA is
present), and turns a non-finite metric into a ``diverged`` trial that stops instead of failing.
"""

from __future__ import annotations

import math
import os
import pickle
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from searchlab.spec.space import Space
from searchlab.workloads.api import Context, iterate

DIVERGED = "searchlab_diverged"
TIMED_OUT = "searchlab_timed_out"


@dataclass(frozen=True)
class TrialSpec:
    """Everything a trial needs, shipped to workers once (it is small and picklable)."""

    function: str
    args: dict[str, Any]
    path: str | None
    space: Space | None
    metric: str
    mode: str
    max_epochs: int
    seed: int
    trial_timeout: float | None = None
    workload: Callable[..., Any] | None = None  # a method's own workload function
    study_dir: str | None = None  # searchlab's per-trial files go to <study_dir>/<trial_id>/


def make_trainable(spec: TrialSpec) -> Callable[[dict[str, Any]], None]:
    def searchlab_trial(config: dict[str, Any]) -> None:
        run_trial(spec, config)

    return searchlab_trial


def run_trial(spec: TrialSpec, config: dict[str, Any]) -> None:
    from ray import tune

    if spec.workload is not None:
        fn = spec.workload
    else:
        from searchlab.workloads import resolve

        fn = resolve(spec.function, spec.path)
    flat = spec.space.flatten(config) if spec.space is not None else dict(config)
    ray_ctx = tune.get_context()
    trial_id = ray_ctx.get_trial_id() or "0"
    ctx = Context(
        device=_device(),
        max_epochs=spec.max_epochs,
        seed=(spec.seed * 100_003 + _trial_index(trial_id)) % (2**31),
        restored=_restore(tune.get_checkpoint()),
        trial_dir=ray_ctx.get_trial_dir(),
    )
    worst = -math.inf if spec.mode == "max" else math.inf
    started = time.monotonic()
    files = files_dir(spec.study_dir, trial_id)
    watchdog = _start_watchdog(spec.trial_timeout, files) if spec.trial_timeout else None
    try:
        with _Tee(os.path.join(files, LOG_FILE) if files else None):
            _run(spec, fn, flat, ctx, worst, started)
    finally:
        if watchdog is not None:  # actors are reused: never let it fire in the next trial
            watchdog.cancel()


def _run(spec: TrialSpec, fn: Any, flat: dict[str, Any], ctx: Context, worst: float,
         started: float) -> None:
    from ray import tune

    for metrics in iterate(fn(flat, ctx, **spec.args)):
        result = dict(metrics)
        if spec.metric not in result:
            raise MissingMetricError(
                f"the workload reported {sorted(result) or 'nothing'} but never "
                f"'{spec.metric}', the study's metric; report it, or set metric.name")
        value = result.get(spec.metric)
        if value is not None and not _finite(value):
            tune.report({**result, spec.metric: worst, DIVERGED: 1})
            return
        saved, state = ctx.take_checkpoint()
        if saved:
            with tempfile.TemporaryDirectory() as d:
                _save(state, d)
                tune.report(result, checkpoint=tune.Checkpoint.from_directory(d))
        else:
            tune.report(result)
        if spec.trial_timeout and time.monotonic() - started > spec.trial_timeout:
            tune.report({**result, TIMED_OUT: 1})
            return


LOG_FILE = "trial.log"


def files_dir(study_dir: str | None, trial_id: str) -> str | None:
    """Where a trial's log and markers go: its directory in the study's storage, which the
    driver reads too (Ray's own trial dir moves around when actors are reused)."""
    if not study_dir:
        return None
    path = os.path.join(study_dir, trial_id)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    return path


class _Tee:
    """Copy what the workload prints (stdout and stderr) into the trial's log file.

    Ray's own log records (for instance "Checkpoint successfully created" at every checkpoint)
    go to the worker's real stderr, not into the workload's log; the ``SystemExit(0)`` with which
    Ray ends a trial it stopped, and the ``GeneratorExit`` of a closed workload, are not errors.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.file: Any = None
        self._ray_handlers: list[Any] = []

    def __enter__(self) -> _Tee:
        if self.path:
            try:
                self.file = open(self.path, "a", buffering=1)
            except OSError:
                return self
            self.saved = sys.stdout, sys.stderr
            sys.stdout = _TeeStream(sys.stdout, self.file)
            sys.stderr = _TeeStream(sys.stderr, self.file)
            self._divert_ray_logging(self.saved[1])
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.file is not None:
            if exc[0] is not None and not _normal_exit(exc[1]):
                import traceback

                traceback.print_exception(*exc, file=self.file)
            sys.stdout, sys.stderr = self.saved
            self._restore_ray_logging()
            self.file.close()

    def _divert_ray_logging(self, stream: Any) -> None:
        """Ray's handlers write to whatever ``sys.stderr`` is when they emit: give the ``ray``
        logger a handler on the real stderr while the workload's output is teed."""
        import logging

        ray_logger = logging.getLogger("ray")
        self._ray_handlers = list(ray_logger.handlers)
        if not self._ray_handlers:
            return
        direct = logging.StreamHandler(stream)
        first = self._ray_handlers[0]
        direct.setLevel(first.level)
        plain = getattr(first, "plain_handler", None)  # Ray's handler formats plainly in workers
        direct.setFormatter((plain or first).formatter)
        ray_logger.handlers = [direct]

    def _restore_ray_logging(self) -> None:
        if self._ray_handlers:
            import logging

            logging.getLogger("ray").handlers = self._ray_handlers


def _normal_exit(exc: BaseException | None) -> bool:
    """Ray stops a trial with ``sys.exit(0)``; a closed generator raises ``GeneratorExit``."""
    if isinstance(exc, GeneratorExit):
        return True
    return isinstance(exc, SystemExit) and exc.code in (0, None)


class _TeeStream:
    def __init__(self, stream: Any, file: Any) -> None:
        self.stream, self.file = stream, file

    def write(self, text: str) -> int:
        try:
            self.file.write(text)
        except (OSError, ValueError):
            pass
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()
        try:
            self.file.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class MissingMetricError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


TIMED_OUT_MARKER = "searchlab-timed-out"


def _start_watchdog(limit: float, trial_dir: str | None) -> Any:
    """End this trial's worker process when it runs past ``limit`` seconds, even if it hangs.

    A hung workload never returns control, so nothing short of ending the process stops it.
    The marker file tells the driver the trial timed out rather than crashed.
    """
    import threading

    def expire() -> None:
        if trial_dir:
            try:
                with open(os.path.join(trial_dir, TIMED_OUT_MARKER), "w") as f:
                    f.write(f"trial ran past its time limit of {limit:g} s (budget.trial_timeout)\n")
            except OSError:
                pass
        sys.stderr.write(f"searchlab: trial ran past budget.trial_timeout={limit:g}s; stopping it\n")
        sys.stderr.flush()
        os._exit(3)

    timer = threading.Timer(limit, expire)
    timer.daemon = True
    timer.start()
    return timer


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return True  # not a number: not ours to judge


def _trial_index(trial_id: str) -> int:
    tail = trial_id.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else zlib.crc32(trial_id.encode()) % 100_000


def _device() -> str:
    """"cuda" when Ray gave this trial a GPU and CUDA is really there; else "cpu"."""
    import ray

    try:
        gpus = ray.get_gpu_ids()
    except Exception:  # noqa: BLE001 - outside a Ray worker
        gpus = []
    if not gpus:
        return "cpu"
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def _save(state: Any, directory: str) -> None:
    if "torch" in sys.modules:  # tensors inside: torch.save handles devices and storage sharing
        import torch

        torch.save(state, os.path.join(directory, "state.pt"))
    else:
        with open(os.path.join(directory, "state.pkl"), "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)


def _restore(checkpoint: Any) -> Any:
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as d:
        if os.path.exists(os.path.join(d, "state.pt")):
            import torch

            return torch.load(os.path.join(d, "state.pt"), weights_only=False, map_location=_device())
        if os.path.exists(os.path.join(d, "state.pkl")):
            with open(os.path.join(d, "state.pkl"), "rb") as f:
                return pickle.load(f)
        return None
