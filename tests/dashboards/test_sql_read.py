"""The SQL reader of ``show`` and the dashboard (searchlab.tracking.sql_read) gives what MLflow's
own client gives, on a real SQLite store with six kinds of studies (failed, diverged, running
trials, several executions, stored analyses), and on the same studies in a real PostgreSQL (the
Debian package's, started here; skipped where PostgreSQL is not installed)."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import write_fake_store
from mlflow.tracking import MlflowClient
from searchlab_testing import REPO

from searchlab import show
from searchlab.dashboard import data


def _nan(obj):
    """NaN as a string (a NaN is equal to nothing, itself included)."""
    if isinstance(obj, float) and math.isnan(obj):
        return "nan"
    if isinstance(obj, dict):
        return {k: _nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan(v) for v in obj]
    if isinstance(obj, data.MetricPoint):
        return (obj.step, obj.timestamp_ms, _nan(obj.value))
    return obj


def _plain(study: data.StudyData) -> list:
    return _nan([(e.run_id, e.run_name, e.tags, e.start_time_ms, e.end_time_ms, e.metrics,
                  e.analysis, [(t.run_id, t.parent_run_id, t.trial_id, t.status, t.params,
                                t.tags, t.metrics, t.history, t.start_time_ms, t.end_time_ms)
                               for t in e.trials]) for e in study.executions])


def test_dashboard_data_read_in_bulk_equals_mlflows_client(fake_store) -> None:
    _dashboard_equal(fake_store)


def _dashboard_equal(fake_store) -> None:
    client = MlflowClient(fake_store.uri)
    fast = data.load_studies(list(fake_store.studies), fake_store.uri)
    assert [s.name for s in fast] == list(fake_store.studies)
    for study in fast:
        exp = client.get_experiment_by_name(study.name)
        slow = data._load_study(client, study.name, exp.experiment_id)  # one call per trial
        for a, b in zip(_plain(study), _plain(slow), strict=True):
            for i, (x, y) in enumerate(zip(a[:-1], b[:-1], strict=True)):
                assert x == y, (study.name, i)
            for t, u in zip(a[-1], b[-1], strict=True):
                for i, (x, y) in enumerate(zip(t, u, strict=True)):
                    assert x == y, (study.name, t[2], i)
    assert data.study_names(fake_store.uri) == sorted(
        fake_store.studies, key=lambda n: client.get_experiment_by_name(n).creation_time)


def test_show_read_in_bulk_equals_mlflows_client(fake_store) -> None:
    _show_equal(fake_store)


def _show_equal(fake_store) -> None:
    client = MlflowClient(fake_store.uri)
    for name in ("mnist-asha", "mnist-random"):
        fast = show.read_study(name, fake_store.uri)
        exp = client.get_experiment_by_name(name)
        parent = client.search_runs([exp.experiment_id], "tags.`searchlab.role` = 'study'",
                                    order_by=["attributes.start_time DESC"], max_results=1)[0]
        slow = show._stored(name, fake_store.uri, parent,
                            show._children(client, exp.experiment_id, parent.info.run_id),
                            lambda run, m: max((x.step for x in run.data._metric_objs
                                                if x.key == m), default=0))
        assert fast.rows == slow.rows and fast.rows, name
        assert (fast.metric, fast.mode, fast.parent_run_id, fast.run_status) == \
            (slow.metric, slow.mode, slow.parent_run_id, slow.run_status)
        assert {r.status for r in fast.rows} >= {"completed", "failed"}
    # a method whose analysis leads: its summary.md, read through MLflow's artifacts
    lead = show.read_study("lr-free-suite", fake_store.uri).lead
    assert lead and "reached the target on" in lead, lead
    assert show.read_study("mnist-random", fake_store.uri).lead is None


@pytest.mark.slow
def test_show_and_dashboard_read_postgres(tmp_path) -> None:
    """The studies written through MLflow into a real PostgreSQL: the bulk reads equal
    MLflow's client there too, and ``searchlab show`` / ``searchlab dashboard`` on the
    ``postgresql://`` URI (password from a pgpass file, never in the URI) read them."""
    from searchlab.postgres import LocalPostgres, binaries

    if binaries() is None:
        pytest.skip("PostgreSQL is not installed")
    pytest.importorskip("psycopg2")
    shared = Path(tempfile.mkdtemp(prefix="slpg", dir="/tmp"))  # reachable by `postgres`
    shared.chmod(0o755)
    pg = LocalPostgres(shared / "postgres")
    try:
        pg.start()
        pg.create_database("fake")
        os.environ.update(pg.env())  # libpq finds the password file
        store = write_fake_store(tmp_path, pg.uri("fake"))
        assert ":" not in store.uri.split("@")[0].split("//")[1]  # no password in it
        _dashboard_equal(store)
        _show_equal(store)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
        env["PYTHONPATH"] = str(REPO)
        r = subprocess.run([sys.executable, "-m", "searchlab", "show", "mnist-random",
                            "--tracking-uri", store.uri], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0 and "16 trials" in r.stdout, r.stdout + r.stderr
        page = tmp_path / "report.html"
        r = subprocess.run([sys.executable, "-m", "searchlab", "dashboard", "--tracking-uri",
                            store.uri, "-o", str(page)], env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0 and f"{len(store.studies)} studies" in r.stdout, \
            r.stdout + r.stderr
        html = page.read_text()
        assert all(name in html for name in store.studies)
    finally:
        for k in pg.env():
            os.environ.pop(k, None)
        pg.stop()
        shutil.rmtree(shared, ignore_errors=True)
