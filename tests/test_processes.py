"""Process trees read with psutil, stopped by process id; a tied child ends with its parent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

from searchlab_testing import REPO

from searchlab.processes import alive, process_tree, stop_processes


def _gone(pids: set[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.2)
    return False


def test_a_tree_and_the_processes_naming_a_marker_are_found_and_stopped(tmp_path):
    marker = str(tmp_path / "marker-dir")
    tree = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"])
    # a daemon that left the tree, named by the marker (as Ray's are by their temp directory)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker],
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(process_tree([tree.pid])) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        found = process_tree([tree.pid], marker)
        assert {tree.pid, other.pid} <= found and len(found) >= 4, found
        assert os.getpid() not in process_tree([os.getpid()])
        stop_processes([tree], marker, grace=5)
        assert _gone(found, 10), [p for p in found if alive(p)]
        assert tree.poll() is not None
    finally:
        for p in (tree, other):
            if p.poll() is None:
                p.kill()
        other.wait()


def test_a_tied_child_ends_when_its_parent_is_killed(tmp_path):
    """SIGKILL leaves the parent no chance to clean up: the guard sees its pipe close."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import os, signal, sys, time
        from searchlab.processes import process_tree, spawn_tied

        guard = spawn_tied([sys.executable, "-c", "import time; time.sleep(120)"])
        while len(process_tree([guard.pid])) < 2:
            time.sleep(0.05)
        print(" ".join(map(str, process_tree([guard.pid]))), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == -9, r.stderr
    pids = {int(p) for p in r.stdout.split()}
    assert len(pids) == 2, r.stdout
    try:
        assert _gone(pids, 20), "the tied child outlived its parent"
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, 9)
