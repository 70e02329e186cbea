"""Run a validated study on Ray Tune, tracked in MLflow; resume it when it was interrupted.

The steps, each in its own module: input checks and the method's objective (here), the study's
directory and state (:mod:`searchlab.study_state`), the MLflow record (:mod:`searchlab.tracking.
tracker`), Ray (:mod:`searchlab.execution.ray_start`), Tune (:mod:`searchlab.execution.tune_run`,
driving the method through :mod:`searchlab.execution.driver`), and the results table
(:mod:`searchlab.results`).
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from searchlab import continuation, status, study_state
from searchlab.errors import SearchlabError, StudyInterrupted
from searchlab.methods.base import Analysis, Objective
from searchlab.results import StudyResult, TrialRow, count
from searchlab.spec.parse import LoadedStudy
from searchlab.stopping import SchedulerContext

if TYPE_CHECKING:
    from searchlab.spec.models import Study

__all__ = ["RunOptions", "StudyResult", "TrialRow", "run_study"]


@dataclass(frozen=True)
class RunOptions:
    storage: str | None = None
    restart: bool = False
    quiet: bool = False
    tracking: bool = True
    gpus: float | None = None  # logical GPUs to declare on a local cluster
    address: str | None = None  # an existing Ray cluster ("auto", "host:port")
    command: str | None = None  # the command line that runs this study (for resume advice)
    more: int | None = None  # trials to add to the budget an earlier run of the study ran to


def storage_root(loaded: LoadedStudy, opts: RunOptions) -> Path:
    return study_state.storage_root(loaded.study.storage, opts.storage)


def run_study(loaded: LoadedStudy, opts: RunOptions, out: Any = None,
              on_start: Any = None) -> StudyResult:
    """Run, resume or continue a study (see :mod:`searchlab.continuation`). ``on_start`` is
    called once every input check has passed, with what this run does ("running", "resuming",
    "continuing") and, when it continues, the budget that grew. One driver per study: a second
    one is refused (:mod:`searchlab.study_lock`)."""
    from searchlab.study_lock import StudyLock

    lock = StudyLock(storage_root(loaded, opts), loaded.study.name)
    try:
        return _run_study(loaded, opts, out, on_start, lock)
    finally:
        lock.release()


def _run_study(loaded: LoadedStudy, opts: RunOptions, out: Any, on_start: Any,
               lock: Any) -> StudyResult:
    out = out or sys.stderr
    study = loaded.study
    started = time.monotonic()

    # ---- everything that can fail on the user's input fails here, before Ray or MLflow start
    objective = study.method.objective(study)
    _preflight(loaded)
    root = storage_root(loaded, opts)
    study_dir = root / study.name
    study_state.check_storage(root)
    lock.acquire(out)  # before the state is read: it is this driver's from here on
    state = study_state.read_state(study_dir)
    if opts.more is not None and opts.restart:
        raise SearchlabError("--more adds trials to a study's earlier run and --restart discards "
                             "it; give one of them")
    if opts.more is not None and opts.more < 1:
        raise SearchlabError(f"--more takes a number of trials to add, 1 or more (got {opts.more})")
    if (opts.restart or state.get("status") == "failed") and study_dir.exists():
        shutil.rmtree(study_dir)
        state = {**state, "status": "running"} if state.get("status") == "running" else {}
    resuming = study_state.is_resumable(study_dir)
    damaged = study_state.set_aside_damaged(study_dir) if resuming else []
    if damaged:
        whole = sorted(study_dir.glob("experiment_state-*.json"))
        names = ", ".join(name for name, _ in damaged)
        out.write(f"warning: Ray Tune's saved state {names} is cut short (a kill while it was "
                  f"written); kept as {damaged[-1][1]}; "
                  + (f"resuming from the earlier {whole[-1].name}\n" if whole else
                     "resuming from the method's journal: finished trials are kept, unfinished "
                     "ones start over\n"))
    # the file unchanged (resume), its budget grown (continue), or another change (refused)
    go_on = continuation.plan(study, loaded.document.data, loaded.hash,
                              state if resuming else None, more=opts.more,
                              file=loaded.document.file, study_dir=study_dir)
    if state.get("status") == "finished" and resuming and not go_on.more:
        raise SearchlabError(f"study '{study.name}' already finished (results in {study_dir}); "
                             f"see it with: searchlab show {study.name}; "
                             f"{continuation.finished_advice(study)}")
    loaded = dataclasses.replace(loaded, study=go_on.study)  # at the budget it runs to
    study = loaded.study
    if opts.tracking and study.tracking.enabled:  # a server that is down: one line, at once
        from searchlab.tracking.store import check_reachable, resolve_uri

        check_reachable(resolve_uri(study.tracking.uri))
    if on_start is not None:
        on_start("continuing" if go_on.more else "resuming" if resuming else "running",
                 go_on.describe())

    # ---- tracking: the experiment and the parent run
    searcher, scheduler = study.drivers  # tagged only where the method uses them
    base_tags = {"searchlab.method": study.method.name, "searchlab.workload": study.workload_name,
                 "searchlab.searcher": searcher, "searchlab.scheduler": scheduler}
    base_tags = {k: v for k, v in base_tags.items() if v is not None}
    # the MLflow store (imports, schema) and Ray start at the same time
    from concurrent.futures import ThreadPoolExecutor

    from searchlab.execution.ray_start import shutdown as shutdown_ray
    from searchlab.execution.ray_start import start_ray

    def open_tracker() -> Any:
        if not (opts.tracking and study.tracking.enabled):
            return None
        from searchlab.tracking.tracker import Tracker

        t = Tracker(study.tracking.uri)
        t.open(study.experiment_name, study_name=study.name, study_text=loaded.document.text,
               tags={**base_tags, "searchlab.spec_hash": loaded.hash,
                     "searchlab.metric": objective.metric, "searchlab.mode": objective.mode},
               resume_run_id=state.get("parent_run_id") if resuming else None,
               abandon_run_id=(state.get("parent_run_id") if not resuming
                               and state.get("status") == "running" else None),
               more=go_on.describe() or None, lock=lock, out=out)
        return t

    with ThreadPoolExecutor(1, thread_name_prefix="searchlab-tracking") as pool:
        opening = pool.submit(open_tracker)
        ray_started = False
        try:
            ray_started = start_ray(study, opts.address, opts.gpus, out)
            tracker = opening.result()
            if tracker is not None:  # Tune's modules load while the study's lease settles
                import searchlab.execution.tune_run  # noqa: F401

                tracker.confirm_lease()
        except BaseException:
            try:
                late = opening.result()
            except BaseException:  # noqa: BLE001 - the first error is the one to report
                late = None
            if late is not None:
                late.discard_if_empty()
            if ray_started:
                shutdown_ray()
            raise
    parent_run_id = tracker.parent_run_id if tracker else None

    def release_ray() -> None:
        """Shut down the Ray this run started (once): right after Tune ends, so that the MLflow
        writer finishes its last records while Ray's processes stop."""
        nonlocal ray_started
        if ray_started:
            ray_started = False
            shutdown_ray()

    # the study's state: its file as it ran, the budget it runs to, the time its runs took
    # (budget.time_limit counts all of them: searchlab.execution.deadline)
    record = {"spec_hash": loaded.hash, "parent_run_id": parent_run_id,
              "study": continuation.file_data(loaded.document.data), "budget": go_on.budget,
              "elapsed_s": float(state.get("elapsed_s") or 0.0) if resuming else 0.0}
    study_state.write_state(study_dir, {**record, "status": "running"})

    session = time.monotonic()
    try:
        result = _tune(loaded, opts, objective, study_dir, resuming, tracker, base_tags, out,
                       started, release_ray)
    except StudyInterrupted:
        if tracker is not None:
            tracker.interrupted()
        raise
    except SearchlabError:  # the study itself is wrong (a metric never reported): start over
        if tracker is not None:
            tracker.failed()
        study_state.write_state(study_dir, {**record, "status": "failed"})
        raise
    except BaseException:  # anything else leaves the study resumable
        if tracker is not None:
            tracker.discard_if_empty()
        raise
    finally:
        record["elapsed_s"] += time.monotonic() - session
        if study_state.read_state(study_dir).get("status") == "running":
            study_state.write_state(study_dir, {**record, "status": "running"})
        release_ray()
    result.elapsed_s = time.monotonic() - started
    result.resumed = resuming
    if tracker is not None and not result.pending_tracking:
        try:
            tracker.store_analysis(result.analysis)
            tracker.tag_trials([r.run_id for r in result.rows if r.trial_id in result.pareto],
                               {"searchlab.pareto": "true"})
            tracker.close(result)
        except Exception as e:  # noqa: BLE001 - MLflow went away at the very end
            from searchlab.tracking.store import redact

            result.pending_tracking += 1
            out.write(f"warning: could not close the study's MLflow run ({redact(str(e))[:200]}); "
                      "run the study again to finish it\n")
    # with tracking records still pending, the study stays resumable so they get delivered
    study_state.write_state(study_dir, {
        **record, "status": "running" if result.pending_tracking else "finished"})
    return result


