"""Cluster submission through the Ray Jobs API, tracked by a real MLflow tracking server.

The slow tests start a real Ray head (``ray start --head``), a second Ray node on the same machine
and an MLflow server (``mlflow server``), all on loopback ports of their own and with a Ray temp
directory of their own, so that other Ray clusters on the machine are left alone. Everything they
start is stopped by process id (never ``ray stop``, which stops every Ray process of the machine).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from argparse import Namespace
from pathlib import Path

import pytest
from searchlab_testing import REPO, free_port

from searchlab.errors import SearchlabError

PROBE = '''
import time

import ray


def probe(config, ctx, sleep=0.0):
    """sphere, plus the id of the Ray node the trial ran on (as a number: metrics are floats)."""
    time.sleep(sleep)
    node = ray.get_runtime_context().get_node_id()
    return {"loss": sum(v * v for k, v in config.items() if k.startswith("x")),
            "node": float(int(node[:12], 16))}
'''


def searchlab(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    return subprocess.run([sys.executable, "-m", "searchlab", *args], capture_output=True,
                          text=True, cwd=cwd, env={**full_env, **(env or {})}, timeout=timeout)


def one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("searchlab: error: "), r.stderr
    return lines[0]


# ---------------------------------------------------------------------------- fast: no cluster
def test_invalid_study_fails_locally_before_anything_is_sent(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nworkload: sphere\nmetric: {name: loss, mode: min}\n"
                   "space: {x1: {unifrom: [0, 1]}}\n")
    # port 9 (discard) on loopback: nothing listens; an attempt to send would fail differently
    line = one_error_line(searchlab("submit", str(bad), "--address", "http://127.0.0.1:9"))
    assert "bad.yaml:4: space.x1.unifrom" in line


def test_unreachable_cluster_is_one_line_naming_the_address(tmp_path):
    good = tmp_path / "s.yaml"
    good.write_text("name: s\nworkload: sphere\nmetric: {name: loss, mode: min}\n"
                    "space: {x1: {uniform: [0, 1]}}\nbudget: {trials: 2}\n"
                    "tracking: {enabled: false}\n")
    port = free_port()
    line = one_error_line(searchlab("submit", str(good), "--address", f"http://127.0.0.1:{port}"))
    assert f"cannot reach the Ray cluster at http://127.0.0.1:{port}" in line
    line = one_error_line(searchlab("jobs", "--address", f"http://u:secret@127.0.0.1:{port}"))
    assert "secret" not in line and "***@127.0.0.1" in line
    line = one_error_line(searchlab("status", "raysubmit_x"))
    assert "--address" in line and "RAY_ADDRESS" in line


def test_package_root_follows_relative_workload_path(tmp_path, monkeypatch):
    from searchlab.submit import plan_package

    (tmp_path / "spaces").mkdir()
    (tmp_path / "src").mkdir()
    study = tmp_path / "spaces" / "s.yaml"
    study.write_text("x")
    monkeypatch.chdir(tmp_path)
    assert plan_package(study, None, None)[:2] == (tmp_path / "spaces", "s.yaml")
    assert plan_package(study, "src", None)[:2] == (tmp_path, "spaces/s.yaml")
    with pytest.raises(SearchlabError, match="not a directory"):
        plan_package(study, "nosuch", None)
    with pytest.raises(SearchlabError, match="outside"):
        plan_package(study, None, str(tmp_path / "src"))
    # relative to the study file, as `searchlab run` reads it, from any current directory
    monkeypatch.chdir(tmp_path / "src")
    assert plan_package(study, "../src", None)[:2] == (tmp_path, "spaces/s.yaml")
    (tmp_path / "spaces" / "code").mkdir()
    assert plan_package(study, "code", None)[:2] == (tmp_path / "spaces", "s.yaml")
    with pytest.raises(SearchlabError, match="outside the packaged"):
        plan_package(study, "code", str(tmp_path / "src"))
    _, _, warnings = plan_package(study, "/opt/elsewhere", None)
    assert "must exist on every node" in warnings[0]


def test_tracking_uri_for_the_job(monkeypatch):
    from searchlab.spec.parse import parse_text
    from searchlab.submit import _tracking

    def study(tracking: str = "") -> object:
        return parse_text("name: s\nworkload: sphere\nmetric: {name: loss, mode: min}\n"
                          "space: {x1: {uniform: [0, 1]}}\nbudget: {trials: 2}\n" + tracking).study

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    remote, local = "http://10.1.2.3:8265", "http://127.0.0.1:8265"
    server = "http://user:pw@10.1.2.4:5000"
    assert _tracking(Namespace(tracking_uri=server), study(), remote) == (server, [])
    # no URI at all: refused for a remote cluster, this machine's default store for a local one
    with pytest.raises(SearchlabError, match="no shared MLflow tracking server"):
        _tracking(Namespace(tracking_uri=None), study(), remote)
    uri, warnings = _tracking(Namespace(tracking_uri=None), study(), local)
    assert uri.startswith("sqlite:///") and warnings
    # a local store inherited from the environment is refused for a remote cluster
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////home/me/m.db")
    with pytest.raises(SearchlabError, match="local store"):
        _tracking(Namespace(tracking_uri=None), study(), remote)
    # ... and accepted, with a warning, when asked for explicitly
    uri, warnings = _tracking(Namespace(tracking_uri="sqlite:////srv/m.db"), study(), remote)
    assert uri == "sqlite:////srv/m.db" and "head node" in warnings[0]
    # the study file's URI wins over the environment; a different --tracking-uri is an error
    assert _tracking(Namespace(tracking_uri=None), study(f"tracking: {{uri: '{server}'}}\n"),
                     remote)[0] == server
    with pytest.raises(SearchlabError, match="wins over --tracking-uri") as e:
        _tracking(Namespace(tracking_uri="http://a:1"), study(f"tracking: {{uri: '{server}'}}\n"),
                  remote)
    assert "pw" not in str(e.value)
    assert _tracking(Namespace(tracking_uri=None), study("tracking: {enabled: false}\n"),
                     remote) == (None, [])
    _, warnings = _tracking(Namespace(tracking_uri="http://127.0.0.1:5000"), study(), remote)
    assert "loopback" in warnings[0]


def test_the_job_gets_the_login_in_its_environment_only_for_a_server(monkeypatch):
    from searchlab.submit import job_env

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    env = job_env("http://10.0.0.5:5000")
    assert env["MLFLOW_TRACKING_USERNAME"] == "alice" and env["MLFLOW_TRACKING_PASSWORD"] == \
        "s3cret" and "MLFLOW_TRACKING_TOKEN" not in env
    for local in ("sqlite:////srv/m.db", None):  # a file store needs no login: none is sent
        assert not any(k.startswith("MLFLOW_TRACKING_P") for k in job_env(local))


# ---------------------------------------------------------------------------- the real thing
def _ray_token() -> dict[str, str]:
    """Ray (>= 2.5x) starts clusters with token authentication; its REST API wants the token."""
    token = os.environ.get("RAY_AUTH_TOKEN")
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if not token and path.exists():
        token = path.read_text().strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def _get(url: str, timeout: float = 5) -> dict:
    req = urllib.request.Request(url, headers=_ray_token())
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"{}")


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _wait(what: str, check, timeout: float, procs: list) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what}: {p.args[:3]} exited with {p.returncode}")
        try:
            if check():
                return
        except (OSError, ValueError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


@pytest.fixture(scope="module")
def cluster():
    """A two-node Ray cluster (the head with Ray's Jobs API) and an MLflow tracking server, all
    on 127.0.0.1, stopped by process id (see LocalCluster)."""
    from searchlab.execution.ray_start import LocalCluster

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    ray = LocalCluster([2, 2], dashboard=True, env=env)
    try:
        jobs_api = ray.jobs_api
        ray.wait("Ray head", lambda: _get(f"{jobs_api}/api/version").get("ray_version"), 180)

        def nodes() -> list[str]:
            data = _get(f"{jobs_api}/api/v0/nodes?limit=10")["data"]["result"]["result"]
            return [n["node_id"] for n in data if n["state"] == "ALIVE"]

        ray.wait("second Ray node", lambda: len(nodes()) == 2, 180)
        mlflow_port = free_port()
        ray.spawn("mlflow", [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                             "--port", str(mlflow_port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{ray.tmp / 'mlflow.db'}",
                             "--artifacts-destination", str(ray.tmp / "artifacts")])
        mlflow_url = f"http://127.0.0.1:{mlflow_port}"
        ray.wait("MLflow server", lambda: urllib.request.urlopen(f"{mlflow_url}/health",
                                                                  timeout=2).status == 200, 120)
    except Exception:
        print(ray.logs(), file=sys.stderr)
        ray.stop()
        raise
    try:
        yield Namespace(jobs_api=jobs_api, mlflow=mlflow_url, nodes=nodes(), tmp=ray.tmp,
                        worker=ray.procs[1], live_nodes=nodes)
    finally:
        ray.stop()
        for p in ray.procs:
            assert p.poll() is not None, f"{p.args[:3]} still running"


def _project(tmp_path: Path, name: str, trials: int, sleep: float, retries: int = 0) -> Path:
    """A user's project: a study file in spaces/ and workload code in src/."""
    (tmp_path / "spaces").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "nodeprobe.py").write_text(PROBE)
    (tmp_path / ".searchlab").mkdir()
    (tmp_path / ".searchlab" / "big.bin").write_bytes(b"0" * 1024)  # local results: not sent
    study = tmp_path / "spaces" / f"{name}.yaml"
    study.write_text(textwrap.dedent(f"""\
        name: {name}
        workload: {{function: "nodeprobe:probe", path: src, args: {{sleep: {sleep}}}}}
        metric: {{name: loss, mode: min}}
        space:
          x1: {{uniform: [-1, 1]}}
          x2: {{uniform: [-1, 1]}}
        search: {{algorithm: random, seed: 1}}
        budget: {{trials: {trials}, concurrency: 4, retries: {retries}}}
        resources: {{cpu: 1}}
        """))
    return study


