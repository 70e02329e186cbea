"""Servers searchlab starts listen on loopback only, unless the user asks otherwise."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from searchlab_testing import free_port

pytestmark = pytest.mark.slow


def listening(pid: int) -> set[tuple[str, int]]:
    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    found = set()
    for p in procs:
        try:
            for c in p.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    found.add((c.laddr.ip, c.laddr.port))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def test_searchlab_ui_binds_loopback(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "searchlab", "ui", "--port", str(port),
                             "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.time() + 180
        addrs: set[tuple[str, int]] = set()
        while time.time() < deadline and not any(p == port for _, p in addrs):
            time.sleep(1)
            addrs = listening(proc.pid)
        assert ("127.0.0.1", port) in addrs, addrs
        assert all(ip in ("127.0.0.1", "::1") for ip, _ in addrs), f"non-loopback listener: {addrs}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