def _trials_at_once(study: Study) -> int:
    """Trials at once on the Ray cluster this process is connected to."""
    import ray

    from searchlab.execution.cores import trials_at_once

    return trials_at_once(study, ray.cluster_resources() if study.concurrency_by_cores else {})


def expected_length(study: Study, total: int | None, at_once: int, resuming: bool) -> str:
    """The line ``searchlab run`` starts with: how many trials, how many at once, and where the
    method can time a sample of its trials (``Method.trial_seconds``), about how long."""
    how = " (as many as the cores allow)" if study.concurrency_by_cores else ""
    count = f"{total} trials" if total is not None else "trials until the budget ends"
    line = f"searchlab: {count}, {at_once} at a time{how}"
    if resuming:
        return line
    seconds = study.method.trial_seconds(study)
    if seconds is not None:
        wall = seconds / max(1, min(at_once, total or 1))
        line += f"; expected about {_duration(wall)} (timed on a sample of its trials)"
    return line


def _duration(seconds: float) -> str:
    """``seconds`` in words, rounded: '40 s', '6 min', '2.5 h'."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _preflight(loaded: LoadedStudy) -> None:
    """What the study needs on this machine (packages, the workload, its data), before anything
    starts."""
    from searchlab.preflight import preflight_study

    preflight_study(loaded)


def _tune(loaded: LoadedStudy, opts: RunOptions, objective: Objective, study_dir: Path,
          resuming: bool, tracker: Any, base_tags: dict[str, str], out: Any,
          started: float, release_ray: Callable[[], None] | None = None) -> StudyResult:
    import functools

    from searchlab.execution.driver import JOURNAL, MethodSearcher
    from searchlab.execution.tune_run import TunePlan, fit
    from searchlab.pareto import pareto_trials
    from searchlab.progress import Progress
    from searchlab.refs import study_code_dir
    from searchlab.spec.space import flat_config
    from searchlab.trainable import TrialSpec

    study = loaded.study
    metric, mode = objective.metric, objective.mode
    max_epochs = study.budget.max_epochs
    scheduler = study.stopping.build(SchedulerContext(
        metric=metric, mode=mode, max_epochs=max_epochs, space=study.space,
        tracking_uri=tracker.uri if tracker else None, workload=study.workload_name))
    if not resuming:  # a start without Tune's state starts the method over
        (study_dir / JOURNAL).unlink(missing_ok=True)
    # the method's run, replaying its journal when the study resumes; Tune drives this object
    told = MethodSearcher(functools.partial(study.method.start, study), study_dir, metric, mode,
                          max_epochs)
    workload = study.workload
    spec = TrialSpec(workload.ref if workload else None,
                     dict(workload.args) if workload else {},
                     study_code_dir(loaded), metric, mode, max_epochs,
                     study.search.settings.seed or 0, study.budget.trial_timeout,
                     study_dir=str(study_dir), resources=study.resources.trial(),
                     more_metrics=tuple(m for m, _ in objective.more))
    progress = Progress(total=told.run.total, metric=metric, mode=mode, max_epochs=max_epochs,
                        quiet=opts.quiet, stream=out, started=started,
                        tracked=tracker is not None)
    progress.study_dir = str(study_dir)
    if resuming:
        progress.resuming(str(study_dir))
    callbacks: list[Any] = [progress]
    writer = None
    if tracker is not None:
        writer = tracker.make_writer(metric=metric, mode=mode, max_epochs=max_epochs,
                                     base_tags=base_tags, spill_dir=study_dir)
        writer.study_dir = str(study_dir)
        callbacks.append(writer)
    at_once = _trials_at_once(study)
    if not opts.quiet:
        out.write(expected_length(study, told.run.total, at_once, resuming) + "\n")
    plan = TunePlan(study, spec, scheduler, study.stopping.traits, study_dir, at_once)
    try:
        # Tune resumes from its saved state where a whole one is left (see set_aside_damaged);
        # without one, the method still resumes from its journal
        results = fit(plan, told, callbacks, resuming and study_state.is_resumable(study_dir),
                      opts.command or _default_command(loaded))
    except BaseException as e:
        if isinstance(e, StudyInterrupted) and writer is not None:
            writer.close_interrupted()
        raise
    finally:
        progress.close()
    if release_ray is not None:  # nothing below needs Ray; the writer keeps writing meanwhile
        release_ray()
    lost = _told_but_lost(told, results)
    if writer is not None:
        writer.reconcile(results, resumed=resuming)
        writer.record_told(lost)
        if not writer.close():
            out.write(f"warning: MLflow is unreachable; {writer.spilled()} tracking records are "
                      f"kept in {writer.spill_file} and will be delivered when this study "
                      "is resumed\n")
    run_ids = writer.existing_runs() if writer is not None and not writer.spilled() else {}
    pending = writer.spilled() if writer is not None else 0

    if told.abort:
        if writer is not None:
            writer.close()
        raise SearchlabError(f"{told.abort}; the study stopped at the first trial without it "
                             f"(its full error is in {study_dir})")
    if told.stalled:
        out.write(f"warning: method '{study.method.name}' waited for results while no trial "
                  "ran; the study ended early\n")
    analysis = told.run.summarize(told.all_results()) if told.results else Analysis()
    if analysis and study.method.traits.draws_own_analysis:
        analysis.tags.update(analysis.lead_tags())  # it leads, in place of a best trial
    rows = []
    for res in results:
        m = res.metrics or {}
        tune_id = str(m.get("trial_id", "?"))
        tid = status.tracking_key(res.config, tune_id)
        value = m.get(metric)
        state = progress.statuses.get(tune_id) or status.of_result(res, max_epochs, str(study_dir))
        rows.append(TrialRow(tid, state, None if state in status.UNSCORED else value,
                             int(m.get("training_iteration") or 0), flat_config(res.config or {}),
                             run_ids.get(tid, (None,))[0],
                             None if res.error is None
                             else status.trial_error(str(res.error),
                                                     status.files_of(str(study_dir), tune_id))
                             or type(res.error).__name__, status.reported(m)))
    for res in lost:  # ended before Tune's last checkpoint could record them: from the journal
        value = res.metrics.get(metric)
        rows.append(TrialRow(res.trial_id, res.status,
                             None if res.status in status.UNSCORED else value,
                             len(res.history) or int(res.metrics.get("epoch") or 0),
                             flat_config(res.request.config or {}),
                             run_ids.get(res.trial_id, (None,))[0], res.error,
                             status.reported(res.metrics)))
    return StudyResult(study.name, metric, mode, rows, 0.0, tracker.uri if tracker else None,
                       tracker.experiment_id if tracker else None,
                       tracker.parent_run_id if tracker else None, study_dir, counts=count(rows),
                       pending_tracking=pending, analysis=analysis,
                       pareto=pareto_trials(told.all_results(), objective.all)
                       if objective.more else [],
                       objectives=objective.all if objective.more else ())


def _told_but_lost(told: Any, results: Any) -> list[Any]:
    """The results the method was told of whose trials Tune's record lacks: they ended between
    Tune's last experiment checkpoint and a kill of the driver, so a resume never sees them.
    Only when Tune holds fewer trials than the method was told of: under PBT a result's
    ``trial_id`` can name the trial whose checkpoint it cloned, so ids alone would mislead."""
    if len(results) >= len(told.results):
        return []
    in_tune = {status.tracking_key(r.config, str((r.metrics or {}).get("trial_id", "")))
               for r in results}
    alias = told.alias  # Tune's trial id -> the request it runs (fixed lists: PBT)
    in_tune |= {alias[t] for t in in_tune if t in alias}
    return [res for tid, res in told.results.items() if tid not in in_tune]


def _default_command(loaded: LoadedStudy) -> str:
    return f"searchlab run {shlex.quote(str(loaded.document.file))}"
