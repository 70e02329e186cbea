"""Assemble Ray Tune for a study and run it: a fresh ``Tuner`` or a restored one, with Ctrl-C
and SIGTERM turned into a graceful, resumable stop."""

from __future__ import annotations

import functools
import os
import signal
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from searchlab.errors import SearchlabError, StudyInterrupted
from searchlab.execution.driver import FixedTrialsCallback, MethodSearcher, resources_of
from searchlab.methods.base import MethodRun
from searchlab.progress import Forwarder
from searchlab.stopping.base import BuiltScheduler
from searchlab.trainable import TrialSpec, make_trainable


@dataclass(frozen=True)
class TunePlan:
    """Everything Tune needs for one study execution."""

    study: Any  # searchlab.spec.models.Study
    spec: TrialSpec
    built: BuiltScheduler
    metric: str
    mode: str
    study_dir: Path
    callback_key: str  # Forwarder.LIVE key of the live callbacks (progress, MLflow writer)


def start_method_run(method_name: str, settings: Any, study: Any) -> MethodRun:
    """Module-level (picklable) constructor of a method run, for the searcher's replays."""
    from searchlab.methods import get_method

    return get_method(method_name).start(settings, study)


def fit(plan: TunePlan, resuming: bool, restart_command: str) -> list[Any]:
    """Run the study; the list of Tune results (one per trial). Raises StudyInterrupted."""
    # Tune's own console output and its default CSV/TensorBoard loggers: off, whoever started Ray
    # (searchlab writes MLflow; Tune's JSON results stay for resume and reconciliation)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "100000")
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    study = plan.study
    trainable = tune.with_resources(make_trainable(plan.spec),
                                    resources_of(study.resources.trial()))
    if plan.built.fixed_trials:
        # the scheduler takes no searcher (PBT): Tune's variant generator runs the method's
        # trials, asked for up front; a callback tells the method their results
        fixed = MethodSearcher(
            functools.partial(start_method_run, study.method_name, study.method, study),
            plan.study_dir, plan.metric, plan.mode, study.budget.max_epochs)
        try:
            configs = fixed.fixed_configs()
        except ValueError as e:
            raise SearchlabError(f"method '{study.method_name}' with stopping "
                                 f"'{study.stopping_name}': {e}") from None
        Forwarder.LIVE[plan.callback_key].callbacks.append(FixedTrialsCallback(fixed))
    if resuming:
        tuner = tune.Tuner.restore(str(plan.study_dir), trainable=trainable, resume_unfinished=True,
                                   resume_errored=study.budget.retries > 0, restart_errored=False)
    else:
        concurrency = study.budget.concurrency
        if plan.built.fixed_trials:
            from ray.tune.search.basic_variant import BasicVariantGenerator

            search_alg: Any = BasicVariantGenerator(points_to_evaluate=configs)
            param_space, num_samples = dict(configs[0]) if configs else {}, len(configs)
        else:
            search_alg = MethodSearcher(
                functools.partial(start_method_run, study.method_name, study.method, study),
                plan.study_dir, plan.metric, plan.mode, study.budget.max_epochs)
            param_space, num_samples = {}, -1
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                search_alg=search_alg, scheduler=plan.built.scheduler, num_samples=num_samples,
                max_concurrent_trials=None if plan.built.synchronous else concurrency,
                time_budget_s=study.budget.time_limit, reuse_actors=True,
                trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
            ),
            run_config=tune.RunConfig(
                name=study.name, storage_path=str(plan.study_dir.parent),
                callbacks=[JsonLoggerCallback(), Forwarder(plan.callback_key)], verbose=0,
                failure_config=tune.FailureConfig(max_failures=study.budget.retries),
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=None if plan.built.clones_checkpoints else 2),
            ),
        )
    interrupted = threading.Event()
    restore_signals = _catch_interrupts(interrupted)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grid = tuner.fit()
    finally:
        restore_signals()
    if interrupted.is_set():
        raise StudyInterrupted(f"study '{study.name}' interrupted; its state is saved in "
                               f"{plan.study_dir}; to resume it, run: {restart_command}")
    return [grid[i] for i in range(len(grid))]


def _trial_name(trial: Any) -> str:
    return trial.trial_id


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
