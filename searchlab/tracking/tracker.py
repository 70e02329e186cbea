"""The study's MLflow record: the experiment, the parent run, the one writer, the analysis.

The runner talks to MLflow only through a :class:`Tracker`. It opens (or reopens, on resume) the
parent run before any trial starts, builds the single :class:`MLflowWriter` that records the
trials, stores the method's :class:`~searchlab.methods.base.Analysis` on the parent run, and
closes the run with the study's outcome. A study that fails before its first trial leaves no
parent run behind.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from searchlab.errors import SearchlabError
from searchlab.methods.base import Analysis
from searchlab.tracking.store import (
    abandon_parent_run,
    ensure_experiment,
    login_message,
    login_problem,
    open_parent_run,
    redact,
    resolve_uri,
)


class Tracker:
    def __init__(self, uri: str | None) -> None:
        from searchlab.tracking.store_process import StoreClient

        self.uri = resolve_uri(uri)
        try:
            self.client = StoreClient(self.uri)  # MLflow in a helper process: see its module
        except Exception as e:  # noqa: BLE001
            raise SearchlabError(f"cannot open the MLflow store at {redact(self.uri)}: "
                                 f"{redact(str(e).splitlines()[0][:300] if str(e) else repr(e))}"
                                 ) from None
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        self.created = False  # this execution created the parent run
        self.writer: Any = None
        self.lock: Any = None  # the study's StudyLock, once its lease is taken

    def open(self, experiment: str, *, study_name: str, study_text: str, tags: dict[str, str],
             resume_run_id: str | None, abandon_run_id: str | None,
             more: str | None = None, lock: Any = None, out: Any = None) -> None:
        """Open the study's parent run: a new one, or ``resume_run_id`` reopened (a finished
        one too, for a study continued with a larger budget: ``more`` says what grew; the run
        then holds the study file it now runs). ``lock``: the study's
        :class:`~searchlab.study_lock.StudyLock`, which takes its lease in the experiment before
        anything of an earlier driver is touched."""
        try:
            self.experiment_id = ensure_experiment(self.client, experiment, self.uri)
            if lock is not None:  # a fresh start confirms it later (confirm_lease)
                self.lock = lock
                lock.lease(self.client, self.experiment_id, out,
                           confirm_later=not (resume_run_id or abandon_run_id or more))
            if abandon_run_id:
                abandon_parent_run(self.client, abandon_run_id)
            self.parent_run_id, self.created = open_parent_run(
                self.client, self.experiment_id, study_name=study_name,
                study_text=redact(study_text), tags=tags, resume_run_id=resume_run_id)
            if more and not self.created:  # (the helper process's log_batch takes tuples)
                self.client.log_batch(self.parent_run_id, tags=[
                    ("searchlab.more", more[:5000]),
                    ("searchlab.spec_hash", tags.get("searchlab.spec_hash", ""))])
                self.client.log_text(self.parent_run_id, redact(study_text), "study.yaml")
        except SearchlabError:
            raise
        except Exception as e:  # noqa: BLE001
            raise self._unreachable(e) from None

    def _unreachable(self, e: Exception) -> SearchlabError:
        """An MLflow error while the study opens, in one line (a refused login says so)."""
        if login_problem(e):
            return SearchlabError(login_message(self.uri))
        return SearchlabError(f"cannot reach MLflow at {redact(self.uri)}: "
                              f"{redact(str(e).splitlines()[0][:300])}")

    def confirm_lease(self) -> None:
        """Before any trial: the study's lease in the experiment is this driver's (see
        :meth:`searchlab.study_lock.StudyLock.confirm_lease`); raises naming the holder."""
        if self.lock is not None:
            try:
                self.lock.confirm_lease()
            except SearchlabError:
                raise
            except Exception as e:  # noqa: BLE001
                raise self._unreachable(e) from None

    def make_writer(self, *, metric: str, mode: str, max_epochs: int, base_tags: dict[str, str],
                    spill_dir: Path) -> Any:
        from searchlab.tracking.writer import MLflowWriter

        assert self.experiment_id is not None and self.parent_run_id is not None
        if hasattr(self.client, "background"):  # trials' records: written beside Tune's loop
            self.client.background()
        self.writer = MLflowWriter(self.uri, self.experiment_id, self.parent_run_id, metric=metric,
                                   mode=mode, max_epochs=max_epochs, base_tags=base_tags,
                                   spill_dir=spill_dir, client=self.client)
        return self.writer

    def failed(self) -> None:
        """The study stopped on an error: drop an empty parent run, else end it FAILED."""
        self.discard_if_empty()
        if self.parent_run_id is not None:
            try:
                self.client.set_terminated(self.parent_run_id, "FAILED")
            except Exception:  # noqa: BLE001
                pass

    def discard_if_empty(self) -> None:
        """The study failed before any trial: remove the parent run this execution created."""
        if self.parent_run_id is None or not self.created:
            return
        try:
            children = self.client.search_runs(
                [self.experiment_id], max_results=1,
                filter_string=f"tags.mlflow.parentRunId = '{self.parent_run_id}'")
            if not children:
                self.client.delete_run(self.parent_run_id)
                self.parent_run_id = None
        except Exception:  # noqa: BLE001 - unreachable: nothing to tidy
            pass

    def interrupted(self) -> None:
        if self.parent_run_id is not None:
            try:
                self.client.set_terminated(self.parent_run_id, "KILLED")
            except Exception:  # noqa: BLE001 - resumable either way
                pass

    def store_analysis(self, analysis: Analysis) -> None:
        """Tables, figures, headline metrics, tags and the text report on the parent run."""
        if self.parent_run_id is None or not analysis:
            return
        run = self.parent_run_id
        for name, table in analysis.tables.items():
            self.client.log_text(run, json.dumps(table, indent=1, default=json_default),
                                 f"analysis/{name}.json")
        for name, figure in analysis.figures.items():
            self.client.log_text(run, json.dumps(figure, default=json_default),
                                 f"analysis/{name}.plotly.json")
        if analysis.text:
            self.client.log_text(run, analysis.text, "analysis/summary.md")
        ms = int(time.time() * 1000)
        metrics = [(k[:250], float(v), ms, 0) for k, v in analysis.metrics.items()]
        tags = [(k[:250], str(v)[:5000]) for k, v in analysis.tags.items()]
        for i in range(0, max(len(metrics), len(tags)), 100):
            self.client.log_batch(run, metrics=metrics[i:i + 100], tags=tags[i:i + 100])

    def tag_trials(self, run_ids: list[str | None], tags: dict[str, str]) -> None:
        """Tags on trials' child runs after the study (the Pareto front, say)."""
        for run_id in run_ids:
            if run_id:
                self.client.log_batch(run_id, tags=list(tags.items()))

    def close(self, result: Any) -> None:
        if self.parent_run_id is None:
            return
        best = result.best
        ms = int(time.time() * 1000)
        tags = [(f"searchlab.trials.{k}", str(v)) for k, v in result.counts.items()]
        metrics = [("study_wall_time_s", result.elapsed_s, ms, 0),
                   ("trials", float(len(result.rows)), ms, 0)]
        if best is not None:
            tags += [("searchlab.best_trial_id", best.trial_id)]
            if best.run_id:
                tags.append(("searchlab.best_run_id", best.run_id))
            metrics.append((f"best_{result.metric}", float(best.value), ms, 0))
        self.client.log_batch(self.parent_run_id, metrics=metrics, tags=tags)
        self.client.set_terminated(self.parent_run_id, "FINISHED")

    def shutdown(self) -> None:
        """End the MLflow helper process (after the writer is closed)."""
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


def json_default(obj: Any) -> Any:
    """What JSON cannot write: NumPy scalars and arrays as numbers, anything else as text."""
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:
        pass
    if isinstance(obj, float):
        return None
    return str(obj)
