"""One writer per study: a second driver is refused naming the holder; a lock left by a driver
killed with ``kill -9`` is taken over; a fresh store made by two processes at once works.

Real processes throughout: drivers are ``searchlab run`` subprocesses (each with its own local
Ray cluster), the killed driver gets SIGKILL, the shared server is a real ``mlflow server``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from searchlab_testing import (
    REPO,
    child_runs,
    free_port,
    start_mlflow_server,
    stop_group,
)

from searchlab.errors import SearchlabError
from searchlab.study_lock import TAG, Holder, StudyLock

HOLD = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    from searchlab.study_lock import StudyLock
    lock = StudyLock(Path(sys.argv[1]), "held")
    lock.acquire()
    print("held", flush=True)
    time.sleep(600)
    """)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    return {**env, "PYTHONPATH": str(REPO)}


def _holder_process(root: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE,
                            text=True, env=_env())
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


# ---------------------------------------------------------------------------- fast: no Ray
def test_storage_lock_refuses_a_second_holder_and_is_taken_over_after_kill_9(tmp_path):
    proc = _holder_process(tmp_path)
    try:
        with pytest.raises(SearchlabError) as e:
            StudyLock(tmp_path, "held").acquire()
        line = str(e.value)
        assert "\n" not in line and "already running" in line
        assert f"driver pid {proc.pid} on {socket.gethostname()}" in line and "since" in line
        # another study in the same directory is not held
        other = StudyLock(tmp_path, "other")
        other.acquire()
        other.release()
    finally:
        proc.send_signal(signal.SIGKILL)  # leaves its holder file behind, as a crash would
        proc.wait()
    assert Holder.parse((tmp_path / ".held.holder.json").read_text()).pid == proc.pid
    said: list[str] = []

    class Out:
        write = said.append

    lock = StudyLock(tmp_path, "held")
    lock.acquire(Out())
    try:
        assert lock.took_over is not None and lock.took_over.pid == proc.pid
        assert len(said) == 1 and f"left locked by driver pid {proc.pid}" in said[0]
        assert "taking it over" in said[0]
        # the same process may not take it twice either: one driver per study
        with pytest.raises(SearchlabError, match=f"driver pid {os.getpid()}"):
            StudyLock(tmp_path, "held").acquire()
    finally:
        lock.release()
    assert not (tmp_path / ".held.holder.json").exists()  # a clean end leaves nothing to take over
    again = StudyLock(tmp_path, "held")
    again.acquire()
    assert again.took_over is None
    again.release()


