"""Run a validated study on Ray Tune, tracked in MLflow; resume it when it was interrupted."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from searchlab import status
from searchlab.errors import SearchlabError, StudyInterrupted
from searchlab.methods import TrialPlan, get_method
from searchlab.spec.parse import LoadedStudy
from searchlab.spec.space import Space
from searchlab.stopping import SchedulerContext, get_factory
from searchlab.trainable import TrialSpec, make_trainable

STATE_FILE = "searchlab.json"
MIN_FREE_BYTES = 50 * 2**20


@dataclass
class TrialRow:
    trial_id: str
    status: str
    value: float | None
    epochs: int
    config: dict[str, Any]
    run_id: str | None = None
    error: str | None = None


@dataclass
class StudyResult:
    name: str
    metric: str
    mode: str
    rows: list[TrialRow]
    elapsed_s: float
    tracking_uri: str | None
    experiment_id: str | None
    parent_run_id: str | None
    study_dir: Path
    resumed: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    pending_tracking: int = 0  # records MLflow could not take yet (kept on disk)

    @property
    def best(self) -> TrialRow | None:
        scored = [r for r in self.rows if r.value is not None and math.isfinite(r.value)]
        if not scored:
            return None
        return (max if self.mode == "max" else min)(scored, key=lambda r: r.value)


@dataclass(frozen=True)
class RunOptions:
    storage: str | None = None
    restart: bool = False
    quiet: bool = False
    tracking: bool = True
    gpus: float | None = None  # logical GPUs to declare on a local cluster
    address: str | None = None  # an existing Ray cluster ("auto", "ray://...")


def storage_root(loaded: LoadedStudy, opts: RunOptions) -> Path:
    return Path(opts.storage or loaded.study.storage or os.path.join(".searchlab", "studies")).resolve()


def run_study(loaded: LoadedStudy, opts: RunOptions, out: Any = None,
              on_start: Any = None) -> StudyResult:
    """Run (or resume) a study. ``on_start`` is called once every input check has passed."""
    out = out or sys.stderr
    study = loaded.study
    started = time.monotonic()

    # ---- everything that can fail on the user's input fails here, before Ray or MLflow start
    method = get_method(study.method_name)
    plan: TrialPlan | None = method.plan(study.method, study)
    if plan is None:
        from searchlab.workloads import check_signature, resolve

        assert study.workload is not None and study.space is not None and study.metric is not None
        fn = resolve(study.workload.function, study.workload.path)
        check_signature(fn, study.workload.function, study.workload.args)
        metric, mode, max_epochs = study.metric.name, study.metric.mode, study.budget.max_epochs
    else:
        metric, mode, max_epochs = plan.metric, plan.mode, plan.max_epochs
    root = storage_root(loaded, opts)
    study_dir = root / study.name
    _check_storage(root)
    state = _read_state(study_dir)
    if opts.restart and study_dir.exists():
        shutil.rmtree(study_dir)
        state = {**state, "status": "running"} if state.get("status") == "running" else {}
    resuming = (study_dir / "tuner.pkl").exists()
    if resuming and state.get("spec_hash") not in (None, loaded.hash):
        raise SearchlabError(f"{loaded.document.file}: the study file changed since the run in "
                             f"{study_dir} started; run with --restart to start over")
    if state.get("status") == "finished" and resuming:
        raise SearchlabError(f"study '{study.name}' already finished (results in {study_dir}); "
                             "run with --restart to run it again")

    if on_start is not None:
        on_start(resuming)

    # ---- tracking: the experiment and the parent run
    from searchlab.tracking.store import (
        abandon_parent_run,
        ensure_experiment,
        open_parent_run,
        prepare_local,
        redact,
        resolve_uri,
    )

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("alembic").setLevel(logging.WARNING)

    uri = experiment_id = parent_run_id = None
    base_tags = {
        "searchlab.method": study.method_name, "searchlab.searcher": study.searcher_label,
        "searchlab.scheduler": study.stopping_name, "searchlab.workload": study.workload_name,
    }
    client = None
    if opts.tracking and study.tracking.enabled:
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # after import: mlflow sets INFO
        uri = resolve_uri(study.tracking.uri)
        prepare_local(uri)
        client = MlflowClient(uri)
        try:
            experiment_id = ensure_experiment(client, study.experiment_name, uri)
            if not resuming and state.get("parent_run_id") and state.get("status") == "running":
                abandon_parent_run(client, state["parent_run_id"])
            parent_run_id = open_parent_run(
                client, experiment_id, study_name=study.name, study_text=redact(loaded.document.text),
                tags={**base_tags, "searchlab.spec_hash": loaded.hash, "searchlab.metric": metric,
                      "searchlab.mode": mode},
                resume_run_id=state.get("parent_run_id") if resuming else None)
        except Exception as e:  # noqa: BLE001
            raise SearchlabError(f"cannot reach MLflow at {redact(uri)}: "
                                 f"{str(e).splitlines()[0][:300]}") from None
    study_dir.mkdir(parents=True, exist_ok=True)
    _write_state(study_dir, {"spec_hash": loaded.hash, "parent_run_id": parent_run_id,
                             "status": "running"})

    # ---- Ray
    ray_started = _start_ray(study, opts)
    try:
        result = _tune(loaded, opts, plan, metric, mode, max_epochs, study_dir, resuming,
                       uri, experiment_id, parent_run_id, base_tags, out)
    except StudyInterrupted:
        if client is not None and parent_run_id is not None:
            try:
                client.set_terminated(parent_run_id, "KILLED")
            except Exception:  # noqa: BLE001 - resumable either way
                pass
        raise
    finally:
        if ray_started:
            import ray

            ray.shutdown()
    result.elapsed_s = time.monotonic() - started
    result.resumed = resuming
    if client is not None and parent_run_id is not None and not result.pending_tracking:
        try:
            _close_parent(client, parent_run_id, result)
        except Exception as e:  # noqa: BLE001 - MLflow went away at the very end
            result.pending_tracking += 1
            out.write(f"warning: could not close the study's MLflow run ({redact(str(e))[:200]}); "
                      "run the study again to finish it\n")
    # with tracking records still pending, the study stays resumable so they get delivered
    _write_state(study_dir, {"spec_hash": loaded.hash, "parent_run_id": parent_run_id,
                             "status": "running" if result.pending_tracking else "finished"})
    return result


def _tune(loaded: LoadedStudy, opts: RunOptions, plan: TrialPlan | None, metric: str, mode: str,
          max_epochs: int, study_dir: Path, resuming: bool, uri: str | None,
          experiment_id: str | None, parent_run_id: str | None, base_tags: dict[str, str],
          out: Any) -> StudyResult:
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    from searchlab.progress import Forwarder, Progress

    study = loaded.study
    factory = get_factory(study.stopping_name)
    space: Space | None = study.space if plan is None else None
    scheduler = factory.build(study.stopping, SchedulerContext(
        metric=metric, mode=mode, max_epochs=max_epochs, space=space, seed=study.search.seed,
        study_name=study.name, tracking_uri=uri,
        extra={"workload": study.workload_name, "experiment_id": experiment_id}))

    if plan is None:
        from searchlab.search import build_search

        assert space is not None and study.workload is not None
        search = build_search(study.search, space, study.budget.trials, metric, mode,
                              study.budget.concurrency)
        searcher, param_space, num_samples = search.searcher, search.param_space, search.num_samples
        total = (space.grid_size() or 1) * num_samples if study.search.algorithm == "grid" else num_samples
        # relative to where searchlab runs; absolute, because Ray moves trials into their own dirs
        code_path = os.path.abspath(study.workload.path) if study.workload.path else None
        spec = TrialSpec(study.workload.function, dict(study.workload.args), code_path,
                         space, metric, mode, max_epochs, study.search.seed or 0,
                         study.budget.trial_timeout, study_dir=str(study_dir))
    else:
        searcher, num_samples, total = None, 1, len(plan.configs)
        param_space = {"__trial": tune.grid_search(plan.configs)}
        spec = TrialSpec("", {}, None, None, metric, mode, max_epochs, study.search.seed or 0,
                         study.budget.trial_timeout, workload=_PlanWorkload(plan.workload),
                         study_dir=str(study_dir))
        base_tags = {**base_tags, **(plan.tags or {})}

    trainable = tune.with_resources(make_trainable(spec),
                                    {"cpu": study.resources.cpu, "gpu": study.resources.gpu})
    progress = Progress(total=total, metric=metric, mode=mode, max_epochs=max_epochs,
                        quiet=opts.quiet, stream=out)
    live: list[Any] = [progress]
    writer = None
    if parent_run_id is not None and uri is not None and experiment_id is not None:
        from searchlab.tracking.writer import MLflowWriter

        flatten = space.flatten if space is not None else _plan_flatten
        writer = MLflowWriter(uri, experiment_id, parent_run_id, metric=metric, mode=mode,
                              max_epochs=max_epochs, base_tags=base_tags, flatten=flatten,
                              spill_dir=study_dir)
        live.append(writer)
    key = str(study_dir)  # stable across a resume: the restored forwarder must find us
    Forwarder.LIVE[key] = _Fanout(live)
    try:
        if resuming:
            tuner = tune.Tuner.restore(str(study_dir), trainable=trainable, param_space=param_space or None,
                                       resume_unfinished=True, resume_errored=study.budget.retries > 0,
                                       restart_errored=False)
        else:
            concurrency = study.budget.concurrency
            tuner = tune.Tuner(
                trainable,
                param_space=param_space,
                tune_config=tune.TuneConfig(
                    search_alg=searcher, scheduler=scheduler, num_samples=num_samples,
                    max_concurrent_trials=None if factory.synchronous else concurrency,
                    time_budget_s=study.budget.time_limit, reuse_actors=True,
                    trial_name_creator=_trial_name, trial_dirname_creator=_trial_name,
                ),
                run_config=tune.RunConfig(
                    name=study.name, storage_path=str(study_dir.parent),
                    callbacks=[JsonLoggerCallback(), Forwarder(key)], verbose=0,
                    stop={"training_iteration": max_epochs},
                    failure_config=tune.FailureConfig(max_failures=study.budget.retries),
                    # PBT clones other trials' older checkpoints: keep them all there
                    checkpoint_config=tune.CheckpointConfig(
                        num_to_keep=None if study.stopping_name == "pbt" else 2),
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
            if writer is not None:
                writer.close_interrupted()
            raise StudyInterrupted(f"study '{study.name}' interrupted; its state is saved in "
                                   f"{study_dir}: run the same command again to resume")
        results = [grid[i] for i in range(len(grid))]
        if writer is not None:
            writer.reconcile(results, resumed=resuming)
            if not writer.close():
                out.write(f"warning: MLflow is unreachable; {writer.spilled()} tracking records are "
                          f"kept in {writer.spill_file} and will be delivered when this study "
                          "is resumed\n")
        run_ids = writer._existing_runs() if writer is not None and not writer.spilled() else {}
        pending = writer.spilled() if writer is not None else 0
    finally:
        Forwarder.LIVE.pop(key, None)
    rows = []
    for res in results:
        m = res.metrics or {}
        tid = str(m.get("trial_id", "?"))
        value = m.get(metric)
        state = progress.statuses.get(tid) or status.of_result(res, max_epochs)
        config = (space.flatten(res.config) if space is not None else _plan_flatten(res.config or {}))
        rows.append(TrialRow(tid, state, None if state in ("failed", "diverged", "timed_out") else value,
                             int(m.get("training_iteration") or 0), config,
                             run_ids.get(tid, (None,))[0], _error_line(res.error)))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return StudyResult(study.name, metric, mode, rows, 0.0, uri, experiment_id, parent_run_id,
                       study_dir, counts=counts, pending_tracking=pending)


def _error_line(error: Any) -> str | None:
    """The last line of a trial's error: the workload's own exception, not Ray's wrapping."""
    if error is None:
        return None
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(error).__name__