def _mlflow_trials(url: str, experiment: str) -> list[dict]:
    exp = _get(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name={experiment}")
    exp_id = exp["experiment"]["experiment_id"]
    runs = _post(f"{url}/api/2.0/mlflow/runs/search",
                 {"experiment_ids": [exp_id], "max_results": 1000}).get("runs", [])
    out = []
    for r in runs:
        tags = {t["key"]: t["value"] for t in r["data"].get("tags", [])}
        metrics = {m["key"]: m["value"] for m in r["data"].get("metrics", [])}
        out.append({"role": tags.get("searchlab.role"), "status": r["info"]["status"],
                    "metrics": metrics, "tags": tags})
    return out


@pytest.mark.slow
def test_submit_spreads_trials_over_both_nodes_and_tracks_to_the_server(cluster, tmp_path):
    # four trials of a CPU each at once: the cluster's 2 + 2 CPUs, so both nodes hold trials.
    # Trials longer than an actor's start-up: Tune would otherwise give a later trial to a free
    # actor on a warm node rather than wait for a new actor on a cold one.
    study = _project(tmp_path, "cluster-sphere", trials=4, sleep=15.0)
    t0 = time.monotonic()
    r = searchlab("submit", "spaces/cluster-sphere.yaml", "--address", cluster.jobs_api,
                  "--tracking-uri", cluster.mlflow, cwd=tmp_path, timeout=480)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    job = r.stdout.splitlines()[0].strip()
    assert job.startswith("raysubmit_"), r.stdout
    assert f"job {job} SUCCEEDED" in r.stderr
    assert "4 trials (4 completed)" in r.stdout  # the run's own summary, from the job's logs
    print(f"submitted and finished in {time.monotonic() - t0:.1f} s")

    # the Jobs API mirrors
    r = searchlab("status", job, "--address", cluster.jobs_api)
    assert r.returncode == 0 and r.stdout.strip().startswith(f"{job}: SUCCEEDED"), r.stdout
    r = searchlab("jobs", "--address", cluster.jobs_api)
    assert r.returncode == 0 and job in r.stdout and "SUCCEEDED" in r.stdout
    assert "searchlab run spaces/cluster-sphere.yaml --quiet" in r.stdout
    r = searchlab("logs", job, "--address", cluster.jobs_api)
    assert r.returncode == 0 and "best trials of cluster-sphere" in r.stdout
    r = searchlab("logs", job, "--follow", "--address", cluster.jobs_api)  # already finished
    assert r.returncode == 0 and "best trials of cluster-sphere" in r.stdout
    line = one_error_line(searchlab("status", "raysubmit_nosuch", "--address", cluster.jobs_api))
    assert "no job 'raysubmit_nosuch'" in line

    # the runs, read back over MLflow's REST API
    runs = _mlflow_trials(cluster.mlflow, "cluster-sphere")
    trials = [r for r in runs if r["role"] == "trial"]
    parents = [r for r in runs if r["role"] == "study"]
    assert len(parents) == 1 and parents[0]["status"] == "FINISHED"
    assert len(trials) == 4 and all(t["status"] == "FINISHED" for t in trials)
    assert all("loss" in t["metrics"] for t in trials)
    used = {int(t["metrics"]["node"]) for t in trials}
    expected = {int(n[:12], 16) for n in cluster.nodes}
    assert used == expected, f"trials ran on {len(used)} of the 2 nodes: {used} {expected}"

    # the local results directory was not packaged; the job ran in its own copy of the project
    assert not (study.parent.parent / ".searchlab" / "studies").exists()


@pytest.mark.slow
def test_stop_a_running_job(cluster, tmp_path):
    _project(tmp_path, "cluster-long", trials=40, sleep=30.0)
    r = searchlab("submit", "spaces/cluster-long.yaml", "--address", cluster.jobs_api,
                  "--tracking-uri", cluster.mlflow, "--no-wait", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip()
    assert job.startswith("raysubmit_") and "\n" not in job
    assert f"searchlab logs {job} --follow" in r.stderr

    def running() -> bool:
        out = searchlab("status", job, "--address", cluster.jobs_api).stdout
        return "RUNNING" in out

    _wait("job running", running, 120, [])
    r = searchlab("stop", job, "--address", cluster.jobs_api)
    assert r.returncode == 0 and r.stdout.strip() == f"{job}: STOPPED", r.stdout + r.stderr
    r = searchlab("status", job, "--address", cluster.jobs_api)
    assert r.stdout.startswith(f"{job}: STOPPED")
    r = searchlab("stop", job, "--address", cluster.jobs_api)
    assert r.stdout.strip() == f"{job}: already STOPPED"


@pytest.mark.slow
def test_removing_a_worker_node_moves_its_trials_and_the_study_finishes(cluster, tmp_path):
    """Runs last: it takes the second node away from the module's cluster."""
    _project(tmp_path, "cluster-lose-node", trials=8, sleep=12.0, retries=3)
    r = searchlab("submit", "spaces/cluster-lose-node.yaml", "--address", cluster.jobs_api,
                  "--tracking-uri", cluster.mlflow, "--no-wait", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip()

    def trials_running() -> bool:
        try:
            runs = _mlflow_trials(cluster.mlflow, "cluster-lose-node")
        except Exception:  # noqa: BLE001 - experiment not there yet
            return False
        return len([t for t in runs if t["role"] == "trial"]) >= 4

    _wait("trials running on both nodes", trials_running, 240, [])
    # the second node goes away (its `ray start --block` stops the node's processes)
    cluster.worker.send_signal(signal.SIGTERM)
    cluster.worker.wait(timeout=60)
    _wait("the node to leave", lambda: len(cluster.live_nodes()) == 1, 120, [])

    def finished() -> bool:
        out = searchlab("status", job, "--address", cluster.jobs_api).stdout
        return any(s in out for s in ("SUCCEEDED", "FAILED", "STOPPED"))

    _wait("job to finish", finished, 420, [])
    r = searchlab("status", job, "--address", cluster.jobs_api)
    assert f"{job}: SUCCEEDED" in r.stdout, (
        searchlab("logs", job, "--address", cluster.jobs_api).stdout[-3000:])
    runs = _mlflow_trials(cluster.mlflow, "cluster-lose-node")
    trials = [t for t in runs if t["role"] == "trial"]
    assert len(trials) == 8 and all(t["status"] == "FINISHED" for t in trials)
    assert [p["status"] for p in runs if p["role"] == "study"] == ["FINISHED"]
    # every trial ended on the node that is left
    head = {int(n[:12], 16) for n in cluster.live_nodes()}
    moved = [t for t in trials if t["tags"].get("searchlab.retries")]
    assert {int(t["metrics"]["node"]) for t in moved} <= head


def test_packaging_refuses_the_filesystem_root_the_home_directory_and_large_directories(tmp_path):
    """Before anything is packaged or sent (port 9: nothing listens there), one line."""
    home = tmp_path / "home"
    (home / "proj").mkdir(parents=True)
    study = home / "proj" / "s.yaml"
    study.write_text("name: s\nworkload: sphere\nmetric: {name: loss, mode: min}\n"
                     "space: {x1: {uniform: [0, 1]}}\nbudget: {trials: 2}\n"
                     "tracking: {enabled: false}\n")
    # no token authentication: an earlier test of this session may have left Ray's auth mode or
    # token in the environment, and port 9 would then be refused for the token, not unreachable
    env = {"HOME": str(home), "RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN": ""}
    for working_dir, words in [("/", "refusing to package / (the filesystem root)"),
                               (str(home), "(the home directory)")]:
        t0 = time.monotonic()
        line = one_error_line(searchlab("submit", str(study), "--working-dir", working_dir,
                                        "--address", "http://127.0.0.1:9", env=env))
        assert words in line, line
        assert time.monotonic() - t0 < 60
    # a study file in the home directory itself: its directory is the package, refused too
    (home / "s.yaml").write_text(study.read_text())
    line = one_error_line(searchlab("submit", str(home / "s.yaml"), "--address",
                                    "http://127.0.0.1:9", env=env))
    assert "(the home directory)" in line, line
    # more than the bound (a sparse file: no disk used), unless a .gitignore leaves it out
    with open(home / "proj" / "big.bin", "wb") as f:
        f.truncate(300 * 1024 * 1024)
    line = one_error_line(searchlab("submit", str(study), "--address", "http://127.0.0.1:9",
                                    env=env))
    assert "holds more than 256 MiB" in line and str(home / "proj") in line, line
    (home / "proj" / ".gitignore").write_text("big.bin\n")
    line = one_error_line(searchlab("submit", str(study), "--address", "http://127.0.0.1:9",
                                    env=env))
    assert "cannot reach the Ray cluster" in line, line  # packaged: it got as far as sending


def test_a_cluster_still_starting_is_asked_again_then_one_line(capsys):
    """Ray's Jobs API on a freshly started head answers 500 "No available agent to submit job,
    please try again later" until its agent is up: the submission waits and tries again, with
    backoff, for a bounded time."""
    from searchlab.cluster import _call

    busy = RuntimeError("Request failed with status code 500: No available agent to submit job, "
                        "please try again later.")
    calls: list[float] = []

    def submit_job(**kw):
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise busy
        return "raysubmit_1"

    assert _call("http://h:8265", "job submission", submit_job, patience=10, pause=0.1,
                 entrypoint="x") == "raysubmit_1"
    assert len(calls) == 3 and calls[2] - calls[1] > calls[1] - calls[0]  # backoff
    assert capsys.readouterr().err.count("still starting") == 1

    def never_ready(**kw):
        raise busy

    t0 = time.monotonic()
    with pytest.raises(SearchlabError) as e:
        _call("http://h:8265", "job submission", never_ready, patience=1.0, pause=0.1)
    assert time.monotonic() - t0 < 3
    assert "no job agent ready after 1 s" in str(e.value) and "\n" not in str(e.value)
    # other errors are not retried
    calls.clear()

    def broken(**kw):
        calls.append(1)
        raise RuntimeError("Request failed with status code 400: bad runtime_env")

    with pytest.raises(SearchlabError, match="bad runtime_env"):
        _call("http://h:8265", "job submission", broken, patience=10, pause=0.1)
    assert calls == [1]


def test_the_packaging_docs_name_what_the_code_leaves_out_and_its_bound():
    """docs/cluster.md "What is packaged" names every excluded pattern and the size bound."""
    from searchlab.submit import EXCLUDES, MAX_PACKAGE_BYTES

    text = (REPO / "docs" / "cluster.md").read_text()
    section = text[text.index("## What is packaged"):text.index("## Where the results go")]
    section = " ".join(section.split())
    for pattern in EXCLUDES:
        assert f"`{pattern}`" in section, pattern
    assert f"more than {MAX_PACKAGE_BYTES >> 20} MiB" in section
    for refused in ("filesystem root", "home directory"):
        assert refused in section
    assert "smallest directory holding both" in section  # plan_package's rule, not the cwd
