"""The one MLflow writer: a Ray Tune callback that batches every write on a background thread.

Layout (see README "What lands in MLflow"): one experiment per study, one parent run per study
execution, one nested child run per trial with the flat config as params, every reported metric
at step = epoch, a ``searchlab.status`` tag and the trial's log and error as artifacts.

Tune calls the callback hooks on the driver; they only enqueue. The writer thread wakes every
``flush_interval`` seconds and turns what is queued into as few MLflow calls as it can: one
``create_run`` per new trial, one ``log_batch`` per trial with everything new, one
``set_terminated`` per finished trial. If MLflow is unreachable, events stay queued (bounded, then
spilled to a file beside the study) and are retried; a warning says how much is pending.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from ray.tune import Callback

from searchlab import status
from searchlab.execution.result_log import read_results
from searchlab.spec.space import flat_config
from searchlab.status import DIVERGED, LOG_FILE, META, TIMED_OUT, TIMED_OUT_MARKER, TUNE_KEYS
from searchlab.tracking import annotations
from searchlab.tracking.records import TrialRecord
from searchlab.tracking.store import redact
from searchlab.workloads.api import ARTIFACTS

log = logging.getLogger("searchlab.tracking")

MAX_PARAM_LEN = 6000
MAX_IN_MEMORY = 200_000  # metric records held while MLflow is unreachable; the rest go to disk
YOUNG_MS = 1000  # a running trial's child run is created once it is this old (or has ended)


class MLflowWriter(Callback):
    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str, *,
                 metric: str, mode: str, max_epochs: int, base_tags: dict[str, str],
                 flush_interval: float = 1.0, study_dir: str | None = None,
                 spill_dir: str | os.PathLike | None = None,
                 max_in_memory: int = MAX_IN_MEMORY, client: Any = None) -> None:
        """``client``: the study's MLflow client (a :class:`~searchlab.tracking.store_process.
        StoreClient`, the Tracker's); without one the writer starts its own."""
        # fail fast on an unreachable server: the writer retries on its own schedule
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # one line per run
        self.spill_file = Path(spill_dir) / "mlflow-pending.jsonl" if spill_dir else None
        self.max_in_memory = max_in_memory
        self._in_memory = 0
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.metric, self.mode, self.max_epochs = metric, mode, max_epochs
        self.base_tags = base_tags
        self.study_dir = study_dir or (str(spill_dir) if spill_dir else None)
        self.flush_interval = flush_interval
        self._trials: dict[str, TrialRecord] = {}
        self._dirty: set[str] = set()  # trials with something to write (touched since the last)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._client: Any = client
        self._own_client = client is None
        self._last_error: str | None = None
        self._thread = threading.Thread(target=self._loop, name="searchlab-mlflow", daemon=True)
        self._known_runs: dict[str, tuple[str, str]] | None = None  # trial_id -> (run_id, status)
        self._steps: dict[str, set[int]] = {}  # run_id -> steps of the metric in MLflow
        # run_id -> its params in MLflow, for runs an earlier driver made (existing_runs)
        self._params_in_mlflow: dict[str, set[str]] = {}
        self.writes = 0
        self._thread.start()

    # ------------------------------------------------------------------ Tune hooks (driver)
    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        with self._lock:
            t = self._get(status.tracking_key(trial.config, trial.trial_id))
            if not t.start_ms:
                t.start_ms = _now_ms()
                t.params.update(_params(flat_config(trial.config)))
                t.tags.update({"searchlab.status": "running", **_request_tags(trial.config)})
            t.end = None

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        step = int(result.get("training_iteration") or 0)
        diverged = bool(result.get(DIVERGED))
        with self._lock:
            t = self._get(status.tracking_key(trial.config, trial.trial_id))
            if step <= t.seen_step:
                # the trial went back to an earlier step (a PBT exploit restores another trial's
                # older checkpoint, or a retry restores its own): MLflow keeps the first value at
                # each step, and says how often
                t.rewound += 1
                t.tags["searchlab.rewound"] = str(t.rewound)
                return
            if step <= t.max_step:  # in MLflow before this driver started (a resumed study)
                return
            t.seen_step = step
            new = self._measurements(result)
            t.metrics += new
            self._in_memory += len(new)
            if self._in_memory > self.max_in_memory and self.spill_file is not None:
                self._spill_locked()
            if diverged:
                t.tags["searchlab.status"] = "diverged"
            if result.get(TIMED_OUT):
                t.tags["searchlab.status"] = "timed_out"

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, status.of_trial(trial, self.max_epochs, False, self.study_dir))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, status.of_trial(trial, self.max_epochs, True, self.study_dir))

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        with self._lock:
            t = self._get(status.tracking_key(trial.config, trial.trial_id))
            t.tags["searchlab.retries"] = str(trial.num_failures)
            t.texts[f"attempt-{trial.num_failures}-error.txt"] = (_read(trial.error_file)
                                                                   or "unknown error")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        # the writer's thread writes what is left now; close() (or reconcile()) waits for it,
        # so that Tune's end and Ray's shutdown need not
        self._wake.set()

    # ------------------------------------------------------------------ public
    def flush(self, timeout: float = 120.0) -> bool:
        """Write everything queued now; True when nothing is left pending."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._write_once(everything=True)
            with self._lock:
                if not self._pending_trials() and self._last_error is None:
                    return True
            time.sleep(0.5)
        return False

    def close(self, timeout: float = 120.0) -> bool:
        """Flush and stop. If MLflow stays unreachable, what is pending goes to the spill file
        (delivered when the study is resumed) and False is returned."""
        ok = self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        if not ok and self.spill_file is not None:
            with self._lock:
                self._spill_locked()
        return ok

    def close_interrupted(self) -> bool:
        """The study was stopped: runs of unfinished trials end KILLED (a resume reopens them).
        That includes a trial started less than :data:`YOUNG_MS` before, whose run the writer
        has not created yet: the last flush creates it, and it would stay RUNNING."""
        with self._lock:
            for t in list(self._trials.values()):
                if (t.run_id is not None or t.start_ms) and not t.finished:
                    t = self._get(t.trial_id)
                    t.tags["searchlab.status"] = "interrupted"
                    t.end = ("KILLED", _now_ms())
        return self.close(timeout=30)

    def spilled(self) -> int:
        """Records waiting in the spill file."""
        if self.spill_file is None or not self.spill_file.exists():
            return 0
        return sum(1 for _ in self.spill_file.open())

    def _spill_locked(self) -> None:
        """Move everything pending from memory to the spill file (caller holds the lock)."""
        assert self.spill_file is not None
        self.spill_file.parent.mkdir(parents=True, exist_ok=True)
        with self.spill_file.open("a") as f:
            for t in self._trials.values():
                if not t.pending():
                    continue
                f.write(json.dumps(t.take_pending()) + "\n")
        self._in_memory = 0

    def _unspill(self) -> None:
        """Bring spilled records back into memory, oldest first, to be written now."""
        if self.spill_file is None or not self.spill_file.exists():
            return
        lines = self.spill_file.read_text().splitlines()
        self.spill_file.unlink()
        with self._lock:
            for line in lines:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                self._get(rec["trial_id"]).put_back(rec)
        log.warning("delivering %d spilled tracking records to MLflow", len(lines))

    def _pending_trials(self) -> list[TrialRecord]:
        """The records with something to write (caller holds the lock)."""
        return [t for t in (self._trials[i] for i in self._dirty) if t.pending()]

    def pending_count(self) -> int:
        with self._lock:
            return sum(len(t.metrics) + (1 if t.end else 0) for t in self._trials.values())

    def reconcile(self, results: list[Any], resumed: bool = False) -> None:
        """After a study: every trial has exactly one finished child run with all its data.

        Trials that finished in an earlier, interrupted driver never pass through the hooks
        again, and steps an interrupted driver had not flushed are missing: on a resumed study,
        whatever MLflow lacks is filled in from Ray Tune's own record of each trial.
        """
        self.flush()
        known = self.existing_runs()
        for res in results:
            metrics = res.metrics or {}
            trial_id = metrics.get("trial_id")
            trial_id = status.tracking_key(res.config, trial_id) if trial_id else None
            if not trial_id:
                continue
            seen = self._trials.get(trial_id)
            writer_done = seen is not None and seen.finished
            run_id, run_status = known.get(trial_id, (None, None))
            if writer_done and not resumed:
                continue
            if not resumed and run_status in ("FINISHED", "FAILED", "KILLED"):
                continue
            logged = self._steps_in_mlflow(run_id)
            rows = read_results(res.path)
            missing = [r for r in rows if int(r.get("training_iteration") or 0) not in logged]
            terminal = writer_done or run_status in ("FINISHED", "FAILED", "KILLED")
            if not missing and terminal and not self._lacks_params(run_id):
                continue
            # the config too where the run exists: its params may never have been written
            self._fill_in(trial_id, res.config or {}, missing,
                          None if terminal else status.of_result(res, self.max_epochs,
                                                                 self.study_dir))
        self.flush()

    def record_told(self, results: list[Any]) -> None:
        """Complete the child runs of trials that the method was told of but Tune no longer
        knows (``TrialResult`` s): a trial that ended after Tune's last experiment checkpoint,
        just before the driver was killed, is missing from Tune's record on resume, and its
        child run would stay RUNNING without data. The method's journal holds its config, every
        report and its status; whatever MLflow lacks is filled in from there."""
        if not results:
            return
        self.flush()
        known = self.existing_runs()
        for res in results:
            run_id, run_status = known.get(res.trial_id, (None, None))
            logged = self._steps_in_mlflow(run_id)
            terminal = run_status in ("FINISHED", "FAILED", "KILLED")
            rows = [{**{k: v for k, v in row.items()
                        if k != "epoch" and not k.startswith("config/")},
                     "training_iteration": int(row.get("epoch") or 0)}
                    for row in res.history if int(row.get("epoch") or 0) not in logged]
            if not rows and terminal and not self._lacks_params(run_id):
                continue
            config = {**(res.request.config or {}), META: {"tags": res.request.tags or {}}}
            self._fill_in(res.trial_id, config, rows, None if terminal else res.status)
        self.flush()

    def _fill_in(self, trial_id: str, config: dict[str, Any] | None, rows: list[dict[str, Any]],
                 state: str | None) -> None:
        """Queue what MLflow lacks of a trial that the hooks did not (fully) see: ``config``
        (with its request's tags under META) when it has no child run yet, the report ``rows``
        missing there, and its end in ``state`` unless the run has ended already (None)."""
        with self._lock:
            t = self._get(trial_id)
            if config is not None:
                t.params.update(_params(flat_config(config)))
                t.tags.update(_request_tags(config))
                t.start_ms = t.start_ms or _now_ms()
            for row in rows:
                t.metrics += self._measurements(row)
            t.max_step = 0  # the rows above are exactly what is missing
            if state is not None:
                t.tags["searchlab.status"] = state
                t.end = (status.MLFLOW_STATUS[state], _now_ms())
                t.finished = True

    def _lacks_params(self, run_id: str | None) -> bool:
        """A run an earlier driver created and was killed before writing its params to."""
        return run_id in self._params_in_mlflow and not self._params_in_mlflow[run_id]

    def _steps_in_mlflow(self, run_id: str | None) -> set[int]:
        """The steps at which ``run_id`` holds the headline metric: those MLflow had when this
        writer first looked, and every step it has written since."""
        if run_id is None:
            return set()
        if run_id not in self._steps:
            hist = self._client_().get_metric_history(run_id, self.metric) if self.metric else []
            self._steps[run_id] = {m.step for m in hist}
        return self._steps[run_id]

    # ------------------------------------------------------------------ internals
    def _measurements(self, result: dict[str, Any]) -> list[tuple[str, float, int, int]]:
        """The metrics of one Tune result, as (key, value, ms, step): finite numbers only, and
        not the worst value substituted for a diverged trial's metric."""
        step = int(result.get("training_iteration") or 0)
        ms = int(float(result.get("timestamp") or time.time()) * 1000)
        diverged = bool(result.get(DIVERGED))
        return [(k, float(v), ms, step) for k, v in result.items()
                if k not in TUNE_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)
                and math.isfinite(v) and not (diverged and k == self.metric)]

    def _get(self, trial_id: str) -> TrialRecord:
        """The trial's record, marked for the next write (every change goes through here)."""
        t = self._trials.get(trial_id)
        if t is None:
            t = self._trials[trial_id] = TrialRecord(trial_id)
        self._dirty.add(trial_id)
        return t

    def _finish(self, trial: Any, state: str) -> None:
        mlflow_status = status.MLFLOW_STATUS[state]
        with self._lock:
            t = self._get(status.tracking_key(trial.config, trial.trial_id))
            t.tags["searchlab.status"] = state
            t.end = (mlflow_status, _now_ms())
            t.finished = True
            if not t.start_ms:
                t.start_ms = t.end[1]
                t.params.update(_params(flat_config(trial.config)))
            err = _read(trial.error_file) if mlflow_status == "FAILED" else None
            if state == "timed_out":
                err = _read(os.path.join(getattr(trial, "path", "") or "", TIMED_OUT_MARKER)) or err
            files = status.files_of(self.study_dir, trial.trial_id) or getattr(trial, "path", "")
            if err:
                t.texts["error.txt"] = err
                # what happened in one line of words (out of memory, exited with code N), as the
                # progress display and the summary say it; the full text is error.txt
                t.tags["searchlab.error"] = (status.trial_error(err, files) or "")[:500]
            log_file = os.path.join(files or "", LOG_FILE)
            if os.path.exists(log_file) and os.path.getsize(log_file) > 0:
                t.artifacts.append(log_file)
            kept = os.path.join(files or "", ARTIFACTS)
            if os.path.isdir(kept):
                t.artifacts += [os.path.join(kept, f) for f in sorted(os.listdir(kept))]
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            time.sleep(0.05)  # let a burst of completions gather into one batch
            self._write_once()

    _write_lock = threading.Lock()

    def _write_once(self, everything: bool = False) -> None:
        with self._write_lock:
            try:
                self._write_pending(everything)
                if self._last_error is not None:
                    log.warning("MLflow reachable again; pending records delivered")
                self._last_error = None
            except Exception as e:  # noqa: BLE001 - tracking must never stop the study
                msg = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                if msg != self._last_error:
                    log.warning("MLflow unreachable (%s): training goes on; %d records pending "
                                "(in memory, then on disk in %s), retrying", redact(msg),
                                self.pending_count(), self.spill_file or "memory")
                self._last_error = msg

    def _client_(self) -> Any:
        if self._client is None:
            from searchlab.tracking.store_process import StoreClient

            self._client = StoreClient(self.tracking_uri)
        return self._client

    def existing_runs(self) -> dict[str, tuple[str, str]]:
        """trial_id -> (run_id, status) of child runs already under the parent (resume)."""
        if self._known_runs is None:
            client = self._client_()
            found: dict[str, tuple[str, str]] = {}
            token = None
            while True:
                page = client.search_runs(
                    [self.experiment_id],
                    filter_string=f"tags.mlflow.parentRunId = '{self.parent_run_id}'",
                    max_results=1000, page_token=token)
                for r in page:
                    tid = r.data.tags.get("searchlab.trial_id")
                    if tid:
                        found[tid] = (r.info.run_id, r.info.status)
                        self._params_in_mlflow[r.info.run_id] = set(r.data.params)
                token = page.token
                if not token:
                    break
            self._known_runs = found
        return self._known_runs

    def _write_pending(self, everything: bool = False) -> None:
        """Write what is pending. A trial that started less than :data:`YOUNG_MS` ago and has
        not ended waits for the next pass (unless ``everything``): a short trial then costs one
        ``create_run``, one ``log_batch`` and one ``set_terminated``, not a second batch."""
        client = self._client_()
        if self._last_error is None:
            self._unspill()
        young = _now_ms() - YOUNG_MS
        with self._lock:
            pending = self._pending_trials()
            later = [] if everything else [t for t in pending if t.run_id is None and
                                           t.end is None and t.start_ms > young]
            if later:
                waiting = {t.trial_id for t in later}
                pending = [t for t in pending if t.trial_id not in waiting]
            work: list[Any] = [(t, t.take_pending()) for t in pending]
            self._dirty = {t.trial_id for t in later}
            self._in_memory = sum(len(t.metrics) for t in later)
        notes = annotations.drain()
        try:
            for i, (t, taken) in enumerate(work):
                params, metrics, tags = taken["params"], taken["metrics"], taken["tags"]
                end, artifacts, texts = taken["end"], taken["artifacts"], taken["texts"]
                if t.run_id is None:
                    self._open_run(t, params)
                # one value per step: a step already in MLflow (an earlier driver of a resumed
                # study logged it, and Tune reran the trial from an earlier epoch) is skipped
                steps = self._steps_in_mlflow(t.run_id)
                metrics = [m for m in metrics if m[3] not in steps]
                self._log_batch(t.run_id, metrics, list(params.items()), list(tags.items()))
                for path in artifacts:
                    client.log_artifact(t.run_id, path, "trial")
                for name, text in texts.items():
                    client.log_text(t.run_id, text, f"trial/{name}")
                if metrics:
                    t.max_step = max(t.max_step, max(s for *_, s in metrics))
                    steps.update(s for *_, s in metrics)
                if end is not None:
                    client.set_terminated(t.run_id, end[0], end[1])
                    if t.finished:  # nothing more comes: its steps need not be kept
                        self._steps.pop(t.run_id, None)
                work[i] = None  # type: ignore[call-overload]
            self._write_notes(notes)
            notes = []
        finally:
            # anything not written goes back to the front of the queue
            with self._lock:
                for item in work:
                    if item is not None:
                        item[0].put_back(item[1])
                        self._dirty.add(item[0].trial_id)
                        self._in_memory += len(item[1]["metrics"])
            for n in notes:
                annotations._QUEUE.put(n)

    def _open_run(self, t: TrialRecord, params: dict[str, str]) -> None:
        """Create the trial's child run, or take up the one an earlier driver of a resumed study
        made."""
        client = self._client_()
        known = self.existing_runs().get(t.trial_id)
        if known is not None:
            t.run_id = known[0]
            if known[1] != "RUNNING":
                client.update_run(t.run_id, status="RUNNING")
            # params are immutable in MLflow: keep what is there, add what an earlier driver
            # killed between creating the run and its first batch never wrote
            have = self._params_in_mlflow.get(t.run_id, set())
            for k in [k for k in params if k in have]:
                params.pop(k)
            if t.max_step == 0:
                t.max_step = max(self._steps_in_mlflow(t.run_id), default=0)
            return
        tags = {**self.base_tags, "mlflow.parentRunId": self.parent_run_id,
                "searchlab.role": "trial", "searchlab.trial_id": t.trial_id,
                "mlflow.runName": t.trial_id}
        run = client.create_run(self.experiment_id, start_time=t.start_ms or _now_ms(), tags=tags,
                                run_name=t.trial_id)
        t.run_id = run.info.run_id
        self.writes += 1
        self.existing_runs()[t.trial_id] = (t.run_id, "RUNNING")
        self._steps[t.run_id] = set()

    def _log_batch(self, run_id: str, metrics: list, params: list, tags: list) -> None:
        client = self._client_()
        # MLflow limits one batch to 1000 metrics, 100 params, 100 tags
        while metrics or params or tags:
            client.log_batch(run_id, metrics=metrics[:1000], params=params[:100], tags=tags[:100])
            metrics, params, tags = metrics[1000:], params[100:], tags[100:]
            self.writes += 1

    def _write_notes(self, notes: list[annotations.Annotation]) -> None:
        client = self._client_()
        by_run: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
        for n in notes:
            if n.trial_id is None:
                run_id = self.parent_run_id
            else:
                t = self._trials.get(n.trial_id)
                if t is None or t.run_id is None:
                    annotations._QUEUE.put(n)  # the trial's run is not open yet
                    continue
                run_id = t.run_id
            ms = _now_ms()
            ms_list, tag_list = by_run[run_id]
            ms_list.extend((k, float(v), ms, n.step or 0) for k, v in n.metrics.items()
                           if isinstance(v, (int, float)) and math.isfinite(v))
            tag_list.extend((k, str(v)[:5000]) for k, v in n.tags.items())
            for name, text in n.texts.items():
                client.log_text(run_id, text, name)
        for run_id, (ms_list, tag_list) in by_run.items():
            self._log_batch(run_id, ms_list, [], tag_list)


def _request_tags(config: dict[str, Any]) -> dict[str, str]:
    """The tags a method's trial request asked for (on the child run)."""
    meta = config.get(META) or {}
    return {str(k): str(v) for k, v in (meta.get("tags") or {}).items()}


def _params(config: dict[str, Any]) -> dict[str, str]:
    out = {}
    for k, v in config.items():
        s = json.dumps(v) if isinstance(v, (dict, list)) else str(v)
        out[str(k)[:250]] = s[:MAX_PARAM_LEN]
    return out


def _read(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(errors="replace")[-100_000:]
    except OSError:
        return None


def _now_ms() -> int:
    return int(time.time() * 1000)