class _Fanout:
    """One live object that calls several callbacks in turn."""

    def __init__(self, callbacks: list[Any]) -> None:
        self.callbacks = callbacks

    def __getattr__(self, name: str) -> Any:
        def call(*a: Any, **k: Any) -> None:
            for cb in self.callbacks:
                getattr(cb, name)(*a, **k)

        return call


class _PlanWorkload:
    """A method's workload called with the plan's config (unwrapped from Tune's grid key)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, config: dict[str, Any], ctx: Any) -> Any:
        return self.fn(config.get("__trial", config), ctx)


def _plan_flatten(config: dict[str, Any]) -> dict[str, Any]:
    return dict(config.get("__trial", config))


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


def _start_ray(study: Any, opts: RunOptions) -> bool:
    """Start a local Ray cluster sized to the study, or connect to one. True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "100000")
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="optuna")
    warnings.filterwarnings("ignore", category=UserWarning, module="ray")
    address = opts.address or os.environ.get("RAY_ADDRESS")
    common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                  configure_logging=True)
    if address:
        ray.init(address=address, **common)
        return True
    gpus = opts.gpus if opts.gpus is not None else _cuda_devices()
    if study.resources.gpu > 0 and gpus == 0:
        raise SearchlabError("the study asks for GPUs (resources.gpu) but this machine has none; "
                             "set resources.gpu: 0, or pass --gpus N to declare logical GPUs")
    per_trial = study.resources.cpu
    num_cpus = max(per_trial * study.budget.concurrency, per_trial)
    if study.resources.gpu > 0:  # concurrency is then bounded by GPUs; keep CPUs from binding first
        num_cpus = max(num_cpus, per_trial * math.floor(gpus / study.resources.gpu))
    ray.init(num_cpus=math.ceil(num_cpus), num_gpus=gpus, **common)
    return True