def test_mlflow_lease_live_stale_and_dead_holders(tmp_path, monkeypatch):
    """The lease in the MLflow experiment, as drivers on other machines see it."""
    import searchlab.study_lock as sl
    from searchlab.tracking.store import open_store

    monkeypatch.setattr(sl, "SETTLE_S", 0.1)
    client = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    exp = client.create_experiment("leased")
    key = TAG + "s"

    def put(holder: Holder) -> None:
        client.set_experiment_tag(exp, key, holder.dump())

    now = time.time()
    elsewhere = Holder("node-7", 4242, now - 600, boot="other-boot", heartbeat=now - 5)
    put(elsewhere)
    with pytest.raises(SearchlabError) as e:
        StudyLock(tmp_path / "a", "s").lease(client, exp)
    assert "driver pid 4242 on node-7" in str(e.value) and "last heartbeat 5 s ago" in str(e.value)

    elsewhere.heartbeat = now - sl.STALE_S - 30  # its machine died: no heartbeat since
    put(elsewhere)
    said: list[str] = []

    class Out:
        write = said.append

    lock = StudyLock(tmp_path / "a", "s")
    lock.lease(client, exp, Out())
    try:
        assert said and "driver pid 4242 on node-7" in said[0] and "no heartbeat for" in said[0]
        mine = Holder.parse(client.get_experiment(exp).tags[key])
        assert mine.pid == os.getpid() and mine.id == lock.me.id
        # a second driver (another machine, another storage directory) is refused while we hold it
        with pytest.raises(SearchlabError, match=f"driver pid {os.getpid()}"):
            StudyLock(tmp_path / "b", "s").lease(client, exp)
    finally:
        lock.release()
    assert client.get_experiment(exp).tags[key] == ""  # released

    # this machine: a holder whose process is gone is taken over at once, a live one refuses
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    put(Holder(socket.gethostname(), dead.pid, now, boot=sl._boot_id(), heartbeat=time.time()))
    lock = StudyLock(tmp_path / "c", "s")
    lock.lease(client, exp)
    assert lock.took_over is not None and lock.took_over.pid == dead.pid
    lock.release()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        put(Holder(socket.gethostname(), sleeper.pid, now, boot=sl._boot_id(),
                   started=sl._process_start(sleeper.pid), heartbeat=now - 3600))
        with pytest.raises(SearchlabError, match=f"driver pid {sleeper.pid}"):
            StudyLock(tmp_path / "d", "s").lease(client, exp)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_fresh_lease_is_confirmed_later_and_lost_to_a_later_writer(tmp_path, monkeypatch):
    """confirm_later: the lease is written at once and read back SETTLE_S later, by the caller,
    before anything runs; a driver that wrote after us in between wins, and we refuse."""
    import searchlab.study_lock as sl
    from searchlab.tracking.store import open_store

    monkeypatch.setattr(sl, "SETTLE_S", 0.5)
    client = open_store(f"sqlite:///{tmp_path / 'm.db'}")
    exp = client.create_experiment("leased")
    key = TAG + "s"

    lock = StudyLock(tmp_path / "a", "s")
    t0 = time.monotonic()
    lock.lease(client, exp, confirm_later=True)
    assert time.monotonic() - t0 < 0.5  # no settling wait yet
    assert Holder.parse(client.get_experiment(exp).tags[key]).id == lock.me.id
    assert lock._beat is None  # no heartbeat before the lease is confirmed
    lock.confirm_lease()
    assert time.monotonic() - t0 >= 0.5
    assert lock._beat is not None
    lock.release()
    assert client.get_experiment(exp).tags[key] == ""

    # another driver (elsewhere) read the empty tag as we did and wrote after us: it wins
    lock = StudyLock(tmp_path / "b", "s")
    lock.lease(client, exp, confirm_later=True)
    other = Holder("node-9", 999, time.time(), boot="other-boot", heartbeat=time.time())
    client.set_experiment_tag(exp, key, other.dump())
    with pytest.raises(SearchlabError, match="driver pid 999 on node-9"):
        lock.confirm_lease()
    lock.release()  # leaves the winner's lease alone
    assert Holder.parse(client.get_experiment(exp).tags[key]).pid == 999


RACE = textwrap.dedent("""\
    import sys, time
    from searchlab.tracking.store import open_store
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # start together
    client = open_store(sys.argv[1])
    client.search_experiments()
    print("ok")
    """)


