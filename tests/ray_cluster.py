"""A real two-node Ray cluster on this machine, for the tests that need one.

A Ray head (``ray start --head``) and a second node (``ray start --address``), on loopback ports
of their own and with Ray temp directories of their own, so that other Ray clusters on the
machine are left alone. Everything started is stopped by process id (never ``ray stop``, which
stops every Ray process of the machine).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from argparse import Namespace
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from searchlab_testing import free_port

from searchlab.processes import stop_processes


def ray_token() -> dict[str, str]:
    """Ray (>= 2.5x) starts clusters with token authentication; its REST API wants the token."""
    token = os.environ.get("RAY_AUTH_TOKEN")
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if not token and path.exists():
        token = path.read_text().strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def get_json(url: str, timeout: float = 5) -> dict:
    req = urllib.request.Request(url, headers=ray_token())
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"{}")


def wait_for(what: str, check, timeout: float, procs: list) -> None:
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


@contextmanager
def two_node_cluster(cpus: int = 2, before: list | None = None) -> Iterator[Namespace]:
    """Yield the cluster: ``jobs_api`` (the head's Ray Jobs API), ``nodes`` (node ids),
    ``live_nodes()``, ``worker`` (the second node's process), ``tmp`` (a short directory of its
    own), ``start(name, cmd, env=None)`` to start more processes that are stopped with it, and
    ``env`` (what they get). ``before(ns)`` callables run before Ray starts (an MLflow server)."""
    # short: Ray's socket paths live under it and must stay under 108 characters
    tmp = Path(tempfile.mkdtemp(prefix="slc", dir="/tmp"))
    marker = str(tmp)
    procs: list[subprocess.Popen] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "MLFLOW_"))}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    # Ray's default token authentication, stated so that the second node joins with the token
    # (~/.ray/auth_token, made by the head if missing); `searchlab` finds the token by itself
    env["RAY_AUTH_MODE"] = "token"

    def start(name: str, cmd: list[str], extra: dict | None = None) -> subprocess.Popen:
        log = open(tmp / f"{name}.log", "w")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**env, **(extra or {})},
                             start_new_session=True, cwd=tmp)
        procs.append(p)
        return p

    def node_ports() -> list[str]:
        return ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
                "--dashboard-agent-listen-port", str(free_port()),
                "--dashboard-agent-grpc-port", str(free_port()),
                "--runtime-env-agent-port", str(free_port()),
                "--metrics-export-port", str(free_port()),
                "--min-worker-port", "0", "--max-worker-port", "0"]

    ray = shutil.which("ray") or "ray"
    gcs, dash = free_port(), free_port()
    ns = Namespace(tmp=tmp, start=start, env=env)
    try:
        for fn in before or []:
            fn(ns)
        head = start("head", [ray, "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
                              "--port", str(gcs), "--num-cpus", str(cpus), "--num-gpus", "0",
                              "--include-dashboard=true", "--dashboard-host", "127.0.0.1",
                              "--dashboard-port", str(dash),
                              "--ray-client-server-port", str(free_port()),
                              "--temp-dir", str(tmp / "ray"), "--disable-usage-stats",
                              *node_ports()])
        jobs_api = f"http://127.0.0.1:{dash}"
        wait_for("Ray head", lambda: get_json(f"{jobs_api}/api/version").get("ray_version"), 180,
                 [head])
        worker = start("worker", [ray, "start", "--block", "--address", f"127.0.0.1:{gcs}",
                                  "--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus),
                                  "--num-gpus", "0", "--disable-usage-stats", *node_ports(),
                                  # a temp dir of its own, as on a machine of its own: two nodes
                                  # sharing one would unpack (and delete) each other's packages
                                  "--temp-dir", str(tmp / "ray2")])

        def nodes() -> list[str]:
            data = get_json(f"{jobs_api}/api/v0/nodes?limit=10")["data"]["result"]["result"]
            return [n["node_id"] for n in data if n["state"] == "ALIVE"]

        wait_for("second Ray node", lambda: len(nodes()) == 2, 180, [head, worker])
        ns.jobs_api, ns.gcs, ns.worker, ns.live_nodes = jobs_api, gcs, worker, nodes
        ns.nodes = nodes()
    except Exception:
        for log in sorted(tmp.glob("*.log")):
            print(f"---- {log.name}\n" + log.read_text()[-3000:], file=sys.stderr)
        stop_processes(procs, marker)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        yield ns
    finally:
        stop_processes(procs, marker)
        for p in procs:
            assert p.poll() is not None, f"{p.args[:3]} still running"
        shutil.rmtree(tmp, ignore_errors=True)