def _cuda_devices() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        return len([p for p in os.listdir("/proc/driver/nvidia/gpus")])
    except OSError:
        return 0


def _check_storage(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".searchlab-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise SearchlabError(f"storage directory {root} is not writable: {e.strerror}") from None
    free = shutil.disk_usage(root).free
    if free < MIN_FREE_BYTES:
        raise SearchlabError(f"storage directory {root} has only {free // 2**20} MiB free; "
                             f"searchlab needs at least {MIN_FREE_BYTES // 2**20} MiB")


def _read_state(study_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((study_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _write_state(study_dir: Path, state: dict[str, Any]) -> None:
    tmp = study_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(study_dir / STATE_FILE)


def _close_parent(client: Any, parent_run_id: str, result: StudyResult) -> None:
    from mlflow.entities import Metric, RunTag

    best = result.best
    tags = [RunTag(f"searchlab.trials.{k}", str(v)) for k, v in result.counts.items()]
    metrics = [Metric("study_wall_time_s", result.elapsed_s, int(time.time() * 1000), 0),
               Metric("trials", float(len(result.rows)), int(time.time() * 1000), 0)]
    if best is not None:
        tags += [RunTag("searchlab.best_trial_id", best.trial_id)]
        if best.run_id:
            tags.append(RunTag("searchlab.best_run_id", best.run_id))
        metrics.append(Metric(f"best_{result.metric}", float(best.value), int(time.time() * 1000), 0))
    client.log_batch(parent_run_id, metrics=metrics, tags=tags)
    client.set_terminated(parent_run_id, "FINISHED")
