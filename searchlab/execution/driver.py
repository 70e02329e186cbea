"""The one adapter from a method run (ask/tell, Ray-free) to Ray Tune: a Tune ``Searcher``.

Tune asks it for a config whenever it has room for a trial; it asks the method run for a
:class:`~searchlab.methods.base.TrialRequest` and hands Tune the request's config with the
request's own data (length, workload, args, resources, tags) under the ``__searchlab`` key, which
the trial adapter, the resource function and the MLflow writer read. Every result reaches the run
as a :class:`~searchlab.methods.base.TrialResult` when the trial ends, with its status decided as
everywhere else (:mod:`searchlab.status`). Schedulers work on these trials as on any others.

Resume: every ask and tell is appended to a journal beside the study's Tune state. Whenever this
searcher is built (a resumed study builds a fresh one) or unpickled, a fresh run is started, told
which requests it asked before (``MethodRun.resume``: a study continued with a larger budget
proposes them again and learns from their results) and the journal replayed into it, so a run
needs no pickling of its own. Requests that were asked but
that Tune never saved (the driver died in between) are handed out again, first, under new trial
ids. The runner builds the searcher, hands it to Tune and reads the method's view from the same
object once Tune has ended.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.search import Searcher

from searchlab import status
from searchlab.methods.base import MethodRun, TrialRequest, TrialResources, TrialResult

JOURNAL = "method-journal.jsonl"


def metrics_of(result: dict[str, Any] | None) -> dict[str, float]:
    """A Tune result's own numbers: finite, not bookkeeping, with ``epoch`` added."""
    if not result:
        return {}
    out = {k: float(v) for k, v in result.items()
           if k not in status.TUNE_KEYS and k != "time_total_s"
           and isinstance(v, (int, float)) and not isinstance(v, bool)
           and math.isfinite(v) and not k.startswith("config/")}  # Tune's flattened config
    if result.get("training_iteration") is not None:
        out["epoch"] = float(result["training_iteration"])
    return out


def request_config(request: TrialRequest, index: int = 0,
                   request_id: str | None = None) -> dict[str, Any]:
    """The Tune config of a request: its own config plus searchlab's request data (``index``:
    the request's position in the study, from which the trial's seed derives; ``request_id``:
    for a request handed out again, the trial id it was first asked under)."""
    meta: dict[str, Any] = {
        "length": request.length, "workload": request.workload, "args": request.args,
        "index": index, "tags": request.tags,
        "resources": request.resources.as_dict() if request.resources else None,
        "request_id": request_id}
    # what is unset stays out: Tune keeps several copies of every trial's config (readers .get)
    return {**request.config, status.META: {k: v for k, v in meta.items()
                                            if v is not None and v != {}}}


def resources_of(default: TrialResources) -> Callable[[dict[str, Any]], Any]:
    """Tune's per-trial resource function: the request's resources, else the study's (one
    placement group factory per distinct shape, built once)."""
    built: dict[TrialResources, Any] = {}

    def resources(config: dict[str, Any]) -> Any:
        from ray.tune import PlacementGroupFactory

        res = (config.get(status.META) or {}).get("resources")
        r = TrialResources(**res) if res else default
        if r not in built:
            built[r] = PlacementGroupFactory(r.bundles(), strategy=r.strategy)
        return built[r]

    return resources