@pytest.mark.slow
def test_a_fresh_store_made_by_three_processes_at_once(tmp_path):
    """MLflow creates and migrates a fresh SQLite store as its client is made: without the
    file lock, processes that do it at once fail with alembic errors."""
    for attempt in range(2):
        uri = f"sqlite:///{tmp_path / f'fresh{attempt}.db'}"
        start = time.time() + 4.0
        procs = [subprocess.Popen([sys.executable, "-c", RACE, uri, str(start)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=_env()) for _ in range(3)]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        assert all(p.returncode == 0 and out.strip().endswith("ok") for p, out in
                   zip(procs, outs)), outs


# ---------------------------------------------------------------------------- drivers
STUDY = """\
name: {name}
workload: {{function: "test_workloads_lib:slow_curve", path: "{tests}", args: {{sleep: {sleep}}}}}
metric: {{name: loss, mode: min}}
space: {{x1: {{uniform: [0, 1]}}}}
search: {{algorithm: random, seed: 3}}
budget: {{trials: {trials}, concurrency: 2, max_epochs: 5}}
"""


def _study(tmp_path: Path, name: str, trials: int = 8, uri: str | None = None,
           sleep: float = 0.6) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(STUDY.format(name=name, tests=REPO / "tests", trials=trials, sleep=sleep)
                 + (f'tracking: {{uri: "{uri}"}}\n' if uri else ""))
    return p


def _driver(study: Path, storage: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "searchlab", "run", str(study), "--storage",
                             str(storage), *extra], cwd=study.parent, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_for_trials(storage: Path, name: str, proc: subprocess.Popen, n: int = 1) -> None:
    deadline = time.time() + 240
    while time.time() < deadline:
        if len(list((storage / name).glob("*/results.jsonl"))) >= n:
            return
        if proc.poll() is not None:
            pytest.fail("the first driver ended early: " + (proc.stdout.read() or "")[-3000:])
        time.sleep(0.5)
    pytest.fail("the first driver never started a trial")


def _one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [x for x in (r.stdout + r.stderr).splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("searchlab: error: "), lines
    return lines[0]


def _assert_one_complete_record(uri: str, name: str, trials: int) -> None:
    client, children, parents = child_runs(uri, name)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED", \
        [p.info.status for p in parents]
    ids = [c.data.tags["searchlab.trial_id"] for c in children]
    assert len(ids) == trials and len(set(ids)) == trials, ids
    assert all(c.info.status == "FINISHED" for c in children)
    for c in children:
        assert [m.step for m in client.get_metric_history(c.info.run_id, "loss")] == \
            [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_second_driver_on_the_same_storage_is_refused_in_one_line(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    env = {**_env(), "MLFLOW_TRACKING_URI": uri}
    study, storage = _study(tmp_path, "twice"), tmp_path / "store"
    first = _driver(study, storage, env)
    try:
        _wait_for_trials(storage, "twice", first)
        second = subprocess.run([sys.executable, "-m", "searchlab", "run", str(study),
                                 "--storage", str(storage)], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        line = _one_line(second)
        assert first.poll() is None, "the first driver ended before the second was refused"
        assert f"study 'twice' is already running (driver pid {first.pid} on " \
               f"{socket.gethostname()}, since " in line
        # --restart must not throw away the running study's results either
        line = _one_line(subprocess.run(
            [sys.executable, "-m", "searchlab", "run", str(study), "--storage", str(storage),
             "--restart"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120))
        assert f"driver pid {first.pid}" in line
        out, _ = first.communicate(timeout=400)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == 0, out[-3000:]
    assert "8 trials (8 completed)" in out
    _assert_one_complete_record(uri, "twice", 8)


@pytest.mark.slow
def test_a_driver_killed_with_sigkill_leaves_a_lock_the_next_run_takes_over(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    env = {**_env(), "MLFLOW_TRACKING_URI": uri, "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    study, storage = _study(tmp_path, "killed"), tmp_path / "store"
    first = _driver(study, storage, env)
    _wait_for_trials(storage, "killed", first, 2)
    time.sleep(1.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    holder = json.loads((storage / ".killed.holder.json").read_text())
    assert holder["pid"] == first.pid
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "searchlab", "run", str(study), "--storage",
                        str(storage)], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [x for x in r.stderr.splitlines() if "left locked" in x]
    assert len(lines) == 1, r.stderr  # said once (file lock and MLflow lease name one driver)
    assert f"driver pid {first.pid} on {socket.gethostname()}" in lines[0]
    assert "(killed?); taking it over" in lines[0]
    assert "(resumed)" in r.stdout and "8 trials (8 completed)" in r.stdout
    print(f"taken over and finished in {time.monotonic() - t0:.1f} s")
    _assert_one_complete_record(uri, "killed", 8)


@pytest.mark.slow
def test_same_study_from_another_machine_is_refused_by_the_mlflow_lease(tmp_path):
    """Another machine: another storage directory, the same MLflow server and experiment."""
    port = free_port()
    server = start_mlflow_server(tmp_path, port)
    uri = f"http://127.0.0.1:{port}"
    try:
        env = _env()
        study = _study(tmp_path, "shared", trials=6, uri=uri, sleep=2.0)  # 30 s: the second
        # driver (a start of Ray, then the lease) is refused well within it
        first = _driver(study, tmp_path / "machine-a", env)
        try:
            _wait_for_trials(tmp_path / "machine-a", "shared", first)
            second = subprocess.run(
                [sys.executable, "-m", "searchlab", "run", str(study), "--storage",
                 str(tmp_path / "machine-b")], cwd=tmp_path, env=env, capture_output=True,
                text=True, timeout=180)
            # the lease is checked as Ray starts, after the line that announces the study
            assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr
            lines = [x for x in second.stderr.splitlines() if x.strip()]
            assert lines[:-1] == ["searchlab: running study 'shared' (search, random, fifo)"]
            line = lines[-1]
            assert line.startswith("searchlab: error: study 'shared' is already running")
            assert first.poll() is None, "the first driver ended before the second was refused"
            assert f"driver pid {first.pid} on {socket.gethostname()}" in line
            assert "MLflow experiment tag searchlab.lock.shared" in line
            out, _ = first.communicate(timeout=400)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
        assert first.returncode == 0, out[-3000:]
        _assert_one_complete_record(uri, "shared", 6)
        from mlflow.tracking import MlflowClient

        exp = MlflowClient(uri).get_experiment_by_name("shared")
        assert exp.tags[TAG + "shared"] == ""  # released at the end
    finally:
        stop_group(server)
