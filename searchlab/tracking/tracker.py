"""The study's MLflow record: the experiment, the parent run, the one writer, the analysis.

The runner talks to MLflow only through a :class:`Tracker`. It opens (or reopens, on resume) the
parent run before any trial starts, builds the single :class:`MLflowWriter` that records the
trials, stores the method's :class:`~searchlab.methods.base.Analysis` on the parent run, and
closes the run with the study's outcome. A study that fails before its first trial leaves no
parent run behind.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from searchlab.errors import SearchlabError
from searchlab.methods.base import Analysis
from searchlab.tracking.store import (
    abandon_parent_run,
    ensure_experiment,
    open_parent_run,
    prepare_local,
    redact,
    resolve_uri,
)


class Tracker:
    def __init__(self, uri: str | None) -> None:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # after import: mlflow sets INFO
        self.uri = resolve_uri(uri)
        prepare_local(self.uri)
        self.client = MlflowClient(self.uri)
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        self.created = False  # this execution created the parent run
        self.writer: Any = None

    def open(self, experiment: str, *, study_name: str, study_text: str, tags: dict[str, str],
             resume_run_id: str | None, abandon_run_id: str | None,
             more: str | None = None) -> None:
        """Open the study's parent run: a new one, or ``resume_run_id`` reopened (a finished
        one too, for a study continued with a larger budget: ``more`` says what grew; the run
        then holds the study file it now runs)."""
        try:
            self.experiment_id = ensure_experiment(self.client, experiment, self.uri)
            if abandon_run_id:
                abandon_parent_run(self.client, abandon_run_id)
            self.parent_run_id, self.created = open_parent_run(
                self.client, self.experiment_id, study_name=study_name,
                study_text=redact(study_text), tags=tags, resume_run_id=resume_run_id)
            if more and not self.created:
                from mlflow.entities import RunTag

                self.client.log_batch(self.parent_run_id, tags=[
                    RunTag("searchlab.more", more[:5000]),
                    RunTag("searchlab.spec_hash", tags.get("searchlab.spec_hash", ""))])
                self.client.log_text(self.parent_run_id, redact(study_text), "study.yaml")
        except Exception as e:  # noqa: BLE001
            raise SearchlabError(f"cannot reach MLflow at {redact(self.uri)}: "
                                 f"{str(e).splitlines()[0][:300]}") from None

    def make_writer(self, *, metric: str, mode: str, max_epochs: int, base_tags: dict[str, str],
                    spill_dir: Path) -> Any:
        from searchlab.tracking.writer import MLflowWriter

        assert self.experiment_id is not None and self.parent_run_id is not None
        self.writer = MLflowWriter(self.uri, self.experiment_id, self.parent_run_id, metric=metric,
                                   mode=mode, max_epochs=max_epochs, base_tags=base_tags,
                                   spill_dir=spill_dir)
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
        from mlflow.entities import Metric, RunTag

        run = self.parent_run_id
        for name, table in analysis.tables.items():
            self.client.log_text(run, json.dumps(table, indent=1, default=_json_default),
                                 f"analysis/{name}.json")
        for name, figure in analysis.figures.items():
            self.client.log_text(run, json.dumps(figure, default=_json_default),
                                 f"analysis/{name}.plotly.json")
        if analysis.text:
            self.client.log_text(run, analysis.text, "analysis/summary.md")
        ms = int(time.time() * 1000)
        metrics = [Metric(k[:250], float(v), ms, 0) for k, v in analysis.metrics.items()]
        tags = [RunTag(k[:250], str(v)[:5000]) for k, v in analysis.tags.items()]
        for i in range(0, max(len(metrics), len(tags)), 100):
            self.client.log_batch(run, metrics=metrics[i:i + 100], tags=tags[i:i + 100])

    def tag_trials(self, run_ids: list[str | None], tags: dict[str, str]) -> None:
        """Tags on trials' child runs after the study (the Pareto front, say)."""
        from mlflow.entities import RunTag

        for run_id in run_ids:
            if run_id:
                self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def close(self, result: Any) -> None:
        from mlflow.entities import Metric, RunTag

        if self.parent_run_id is None:
            return
        best = result.best
        ms = int(time.time() * 1000)
        tags = [RunTag(f"searchlab.trials.{k}", str(v)) for k, v in result.counts.items()]
        metrics = [Metric("study_wall_time_s", result.elapsed_s, ms, 0),
                   Metric("trials", float(len(result.rows)), ms, 0)]
        if best is not None:
            tags += [RunTag("searchlab.best_trial_id", best.trial_id)]
            if best.run_id:
                tags.append(RunTag("searchlab.best_run_id", best.run_id))
            metrics.append(Metric(f"best_{result.metric}", float(best.value), ms, 0))
        self.client.log_batch(self.parent_run_id, metrics=metrics, tags=tags)
        self.client.set_terminated(self.parent_run_id, "FINISHED")


def _json_default(obj: Any) -> Any:
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