class MethodSearcher(Searcher):
    """A method run as a Tune ``Searcher``. ``build_run`` starts a fresh run (picklable, e.g.
    ``functools.partial(study.method.start, study)``)."""

    def __init__(self, build_run: Callable[[], MethodRun], journal_dir: str | os.PathLike[str],
                 metric: str, mode: str, default_length: int) -> None:
        super().__init__(metric=metric, mode=mode)
        self.build_run = build_run
        self.journal_path = str(Path(journal_dir) / JOURNAL)
        self.default_length = default_length
        self._setup()

    # ------------------------------------------------------------------ pickling = replay
    def __getstate__(self) -> dict[str, Any]:
        return {"build_run": self.build_run, "journal_path": self.journal_path,
                "default_length": self.default_length, "metric": self.metric,
                "mode": self.mode}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Searcher.__init__(self, metric=state["metric"], mode=state["mode"])
        self.build_run = state["build_run"]
        self.journal_path, self.default_length = state["journal_path"], state["default_length"]
        self._setup()

    def _setup(self) -> None:
        self._journal: Any = None
        self.run = self.build_run()
        self.requests: dict[str, TrialRequest] = {}
        self.results: dict[str, TrialResult] = {}
        self.order: list[str] = []  # trial ids in the order they ended
        self.history: dict[str, list[dict[str, float]]] = {}
        self.alias: dict[str, str] = {}  # a re-issued request's new trial id -> the id asked
        self.reissue: list[str] = []
        self.stalled = False
        self.abort: str | None = None  # an error that makes every further trial pointless
        entries = _read_journal(self.journal_path)
        asked = [_request(e["request"]) for e in entries if e.get("kind") == "ask"]
        if asked:  # the run hears what it asked before, then each ask and tell again in order
            self.run.resume(asked)
        for entry in entries:
            kind = entry.get("kind")
            if kind == "ask":
                self.run.ask(entry["trial_id"])
                # the request as it was asked and run (a study continued with a larger budget
                # may build its requests differently; what ran is what the journal holds)
                self.requests[entry["trial_id"]] = _request(entry["request"])
            elif kind == "tell":
                result = _result(entry["result"], self.requests)
                self._tell(result, write=False)
            elif kind == "alias":
                self.alias[entry["new"]] = entry["old"]
            elif kind == "stalled":
                self.stalled = True
            elif kind == "abort":
                self.abort = entry["error"]
        self._reissue_unsaved()

    def _reissue_unsaved(self) -> None:
        """After a restore: hand out again the requests that Tune never saved."""
        if not self.requests:
            return
        known = known_trials(Path(self.journal_path).parent)
        known |= {self.alias[t] for t in known if t in self.alias}
        aliased = set(self.alias.values())
        self.reissue = [t for t in self.running() if t not in known and t not in aliased]

    # ------------------------------------------------------------------ Searcher
    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the journal is written as the run goes."""

    def restore(self, checkpoint_path: str) -> None:
        """Nothing to restore: unpickling replays the journal."""

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        """Nothing to save (see :meth:`save`)."""

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        """Nothing to restore: Tune unpickled this searcher, which replayed the journal."""

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any],
                              **spec: Any) -> bool:
        return True

    def suggest(  # type: ignore[override]  # Tune's own FINISHED is a str; it types Dict | None
            self, trial_id: str) -> dict[str, Any] | str | None:
        if self.abort:
            return Searcher.FINISHED
        if self.reissue:
            old = self.reissue.pop(0)
            self.alias[trial_id] = old
            self._write({"kind": "alias", "new": trial_id, "old": old})
            return request_config(self.requests[old], list(self.requests).index(old), old)
        request = self.run.ask(trial_id)
        if request is None:
            if self.run.done:
                return Searcher.FINISHED
            if not self.running():
                self.stalled = True  # waiting for results while nothing runs: a method bug
                self._write({"kind": "stalled"})
                return Searcher.FINISHED
            return None
        self.requests[trial_id] = request
        self._write({"kind": "ask", "trial_id": trial_id, "request": _jsonable(request)})
        return request_config(request, len(self.requests) - 1)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        tid = self.alias.get(trial_id, trial_id)
        metrics = metrics_of(result)
        self.history.setdefault(tid, []).append(metrics)
        self.run.report(tid, metrics)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        tid = self.alias.get(trial_id, trial_id)
        request = self.requests.get(tid)
        if request is None or tid in self.results:
            return  # not ours, or a trial Tune reran after a resume: told once
        history = self.history.pop(tid, [])
        last = result or {}
        files = status.files_of(str(Path(self.journal_path).parent), trial_id)
        state = status.decide(last, request.length, error, files)
        metrics = metrics_of(last) or (history[-1] if history else {})
        err = _read_error(files) if state in ("failed", "timed_out") else None
        if state == "failed" and _missing_metric(files) and not self.abort:
            self.abort = _missing_metric(files)
            self._write({"kind": "abort", "error": self.abort})
        self._tell(TrialResult(tid, request, state, metrics, history, err), write=True)

    # ------------------------------------------------------------------ ours
    def running(self) -> list[str]:
        return [t for t in self.requests if t not in self.results]

    # ------------------------------------------------------------------ fixed trial lists
    def fixed_configs(self) -> list[dict[str, Any]]:
        """Every trial up front, for schedulers that take no searcher (PBT). Raises ValueError
        when the method asks for trials only as results come in."""
        if not self.requests:
            while not self.run.done:
                tid = f"req{len(self.requests):05d}"
                request = self.run.ask(tid)
                if request is None:
                    break
                self.requests[tid] = request
                self._write({"kind": "ask", "trial_id": tid, "request": _jsonable(request)})
            if not self.run.done:
                raise ValueError("this method asks for trials as results come in, and this "
                                 "scheduler needs every trial up front")
        return [request_config(r, i) for i, r in enumerate(self.requests.values())]

    def started(self, trial_id: str, config: dict[str, Any]) -> None:
        """A trial of a fixed list started: it is the request its config's index names."""
        if trial_id in self.alias or trial_id in self.requests:
            return
        index = int((config.get(status.META) or {}).get("index", -1))
        ids = list(self.requests)
        if 0 <= index < len(ids) and ids[index] not in self.alias.values():
            self.alias[trial_id] = ids[index]
            self._write({"kind": "alias", "new": trial_id, "old": ids[index]})

    def all_results(self) -> list[TrialResult]:
        return [self.results[t] for t in self.order]

    def _tell(self, result: TrialResult, write: bool) -> None:
        if write:
            self._write({"kind": "tell", "result": _jsonable(result)})
        self.results[result.trial_id] = result
        self.order.append(result.trial_id)
        self.run.tell(result.trial_id, result)

    def _write(self, entry: dict[str, Any]) -> None:
        if self._journal is None:
            self._journal = open(self.journal_path, "a", buffering=1)  # a line at a time
        self._journal.write(json.dumps(entry, default=str) + "\n")


