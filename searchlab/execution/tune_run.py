"""Assemble Ray Tune for a study and run it (``tune.run``, fresh or resumed from the study's
directory), with Ctrl-C and SIGTERM turned into a graceful, resumable stop.

The runner's live objects go to Tune as they are: the method's searcher and the callbacks
(progress line, MLflow writer). ``tune.run`` pickles none of them (a resumed study gets fresh
ones: the searcher replays the method's journal), so no object has to be found again by a key.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.schedulers import TrialScheduler

from searchlab.errors import SearchlabError, StudyInterrupted
from searchlab.execution.deadline import StudyDeadline
from searchlab.execution.driver import (
    FixedTrialsCallback,
    MethodSearcher,
    resources_of,
    search_algorithm,
)
from searchlab.spec.models import Study
from searchlab.stopping.base import SchedulerTraits
from searchlab.trainable import TrialSpec, make_trainable


@dataclass(frozen=True)
class TunePlan:
    """Everything Tune needs for one study execution."""

    study: Study
    spec: TrialSpec
    scheduler: TrialScheduler
    traits: SchedulerTraits  # the stopping rule's (``study.stopping.traits``)
    study_dir: Path
    at_once: int = 0  # trials at once (Study.concurrency_by_cores); 0: budget.concurrency


def fit(plan: TunePlan, searcher: MethodSearcher, callbacks: list[Callback], resuming: bool,
        restart_command: str) -> list[Any]:
    """Run the study, ``searcher`` asking its method for trials and ``callbacks`` receiving
    Tune's events; the list of Tune results (one per trial). Raises StudyInterrupted."""
    # Tune's own console output and its default CSV/TensorBoard loggers: off, whoever started Ray
    # (searchlab writes MLflow; each trial's results go to its results.jsonl: result_log)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "100000")
    from ray import tune

    from searchlab.execution.result_log import TrialResultLog

    study = plan.study
    trainable = tune.with_resources(make_trainable(plan.spec),
                                    resources_of(study.resources.trial()))
    # the searcher, wrapped as tune.run would (its concurrency limit included), but going on
    # when a finished study is given a larger budget
    concurrency = (None if plan.traits.pauses_trials
                   else plan.at_once or study.budget.concurrency)
    search_alg: Any = search_algorithm(searcher, concurrency)
    config: dict[str, Any] = {}
    num_samples = -1
    callbacks = [TrialResultLog(), *callbacks]
    if plan.traits.refuses_searcher:
        # the scheduler takes no searcher (PBT): Tune's variant generator runs the method's
        # trials, asked for up front; a callback tells the method their results
        try:
            configs = searcher.fixed_configs()
        except ValueError as e:
            raise SearchlabError(f"method '{study.method.name}' with stopping "
                                 f"'{study.stopping.name}': {e}") from None
        from ray.tune.search.basic_variant import BasicVariantGenerator

        search_alg = BasicVariantGenerator(points_to_evaluate=configs)
        config, num_samples = (dict(configs[0]) if configs else {}), len(configs)
        callbacks.append(FixedTrialsCallback(searcher))
    interrupted = threading.Event()
    restore_signals = _catch_interrupts(interrupted)
    try:
        with warnings.catch_warnings(), callbacks_not_counted():
            warnings.simplefilter("ignore")
            analysis = tune.run(
                trainable, name=study.name, storage_path=str(plan.study_dir.parent),
                config=config, num_samples=num_samples, search_alg=search_alg,
                scheduler=plan.scheduler,
                max_concurrent_trials=concurrency if plan.traits.refuses_searcher else None,
                stop=StudyDeadline(plan.study_dir),  # budget.time_limit, over all the study's runs
                reuse_actors=True,
                trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
                callbacks=callbacks, verbose=0, max_failures=study.budget.retries,
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=None if plan.traits.keeps_checkpoints else 2),
                raise_on_failed_trial=False,
                # a resumed study continues its unfinished trials, and its failed ones from their
                # last checkpoint when it allows retries
                resume=("AUTO+ERRORED" if study.budget.retries else "AUTO") if resuming else None,
            )
    finally:
        restore_signals()
    if interrupted.is_set():
        raise StudyInterrupted(f"study '{study.name}' interrupted; its state is saved in "
                               f"{plan.study_dir}; to resume it, run: {restart_command}")
    grid = tune.ResultGrid(analysis)
    return [grid[i] for i in range(len(grid))]


@contextlib.contextmanager
def callbacks_not_counted() -> Iterator[None]:
    """``tune.run`` without Ray's usage-statistics census of its callbacks.

    Given any callback, ``tune.run`` counts them by class for Ray's usage statistics, and to
    know the built-in ones it imports Ray's MLflow, W&B, Comet and Aim integrations: MLflow
    itself, 0.6 s of the driver's CPU before the first trial, and MLflow's modules in the driver
    for the rest of the study (searchlab keeps MLflow in a helper process:
    :mod:`searchlab.tracking.store_process`). Inside this block the census records nothing.

    RAY PRIVATE API: replaces ``ray.air._internal.usage.tag_callbacks`` (looked up by
    ``ray.tune.tune`` when it runs) for the duration; pinned by
    ``tests/execution/test_tune_run.py::test_the_ray_private_api_tag_callbacks_is_there``.
    Where a Ray release moves it, nothing is replaced and the census runs as before.
    """
    try:
        from ray.air._internal import usage
    except ImportError:
        yield
        return
    original = getattr(usage, "tag_callbacks", None)
    if original is None:
        yield
        return
    usage.tag_callbacks = lambda callbacks: False
    try:
        yield
    finally:
        usage.tag_callbacks = original


def _trial_name(trial: Any) -> str:
    return str(trial.trial_id)


def _catch_interrupts(flag: threading.Event) -> Any:
    """Ctrl-C / SIGTERM: note it, and ask Tune (via SIGUSR1) to stop gracefully and save its
    state. A second Ctrl-C stops at once. Returns a function restoring the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(sig: int, frame: Any) -> None:
        flag.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.kill(os.getpid(), signal.SIGUSR1)

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, h in previous.items():
            signal.signal(sig, h)

    return restore
