"""Child process groups that searchlab starts (the MLflow UI and server) and must stop."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """End a child's whole process group (a server and its workers): SIGTERM, then SIGKILL."""
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
    never this process. Linux (``/proc``); empty elsewhere."""
    children: dict[int, list[int]] = {}
    marked: set[int] = set()
    try:
        entries = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return set()
    for d in entries:
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if marker:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        marked.add(int(d))
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += children.get(pid, [])
    return (seen | marked) - {os.getpid()}


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop_processes(procs: list[subprocess.Popen], marker: str | None = None,
                   grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, to ``procs``, all their descendants and every process naming
    ``marker`` (see :func:`process_tree`), waiting up to ``grace`` seconds after each signal."""
    import time

    pids = process_tree([p.pid for p in procs], marker)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            for p in procs:
                p.poll()
            time.sleep(0.2)
        pids = {pid for pid in pids if alive(pid)}
        if not pids:
            break
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
