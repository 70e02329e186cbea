"""The thin adapter from a workload function to a Ray Tune function trainable.

It resolves the workload the trial's request names (else the study's) in the worker, hands it the
flat config, its evaluation pool and its length, restores and saves checkpoints, picks the device
honestly (CUDA only when the trial was given a GPU and CUDA is present), turns a non-finite metric
into a ``diverged`` trial that stops instead of failing, and stops after the request's length.
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

from searchlab.status import (
    DIVERGED,
    EXITED_MARKER,
    FINISHED_MARKER,
    LOG_FILE,
    META,
    TIMED_OUT,
    TIMED_OUT_MARKER,
)
from searchlab.workloads.api import Context, iterate

__all__ = ["DIVERGED", "LOG_FILE", "TIMED_OUT", "TIMED_OUT_MARKER", "TrialSpec", "make_trainable"]


@dataclass(frozen=True)
class TrialSpec:
    """Everything a trial needs, shipped to workers once (it is small and picklable)."""

    function: str | None  # the study's workload (requests may name their own)
    args: dict[str, Any]
    path: str | None  # the study's code directory (searchlab.refs.study_code_dir), on sys.path
    metric: str
    mode: str
    max_epochs: int  # the default length
    seed: int
    trial_timeout: float | None = None
    study_dir: str | None = None  # searchlab's per-trial files go to <study_dir>/<trial_id>/
    resources: Any = None  # the study's TrialResources (requests may ask for their own)
    more_metrics: tuple[str, ...] = ()  # further objectives every report must carry too


def make_trainable(spec: TrialSpec) -> Callable[[dict[str, Any]], None]:
    def searchlab_trial(config: dict[str, Any]) -> None:
        run_trial(spec, config)

    return searchlab_trial


def run_trial(spec: TrialSpec, config: dict[str, Any]) -> None:
    from ray import tune

    from searchlab.spec.space import flat_config
    from searchlab.workloads import resolve

    meta = config.get(META) or {}
    if meta.get("workload"):
        # a method's workload: from the study's code directory (the study file's, see
        # searchlab.refs), where the references its settings name were found at the preflight
        fn, args = resolve(meta["workload"], spec.path), dict(meta.get("args") or {})
    else:
        if not spec.function:
            raise ValueError("this trial names no workload and the study has none")
        fn, args = resolve(spec.function, spec.path), {**spec.args, **(meta.get("args") or {})}
    length = int(meta.get("length") or spec.max_epochs)
    ray_ctx = tune.get_context()
    trial_id = ray_ctx.get_trial_id() or "0"
    files = files_dir(spec.study_dir, trial_id)
    pool = _make_pool(meta.get("resources"), spec.resources)
    restored, done = _restore(tune.get_checkpoint())
    ctx = Context(
        device=_device(),
        max_epochs=length,
        seed=(spec.seed * 100_003 + int(meta.get("index", _trial_index(trial_id)))) % (2**31),
        restored=restored,
        trial_dir=files or ray_ctx.get_trial_dir(),
        pool=pool,
        trial_id=trial_id,
    )
    worst = -math.inf if spec.mode == "max" else math.inf
    started = time.monotonic()
    watchdog = _start_watchdog(spec.trial_timeout, files) if spec.trial_timeout else None
    try:
        with _Tee(os.path.join(files, LOG_FILE) if files else None), _ExitCode(files):
            try:
                ended = _run(spec, fn, flat_config(config), args, ctx, worst, started, done)
            except MissingMetricError as e:
                if files:  # the driver reads it when told the trial failed (Ray's copy comes later)
                    with open(os.path.join(files, "error.txt"), "w") as f:
                        f.write(f"MissingMetricError: {e.args[0]}\n")
                raise
        if ended and files:  # the workload ended by itself: completed, whatever its length
            with open(os.path.join(files, FINISHED_MARKER), "w") as f:
                f.write("the workload ended by itself\n")
    finally:
        if watchdog is not None:  # actors are reused: never let it fire in the next trial
            watchdog.cancel()
        close = getattr(pool, "close", None)
        if close is not None:
            close()


def _make_pool(requested: dict[str, Any] | None, default: Any) -> Any:
    """The trial's evaluation pool: Ray actors in its placement group when it has workers."""
    from searchlab.methods.base import TrialResources

    resources = TrialResources(**requested) if requested else default
    if resources is None or resources.workers == 0:
        from searchlab.workloads.api import SerialPool

        return SerialPool()
    from searchlab.execution.pool import make_pool

    return make_pool(resources, device=_device())


