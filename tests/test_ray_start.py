"""Ray start-up that survives the machine it lands on, and a failed start leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from searchlab_testing import REPO

pytestmark = pytest.mark.slow

STUDY = """name: {name}
workload: sphere
metric: {{name: loss, mode: min}}
space: {{x1: {{uniform: [-1, 1]}}}}
budget: {{trials: 2}}
"""


def _run(tmp_path, *args, env_extra=None, name="rs"):
    study = tmp_path / f"{name}.yaml"
    study.write_text(STUDY.format(name=name))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db",
           "PYTHONPATH": str(REPO), **(env_extra or {})}
    env.pop("RAY_ADDRESS", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "searchlab", "run", str(study), "--storage",
                           str(tmp_path / "store"), *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def test_a_stale_ray_address_file_does_not_stop_a_local_run(tmp_path):
    """An earlier `ray start` that died leaves ray_current_cluster behind; plain ray.init(num_cpus=)
    then tries to join it and fails. searchlab starts its own cluster whatever is there."""
    import shutil
    import tempfile
    from pathlib import Path

    ray_tmp = Path(tempfile.mkdtemp(prefix="slr", dir="/tmp"))  # short: Ray's socket paths
    try:
        (ray_tmp / "ray").mkdir(parents=True)
        (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")
        r = _run(tmp_path, env_extra={"RAY_TMPDIR": str(ray_tmp)})
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 trials (2 completed)" in r.stdout


def test_benchmarks_start_ray_as_searchlab_run_does_whatever_ray_start_left(tmp_path):
    """A killed `ray start --head` leaves its address file; a benchmark that started Ray with
    plain ray.init(num_cpus=...) died on it ("When connecting to an existing cluster, num_cpus
    and num_gpus must not be provided"). Scripts and tests start Ray through init_local."""
    import json
    import shutil
    import tempfile
    from pathlib import Path

    ray_tmp = Path(tempfile.mkdtemp(prefix="slr", dir="/tmp"))
    try:
        (ray_tmp / "ray").mkdir(parents=True)
        (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")
        env = {**os.environ, "RAY_TMPDIR": str(ray_tmp), "PYTHONPATH": str(REPO),
               "OMP_NUM_THREADS": "1"}
        env.pop("RAY_ADDRESS", None)
        r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "deep_ga_throughput.py"),
                            "--generations", "1", "--evotorch-generations", "1",
                            "--seconds", "0.2", "--workers", "2"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["ga_frames_per_s_2"] > 0


def test_an_unreachable_cluster_is_one_line_and_leaves_no_mlflow_run(tmp_path):
    from searchlab_testing import child_runs

    r = _run(tmp_path, "--address", "127.0.0.1:1", name="gone")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "cannot join the Ray cluster at 127.0.0.1:1 (--address)" in r.stderr
    try:
        _, children, parents = child_runs(f"sqlite:///{tmp_path}/m.db", "gone")
    except AssertionError:  # no experiment at all is fine too
        return
    assert parents == [] and children == []


def test_ray_address_in_the_environment_is_said(tmp_path):
    r = _run(tmp_path, env_extra={"RAY_ADDRESS": "127.0.0.1:1"}, name="envaddr")
    assert r.returncode == 2 and "(RAY_ADDRESS)" in r.stderr


def test_a_pool_outside_searchlab_run_starts_ray_as_searchlab_run_does(tmp_path):
    """RayPool in a script of the user's (no Ray yet) starts Ray itself; with the address file a
    killed `ray start --head` leaves, plain ray.init(num_cpus=...) died on it. The pool starts
    a local cluster through init_local, like `searchlab run`."""
    import shutil
    import tempfile
    from pathlib import Path

    script = tmp_path / "pool.py"
    script.write_text("from searchlab.execution.pool import RayPool\n"
                      "pool = RayPool(2)\n"
                      "print(pool.map(lambda cache, x: x * 2, [1, 2, 3]))\n"
                      "pool.close()\n")
    ray_tmp = Path(tempfile.mkdtemp(prefix="slr", dir="/tmp"))
    try:
        (ray_tmp / "ray").mkdir(parents=True)
        (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")
        env = {**os.environ, "RAY_TMPDIR": str(ray_tmp), "PYTHONPATH": str(REPO)}
        env.pop("RAY_ADDRESS", None)
        r = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == "[2, 4, 6]"


def test_a_cluster_node_whose_start_fails_is_started_again(tmp_path, monkeypatch):
    """On two busy cores `ray start` for a joining node can give up (Ray waits a fixed 30 s for
    its raylet) and exit: LocalCluster starts that node again, and says so when it never starts.
    Stand-in processes play `ray start`: the first exits as Ray does, the second starts."""
    from searchlab.execution.ray_start import LocalCluster

    cluster = LocalCluster.__new__(LocalCluster)
    cluster.tmp, cluster.procs, cluster.env = tmp_path, [], dict(os.environ)
    left = f"{sys.executable} -c 'import time; time.sleep(300)' {tmp_path}/node1"
    scripts = iter([f"{left} & echo 'The current node timed out during startup.'; exit 1",
                    "echo 'Ray runtime started.'; sleep 60"])
    monkeypatch.setattr(cluster, "_node", lambda name, *a: cluster.spawn(
        name, ["sh", "-c", next(scripts)]))
    try:
        cluster._started("node1", 1, {}, [], timeout=30)
        assert len(cluster.procs) == 1 and cluster.procs[0].poll() is None  # the second one
        assert (tmp_path / "node1-try2.log").read_text().startswith("Ray runtime started")
        import psutil  # what the failed start left behind (a late raylet, say) is gone

        assert not [q for q in psutil.process_iter(["cmdline"])
                    if f"{tmp_path}/node1" in " ".join(q.info["cmdline"] or [])
                    and q.status() != psutil.STATUS_ZOMBIE]

        monkeypatch.setattr(cluster, "_node", lambda name, *a: cluster.spawn(
            name, ["sh", "-c", "exit 1"]))
        with pytest.raises(RuntimeError, match="node2: sh -c exit 1 exited with 1 3 times"):
            cluster._started("node2", 1, {}, [], timeout=30)
        assert len(cluster.procs) == 1
    finally:
        cluster.stop()


SHUTDOWN = """
import json, time
import ray
from searchlab.execution.ray_start import init_local, shutdown
init_local(1)
ray.get(ray.remote(lambda: 1).remote())
node = ray._private.worker._global_node
procs = {k: [i.process for i in v] for k, v in node.all_processes.items()}
real, seen = ray.shutdown, {}
def spy(*args, **kwargs):  # what Ray's own stop finds: the monitor already ended
    seen["monitor"] = procs["monitor"][0].poll()
    return real(*args, **kwargs)
ray.shutdown = spy
shutdown()
time.sleep(1)  # anything the raylet still pushed to the driver would be printed by now
ended = {k: [p.poll() for p in v] for k, v in procs.items()}
print(json.dumps({"at_ray_shutdown": seen, "ended": ended}))
"""


def test_shutdown_kills_the_monitor_first_and_stops_every_ray_process(tmp_path):
    """searchlab's ray shutdown kills Ray's autoscaler monitor first (Ray would wait a second
    for it); this pins the Ray private API it reads (the head node's ``all_processes``) and shows
    that every process Ray started is gone afterwards, with nothing printed about the monitor."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(REPO)
    r = subprocess.run([sys.executable, "-c", SHUTDOWN], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["at_ray_shutdown"] == {"monitor": -9}  # killed by us, before Ray's own stop
    ended = out["ended"]
    assert {"raylet", "gcs_server"} <= set(ended)
    assert all(code is not None for codes in ended.values() for code in codes), ended
    assert "autoscaler" not in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
