"""Read a study back from an MLflow database in a few queries (``show`` and the dashboard).

MLflow's client reads runs one page at a time through its ORM and a metric's history one run at
a time: for a study of 10,000 trials that is minutes. For a SQL store (SQLite, PostgreSQL) these
functions read the same tables MLflow's own SQL store reads (``experiments``, ``runs``,
``tags``, ``params``, ``latest_metrics``, ``metrics``; MLflow's schema since 1.x) in one query
each, with SQLAlchemy (which MLflow's store uses) and without importing MLflow. They answer with
objects shaped like MLflow's (``run.info.run_id``, ``run.data.tags``, ...). Other stores (an
MLflow server, Databricks) are read through ``MlflowClient``; :func:`supported` says which.
"""

from __future__ import annotations

import math
import sys
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

ACTIVE = "active"


def supported(uri: str) -> bool:
    scheme = uri.split(":", 1)[0].split("+")[0]
    return scheme in ("sqlite", "postgresql", "postgres")


class StudyTables:
    """One connection to the store; the queries below, each in one round trip."""

    def __init__(self, uri: str) -> None:
        import sqlalchemy

        from searchlab.tracking.store import sql_driver

        self.sa = sqlalchemy
        self.engine = sqlalchemy.create_engine(sql_driver(uri),
                                               poolclass=sqlalchemy.pool.NullPool)
        self.conn = self.engine.connect()

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()

    def __enter__(self) -> StudyTables:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        return list(self.conn.execute(self.sa.text(sql), params))

    # ------------------------------------------------------------------ experiments
    def experiment(self, name: str) -> SimpleNamespace | None:
        rows = self._rows("SELECT experiment_id, name, lifecycle_stage FROM experiments "
                          "WHERE name = :name", name=name)
        if not rows:
            return None
        r = rows[0]
        return SimpleNamespace(experiment_id=str(r[0]), name=r[1], lifecycle_stage=r[2])

    def experiment_names(self) -> list[str]:
        return [r[0] for r in self._rows("SELECT name FROM experiments WHERE lifecycle_stage = "
                                         ":a ORDER BY creation_time", a=ACTIVE)]

    def study_experiments(self) -> list[str]:
        """Active experiments that hold a searchlab study run, oldest first."""
        return [r[0] for r in self._rows(
            "SELECT e.name FROM experiments e WHERE e.lifecycle_stage = :a AND EXISTS ("
            " SELECT 1 FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid"
            " WHERE r.experiment_id = e.experiment_id AND r.lifecycle_stage = :a"
            " AND t.key = 'searchlab.role' AND t.value = 'study') ORDER BY e.creation_time",
            a=ACTIVE)]

    # ------------------------------------------------------------------ runs
    def runs(self, experiment_id: str, parent: str | None = None,
             role: str | None = None) -> list[SimpleNamespace]:
        """The experiment's active runs (only ``parent``'s children, only those whose
        ``searchlab.role`` is ``role``), with their tags, params and latest metrics."""
        where = ["r.experiment_id = :e", "r.lifecycle_stage = :a"]
        params: dict[str, Any] = {"e": int(experiment_id), "a": ACTIVE}
        if parent is not None:
            where.append("EXISTS (SELECT 1 FROM tags p WHERE p.run_uuid = r.run_uuid AND "
                         "p.key = 'mlflow.parentRunId' AND p.value = :parent)")
            params["parent"] = parent
        if role is not None:
            where.append("EXISTS (SELECT 1 FROM tags s WHERE s.run_uuid = r.run_uuid AND "
                         "s.key = 'searchlab.role' AND s.value = :role)")
            params["role"] = role
        chosen = f"SELECT r.run_uuid FROM runs r WHERE {' AND '.join(where)}"
        runs: dict[str, SimpleNamespace] = {}
        for r in self._rows("SELECT r.run_uuid, r.name, r.status, r.start_time, r.end_time, "
                            "r.experiment_id, r.artifact_uri FROM runs r WHERE "
                            + " AND ".join(where), **params):
            runs[r[0]] = SimpleNamespace(
                info=SimpleNamespace(run_id=r[0], run_name=r[1], status=r[2], start_time=r[3],
                                     end_time=r[4], experiment_id=str(r[5]), artifact_uri=r[6],
                                     lifecycle_stage=ACTIVE),
                data=SimpleNamespace(tags={}, params={}, metrics={}, steps={}))
        for table, field in (("tags", "tags"), ("params", "params")):
            for run_id, key, value in self._rows(
                    f"SELECT x.run_uuid, x.key, x.value FROM {table} x WHERE x.run_uuid IN "
                    f"({chosen})", **params):
                if run_id in runs:
                    getattr(runs[run_id].data, field)[key] = value
        for run_id, key, value, step, is_nan in self._rows(
                "SELECT m.run_uuid, m.key, m.value, m.step, m.is_nan FROM latest_metrics m "
                f"WHERE m.run_uuid IN ({chosen})", **params):
            if run_id in runs:
                runs[run_id].data.metrics[key] = math.nan if is_nan else _value(value)
                runs[run_id].data.steps[key] = int(step)
        return list(runs.values())

    def histories(self, experiment_id: str) -> dict[str, dict[str, list[tuple[int, int, float]]]]:
        """run id -> metric -> [(step, timestamp ms, value)], in step then time order, for
        every active run of the experiment."""
        out: dict[str, dict[str, list[tuple[int, int, float]]]] = defaultdict(
            lambda: defaultdict(list))
        for run_id, key, value, step, ts, is_nan in self._rows(
                "SELECT m.run_uuid, m.key, m.value, m.step, m.timestamp, m.is_nan FROM metrics m "
                "WHERE m.run_uuid IN (SELECT r.run_uuid FROM runs r WHERE r.experiment_id = :e "
                "AND r.lifecycle_stage = :a) ORDER BY m.run_uuid, m.key, m.step, m.timestamp",
                e=int(experiment_id), a=ACTIVE):
            out[run_id][key].append((int(step), int(ts), math.nan if is_nan else _value(value)))
        return out

    def latest_study_run(self, experiment_id: str) -> SimpleNamespace | None:
        rows = self._rows(
            "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
            "WHERE r.experiment_id = :e AND r.lifecycle_stage = :a AND t.key = 'searchlab.role' "
            "AND t.value = 'study' ORDER BY r.start_time DESC LIMIT 1",
            e=int(experiment_id), a=ACTIVE)
        if not rows:
            return None
        found = [r for r in self.runs(experiment_id, role="study") if r.info.run_id == rows[0][0]]
        return found[0] if found else None


def _value(v: float) -> float:
    """MLflow keeps ±inf as ±float max."""
    v = float(v)
    return math.copysign(math.inf, v) if abs(v) >= sys.float_info.max else v
