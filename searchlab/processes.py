"""Child processes that searchlab starts (the MLflow UI and server, local Ray nodes) and must stop.

Process trees are read with psutil (every platform). :func:`spawn_tied` starts a command that
does not outlive this process, even when this process is killed with SIGKILL: a small guard
(this module, run as ``python -m searchlab.processes CMD...``) leads the command's process group
and watches its standard input, a pipe whose only writer is this process; at end of file (this
process is gone, however it ended) it stops the command and everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import psutil


def spawn_tied(cmd: list[str], **popen: Any) -> subprocess.Popen:
    """Start ``cmd`` in a process group of its own (:func:`stop_group` stops it all) that ends
    when this process ends, however it ends. ``popen`` goes to :class:`subprocess.Popen`
    (``env``, ``stdout``, ...; not ``stdin``, which the guard uses). The returned process is
    the guard: its exit status is the command's."""
    return subprocess.Popen([sys.executable, "-m", "searchlab.processes", *cmd],
                            stdin=subprocess.PIPE, start_new_session=True, **popen)


def _guard(cmd: list[str]) -> int:
    """Run ``cmd``; stop it and its descendants when standard input reaches end of file."""
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    orphaned = threading.Event()

    def watch() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        orphaned.set()

    threading.Thread(target=watch, daemon=True).start()
    while True:
        try:
            return child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            if orphaned.is_set():
                stop_processes([child])
                return 1


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """End a child's whole process group (a server and its workers): SIGTERM, then SIGKILL.
    Where there are no process groups (Windows), its process tree."""
    if not hasattr(os, "killpg"):
        stop_processes([proc], grace=grace)
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # workers still shutting down, or a stuck server
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def process_tree(roots: list[int], marker: str | None = None) -> set[int]:
    """The processes ``roots`` and all their descendants, plus every process whose command line
    names ``marker`` (daemons that left the tree, e.g. Ray's, named by their own temp directory);
    never this process."""
    found: set[int] = set()
    for pid in roots:
        try:
            root = psutil.Process(pid)
            found.add(pid)
            found.update(c.pid for c in root.children(recursive=True))
        except psutil.Error:
            continue
    if marker:
        for p in psutil.process_iter(["cmdline"]):
            try:
                if marker in " ".join(p.info["cmdline"] or ()):
                    found.add(p.pid)
            except (psutil.Error, TypeError):
                continue
    return found - {os.getpid()}


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_processes(procs: list[subprocess.Popen], marker: str | None = None,
                   grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, to ``procs``, all their descendants and every process naming
    ``marker`` (see :func:`process_tree`), waiting up to ``grace`` seconds after each signal."""
    pids = process_tree([p.pid for p in procs], marker)
    for kill in (False, True):
        for pid in pids:
            try:
                p = psutil.Process(pid)
                p.kill() if kill else p.terminate()
            except psutil.Error:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            for p in procs:
                p.poll()  # reap our own children, which would stay zombies
            time.sleep(0.2)
        pids = {pid for pid in pids if alive(pid)}
        if not pids:
            break
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


if __name__ == "__main__":  # the guard of spawn_tied
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the parent decides
    sys.exit(_guard(sys.argv[1:]))