def search_algorithm(searcher: MethodSearcher, concurrency: int | None) -> Any:
    """The searcher as Tune's search algorithm: Tune's own wrapper (``SearchGenerator``, over a
    ``ConcurrencyLimiter`` when ``concurrency`` is given), as ``tune.run`` would build it, except
    that a restored study is not finished because its earlier run was: whether more trials come
    is the method's to say (a study continued with a larger budget asks for more)."""
    from ray.tune.search import ConcurrencyLimiter, SearchGenerator

    class GoesOn(SearchGenerator):
        def set_state(self, state: dict[str, Any]) -> None:
            super().set_state({**state, "finished": False})

    class Limiter(ConcurrencyLimiter):
        """Tune saves the limiter's running trials apart from the trials' own state: a trial
        that ended after the save (a study stopped by its time limit) would hold its slot in
        the restored limiter for ever, and a continued study would wait on it. The journal
        says which trials ended."""

        def set_state(self, state: dict[str, Any]) -> None:
            super().set_state(state)
            self.live_trials = {t for t in self.live_trials
                                if searcher.alias.get(t, t) not in searcher.results
                                and t not in searcher.reissue}
            self.num_unfinished_live_trials = len(self.live_trials)

    inner: Any = searcher
    if concurrency:
        inner = Limiter(searcher, max_concurrent=concurrency)
    return GoesOn(inner)


class FixedTrialsCallback(Callback):
    """For fixed trial lists: feeds a MethodSearcher from Tune's callback hooks (the searcher
    slot holds Tune's own variant generator)."""

    def __init__(self, searcher: MethodSearcher) -> None:
        self.searcher = searcher

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.searcher.started(trial.trial_id, trial.config)

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any],
                        **info: Any) -> None:
        self.searcher.started(trial.trial_id, trial.config)
        self.searcher.on_trial_result(trial.trial_id, result)

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.searcher.on_trial_complete(trial.trial_id, trial.last_result, False)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.searcher.on_trial_complete(trial.trial_id, trial.last_result, True)


def _jsonable(obj: Any) -> Any:
    return dataclasses.asdict(obj)


def _request(d: dict[str, Any]) -> TrialRequest:
    res = d.get("resources")
    return TrialRequest(config=d["config"], length=d["length"], workload=d.get("workload"),
                        args=d.get("args") or {}, resources=TrialResources(**res) if res else None,
                        tags=d.get("tags") or {})


def _result(d: dict[str, Any], requests: dict[str, TrialRequest]) -> TrialResult:
    request = requests.get(d["trial_id"]) or _request(d["request"])
    return TrialResult(d["trial_id"], request, d["status"], d["metrics"], d.get("history") or [],
                       d.get("error"))


def _read_journal(path: str) -> list[dict[str, Any]]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            break  # a line cut by a kill: everything before it stands
    return out


def _read_error(files: str | None) -> str | None:
    if not files:
        return None
    for name in (status.TIMED_OUT_MARKER, "error.txt"):
        try:
            line = status.error_line(Path(files, name).read_text(errors="replace"))
        except OSError:
            continue
        if line:
            return line
    return None


def _missing_metric(files: str | None) -> str | None:
    """The message of a MissingMetricError the trial died of, if that is what it died of."""
    try:
        text = Path(files or "", "error.txt").read_text(errors="replace")
    except OSError:
        return None
    for line in reversed(text.splitlines()):
        if "MissingMetricError" in line:
            return line.split("MissingMetricError:", 1)[-1].strip()
    return None


def known_trials(study_dir: str | os.PathLike[str]) -> set[str]:
    """The trial ids in Tune's newest saved experiment state that a resumed study runs on
    (empty when unreadable): not the ones saved as ended (TERMINATED), which Tune skips. One
    of those the method was never told of was cut when the study stopped (by its time limit)
    and runs again when the study goes on."""
    states = sorted(Path(study_dir).glob("experiment_state-*.json"))
    if not states:
        return set()
    try:
        data = json.loads(states[-1].read_text())
        return {s["trial_id"] for s in (json.loads(t) for t, _ in data["trial_data"])
                if s.get("status") != "TERMINATED"}
    except (OSError, ValueError, KeyError, TypeError):
        return set()
