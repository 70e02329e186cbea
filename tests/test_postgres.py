"""MLflow on a real PostgreSQL (the Debian package's ``initdb`` and ``pg_ctl``, started here in a
temporary directory on a free port): a fresh schema made by three processes at once, a study
that loses nothing while PostgreSQL restarts, two studies at once from a two-node Ray cluster,
and ``searchlab server`` with its own PostgreSQL and a login (``--auth``).

Skipped only where PostgreSQL or psycopg2 is not installed (``scripts/setup.sh`` installs both).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from searchlab_testing import (
    REPO,
    child_runs,
    free_port,
    ray_get_json,
    start_mlflow_server,
    stop_group,
    wait_http,
)

from searchlab.postgres import LocalPostgres, binaries

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(binaries() is None, reason="PostgreSQL is not installed"),
]
psycopg2 = pytest.importorskip("psycopg2")


def _shared_tmp() -> Path:
    """A directory the ``postgres`` user can reach when the tests run as root (pytest's own
    temporary directories are private to their owner)."""
    d = Path(tempfile.mkdtemp(prefix="slpg", dir="/tmp"))
    d.chmod(0o755)
    return d


@pytest.fixture(scope="module")
def pg():
    tmp = _shared_tmp()
    server = LocalPostgres(tmp / "postgres")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        assert not server.running()
        shutil.rmtree(tmp, ignore_errors=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")
           and not k.startswith("MLFLOW_TRACKING_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


RACE = textwrap.dedent("""\
    import sys, time
    from searchlab.tracking.store import open_store
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # start together
    open_store(sys.argv[1]).search_experiments()
    print("ok")
    """)


def test_a_fresh_postgres_schema_made_by_three_processes_at_once(pg):
    """The MLflow schema is created and migrated under a PostgreSQL advisory lock."""
    pg.create_database("fresh")
    uri = pg.uri("fresh")
    start = time.time() + 4.0
    procs = [subprocess.Popen([sys.executable, "-c", RACE, uri, str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=_env(**pg.env())) for _ in range(3)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 and o.strip().endswith("ok") for p, o in zip(procs, outs)), outs


CURVE = """\
name: {name}
workload: {{function: "test_workloads_lib:slow_curve", path: "{tests}", args: {{sleep: {sleep}}}}}
metric: {{name: loss, mode: min}}
space: {{x1: {{uniform: [0, 1]}}}}
search: {{algorithm: random, seed: 5}}
budget: {{trials: {trials}, concurrency: 2, max_epochs: {epochs}}}
"""


def _assert_complete(uri: str, name: str, trials: int, epochs: int) -> None:
    client, children, parents = child_runs(uri, name)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    ids = [c.data.tags["searchlab.trial_id"] for c in children]
    assert len(ids) == trials and len(set(ids)) == trials
    assert all(c.info.status == "FINISHED" for c in children)
    for c in children:  # every step once
        steps = [m.step for m in client.get_metric_history(c.info.run_id, "loss")]
        assert steps == list(range(1, epochs + 1)), steps


def test_postgres_restarted_mid_study_loses_nothing(pg, tmp_path):
    pg.create_database("restart")
    port = free_port()
    server = start_mlflow_server(tmp_path, port, backend=pg.uri("restart"), env=pg.env())
    uri = f"http://127.0.0.1:{port}"
    study = tmp_path / "s.yaml"
    study.write_text(CURVE.format(name="pg-restart", tests=REPO / "tests", sleep=0.8, trials=10,
                                  epochs=5) + f'tracking: {{uri: "{uri}"}}\n')
    proc = subprocess.Popen([sys.executable, "-m", "searchlab", "run", str(study), "--storage",
                             str(tmp_path / "store")], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                if len(child_runs(uri, "pg-restart")[1]) >= 2:
                    break
            except Exception:  # noqa: BLE001 - not created yet
                pass
            time.sleep(1)
        else:
            pytest.fail("no trial reached MLflow")
        pg.stop()  # the database goes away: the server answers with errors meanwhile
        time.sleep(12)
        assert proc.poll() is None, "the study stopped when PostgreSQL went away"
        pg.start()
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        assert proc.returncode == 0, out[-3000:]
        assert "MLflow unreachable" in out and "reachable again" in out, out[-3000:]
        _assert_complete(uri, "pg-restart", 10, 5)
    finally:
        stop_group(server)


NODE_CURVE = '''
import time

import ray


def node_curve(config, ctx, sleep=1.0):
    """A loss curve, and the Ray node each report came from (as a number: metrics are floats)."""
    node = float(int(ray.get_runtime_context().get_node_id()[:12], 16))
    for epoch in range(1, ctx.max_epochs + 1):
        time.sleep(sleep)
        yield {"loss": config["x1"] ** 2 / epoch, "node": node}
'''


def test_two_studies_at_once_from_a_two_node_ray_cluster(pg, tmp_path):
    from searchlab.execution.ray_start import LocalCluster

    pg.create_database("cluster")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "nodecurve.py").write_text(NODE_CURVE)
    names = ("pg-study-a", "pg-study-b")
    for name in names:
        (tmp_path / f"{name}.yaml").write_text(textwrap.dedent(f"""\
            name: {name}
            workload: {{function: "nodecurve:node_curve", path: src, args: {{sleep: 4.0}}}}
            metric: {{name: loss, mode: min}}
            space: {{x1: {{uniform: [-1, 1]}}}}
            search: {{algorithm: random, seed: 1}}
            budget: {{trials: 4, concurrency: 4, max_epochs: 4}}
            resources: {{cpu: 1}}
            """))  # 4 at a time, a CPU each: more than one node holds (2 CPUs each); trials
    # (16 s) longer than an actor's start-up, or Tune reuses a warm node's actors (test_cluster)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}, **pg.env()}
    cluster = LocalCluster([2, 2], dashboard=True, env=env)
    try:
        jobs_api = cluster.jobs_api
        assert jobs_api is not None

        def nodes() -> list[str]:
            data = ray_get_json(f"{jobs_api}/api/v0/nodes?limit=10")["data"]["result"]["result"]
            return [n["node_id"] for n in data if n["state"] == "ALIVE"]

        cluster.wait("Ray head", lambda: ray_get_json(f"{jobs_api}/api/version")
                     .get("ray_version"), 180)
        cluster.wait("second Ray node", lambda: len(nodes()) == 2, 180)
        cluster.spawn("mlflow", [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                                 "--port", str(port), "--workers", "1",
                                 "--backend-store-uri", pg.uri("cluster"),
                                 "--artifacts-destination", str(cluster.tmp / "artifacts")])
        cluster.wait("MLflow server", lambda: urllib.request.urlopen(f"{uri}/health", timeout=2)
                     .status == 200, 180)
        jobs = []
        for name in names:  # both submitted before either runs
            r = subprocess.run([sys.executable, "-m", "searchlab", "submit", f"{name}.yaml",
                                "--address", jobs_api, "--tracking-uri", uri,
                                "--no-wait"], cwd=tmp_path, env=_env(), capture_output=True,
                               text=True, timeout=180)
            assert r.returncode == 0, r.stderr
            jobs.append(r.stdout.strip())

        def status(job: str) -> str:
            return subprocess.run([sys.executable, "-m", "searchlab", "status", job, "--address",
                                   jobs_api], env=_env(), capture_output=True,
                                  text=True, timeout=60).stdout

        deadline = time.time() + 900
        while time.time() < deadline:
            states = [status(j) for j in jobs]
            if all(any(s in st for s in ("SUCCEEDED", "FAILED", "STOPPED")) for st in states):
                break
            time.sleep(3)
        assert all("SUCCEEDED" in st for st in states), states
        expected = {int(n[:12], 16) for n in nodes()}
        used: set[int] = set()
        for name in names:
            _assert_complete(uri, name, 4, 4)
            used |= {int(c.data.metrics["node"]) for c in child_runs(uri, name)[1]}
        assert used == expected, f"trials ran on {len(used)} of the 2 nodes"
    finally:
        cluster.stop()
    # the server went with the cluster: `show` reads PostgreSQL itself
    db = pg.uri("cluster")
    r = subprocess.run([sys.executable, "-m", "searchlab", "show", names[0], "--tracking-uri", db],
                       env=_env(**pg.env()), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "4 trials (4 completed)" in r.stdout, r.stdout + r.stderr


# ---------------------------------------------------------------------------- searchlab server
def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _status(url: str, headers: dict | None = None) -> int:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_searchlab_server_on_its_own_postgres_with_a_login(tmp_path, monkeypatch):
    cwd = _shared_tmp()
    users = tmp_path / "users"
    users.write_text("# the first is the administrator\nboss:Boss-Passw0rd-123\n"
                     "alice:Alice-Passw0rd-456\n")
    users.chmod(0o600)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # bound beyond loopback without a login: refused, with the two ways on
    r = subprocess.run([sys.executable, "-m", "searchlab", "server", "--host", "0.0.0.0",
                        "--port", str(port)], cwd=cwd, env=_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "--auth" in r.stderr and "--insecure" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "searchlab", "server", "--port", str(port),
                               "--auth", "--users", str(users)], cwd=cwd, env=_env(),
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"{url}/health", 300, server)
        search = f"{url}/api/2.0/mlflow/experiments/search?max_results=5"
        deadline = time.time() + 120  # the users from the file are added once it answers
        while _status(search, _basic("alice", "Alice-Passw0rd-456")) != 200:
            assert time.time() < deadline, "alice cannot log in"
            time.sleep(1)
        assert _status(search) == 401  # no login: refused
        assert _status(search, _basic("alice", "wrong")) == 401
        assert _status(search, _basic("boss", "Boss-Passw0rd-123")) == 200

        study = cwd / "s.yaml"
        study.write_text(CURVE.format(name="served", tests=REPO / "tests", sleep=0.1, trials=4,
                                      epochs=3))
        run = [sys.executable, "-m", "searchlab", "run", str(study), "--storage",
               str(cwd / "store")]
        alice = {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD":
                 "Alice-Passw0rd-456"}
        # without the login, every command is one line saying what to set; nothing runs
        for cmd in (run, ["show", "served"], ["dashboard", "served"], ["ui"]):
            full = cmd if cmd is run else [sys.executable, "-m", "searchlab", *cmd,
                                            "--tracking-uri", url]
            r = subprocess.run(full, cwd=cwd, env=_env(MLFLOW_TRACKING_URI=url),
                               capture_output=True, text=True, timeout=180)
            lines = [x for x in r.stderr.splitlines() if x.strip()]
            assert r.returncode == 2 and len(lines) == 1, (cmd, r.stderr)
            assert "needs a login: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" \
                in lines[0]
        assert not (cwd / "store" / "served").exists()
        r = subprocess.run(run, cwd=cwd, env=_env(MLFLOW_TRACKING_URI=url, **alice),
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0 and "4 trials (4 completed)" in r.stdout, r.stderr[-3000:]
        assert "Passw0rd" not in r.stdout + r.stderr
        # nor in any file the study wrote (its logs, results, journal) or the server's artifacts
        # (the logs uploaded with each run)
        written = [f for d in (cwd / "store", cwd / ".searchlab" / "server" / "artifacts")
                   for f in d.rglob("*") if f.is_file()]
        assert len(written) > 10, written
        leaked = [f for f in written if b"Passw0rd" in f.read_bytes()]
        assert not leaked, leaked
        r = subprocess.run([sys.executable, "-m", "searchlab", "show", "served", "--tracking-uri",
                            url], cwd=cwd, env=_env(**alice), capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0 and "4 trials (4 completed)" in r.stdout, r.stderr
        r = subprocess.run([sys.executable, "-m", "searchlab", "dashboard", "--tracking-uri", url,
                            "-o", str(tmp_path / "report.html")], cwd=cwd, env=_env(**alice),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and (tmp_path / "report.html").stat().st_size > 1000, r.stderr
        r = subprocess.run([sys.executable, "-m", "searchlab", "ui", "--tracking-uri", url],
                           cwd=cwd, env=_env(**alice), capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0 and f"open {url}" in r.stderr and "alice" in r.stderr
        for k, v in alice.items():
            monkeypatch.setenv(k, v)
        _assert_complete(url, "served", 4, 3)
        client, children, parents = child_runs(url, "served")
        for run_ in children + parents:  # nor in MLflow's tags and params
            assert "Passw0rd" not in repr((run_.data.tags, run_.data.params))
        # passwords appear on no command line of the server's processes
        from searchlab.processes import process_tree

        for pid in process_tree([server.pid]):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert b"Passw0rd" not in cmdline, cmdline
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            stop_group(server)
        log.close()
    output = (tmp_path / "server.log").read_text()
    assert server.returncode == 0, output[-3000:]
    assert "Passw0rd" not in output  # nor in its output
    assert "login required" in output and "PostgreSQL stopped" in output
    managed = LocalPostgres(cwd / ".searchlab" / "server" / "postgres")
    try:
        assert managed.initialized() and not managed.running()  # stopped with the server
    finally:
        managed.stop()
        shutil.rmtree(cwd, ignore_errors=True)