def _run(spec: TrialSpec, fn: Any, flat: dict[str, Any], args: dict[str, Any], ctx: Context,
         worst: float, started: float, epoch: int) -> bool:
    """Report each yielded result; True when the workload ended by itself. ``epoch``: the
    reports made before the checkpoint this trial restarts from."""
    from ray import tune

    for metrics in iterate(fn(flat, ctx, **args)):
        epoch += 1
        result = dict(metrics)
        for name in (spec.metric, *spec.more_metrics):
            if name not in result:
                import difflib

                close = difflib.get_close_matches(name, [str(k) for k in result], n=1)
                hint = (f"; did you mean '{close[0]}'?" if close
                        else "; report it, or set metric.name")
                raise MissingMetricError(
                    f"the workload reported {sorted(result) or 'nothing'} but never "
                    f"'{name}', the study's metric{hint}")
        value = result.get(spec.metric)
        if value is not None and not _finite(value):
            tune.report({**result, spec.metric: worst, DIVERGED: 1})
            return False
        saved, state = ctx.take_checkpoint()
        if saved:
            with tempfile.TemporaryDirectory() as d:
                _save({"searchlab_epoch": epoch, "state": state}, d)
                tune.report(result, checkpoint=tune.Checkpoint.from_directory(d))
        else:
            tune.report(result)
        if spec.trial_timeout and time.monotonic() - started > spec.trial_timeout:
            tune.report({**result, TIMED_OUT: 1})
            return False
        if epoch >= ctx.max_epochs:
            return False
    return True


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
            self.file = _LazyFile(self.path)  # opened at the first write: most trials print nothing
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


class _ExitCode:
    """While the trial runs, ``os._exit(code)`` first leaves the code in the trial's directory:
    the process then dies under Ray, whose error says only that the worker died, and the driver
    reads the code there ("its process exited with code 3")."""

    def __init__(self, files: str | None) -> None:
        self.files = files
        self.saved: Any = None

    def __enter__(self) -> _ExitCode:
        if self.files:
            self.saved = real = os._exit
            path = os.path.join(self.files, EXITED_MARKER)
            try:
                os.remove(path)  # an earlier attempt's
            except OSError:
                pass

            def recording_exit(code: int) -> None:
                try:
                    with open(path, "w") as f:
                        f.write(f"{code}\n")
                finally:
                    real(code)

            os._exit = recording_exit  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.saved is not None:  # actors are reused: the next trial records its own
            os._exit = self.saved


def _normal_exit(exc: BaseException | None) -> bool:
    """Ray stops a trial with ``sys.exit(0)``; a closed generator raises ``GeneratorExit``."""
    if isinstance(exc, GeneratorExit):
        return True
    return isinstance(exc, SystemExit) and exc.code in (0, None)


class _LazyFile:
    """A log file (append, line-buffered) that is opened at its first write."""

    def __init__(self, path: str) -> None:
        self.path: str | None = path
        self.file: Any = None

    def write(self, text: str) -> int:
        if self.file is None:
            if not text or self.path is None:
                return 0
            try:
                self.file = open(self.path, "a", buffering=1)
            except OSError:  # no log file then; the trial's output still reaches its stream
                self.path = None
                return 0
        return self.file.write(text)

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


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
                    f.write(f"trial ran past its time limit of {limit:g} s "
                            "(budget.trial_timeout)\n")
            except OSError:
                pass
        sys.stderr.write(f"searchlab: trial ran past budget.trial_timeout={limit:g}s; "
                         "stopping it\n")
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


def _restore(checkpoint: Any) -> tuple[Any, int]:
    """The workload's saved state and the reports made when it was saved."""
    if checkpoint is None:
        return None, 0
    saved: Any = None
    with checkpoint.as_directory() as d:
        if os.path.exists(os.path.join(d, "state.pt")):
            import torch

            saved = torch.load(os.path.join(d, "state.pt"), weights_only=False,
                               map_location=_device())
        elif os.path.exists(os.path.join(d, "state.pkl")):
            with open(os.path.join(d, "state.pkl"), "rb") as f:
                saved = pickle.load(f)
    if isinstance(saved, dict) and "searchlab_epoch" in saved:
        return saved["state"], int(saved["searchlab_epoch"])
    return saved, 0
