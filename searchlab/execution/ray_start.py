"""Start a local Ray cluster sized to the study, or join the one the user names.

Without ``--address`` (and without ``RAY_ADDRESS``) searchlab always starts a cluster of its own,
whatever an earlier ``ray start`` left in Ray's temporary folder. ``--address auto`` or an
address joins a running cluster, and so does ``RAY_ADDRESS``; either way it says which.

Scripts and tests start Ray the same way: :func:`init_local` (a cluster in this process) and
:class:`LocalCluster` (several nodes on this machine, ``ray start`` each, stopped by process id).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from searchlab.errors import SearchlabError

#: ray.init's options for a quiet driver: no dashboard, workers' output not copied to the console
QUIET: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                             logging_level=logging.ERROR, configure_logging=True)


def init_local(num_cpus: float, num_gpus: float = 0, **options: Any) -> None:
    """Start a new Ray cluster in this process, as ``searchlab run`` does: ``address="local"``,
    so that an address an earlier ``ray start`` left in Ray's temporary folder (a killed head
    leaves it) is not joined, which plain ``ray.init(num_cpus=...)`` does and then fails ("When
    connecting to an existing cluster, num_cpus and num_gpus must not be provided")."""
    import ray

    worker_priority_env()  # its workers at this process's niceness, not Ray's 15
    # logical GPUs may be fractional (--gpus 0.5): Ray takes them, though it types an int
    gpus: Any = num_gpus
    ray.init(address="local", num_cpus=math.ceil(num_cpus), num_gpus=gpus,
             **{**QUIET, **options})


def start_ray(study: Any, address: str | None, gpus: float | None, out: Any) -> bool:
    """True when this call started (or connected) Ray and must shut it down."""
    import ray

    quiet_worker_deaths()
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="optuna")
    warnings.filterwarnings("ignore", category=UserWarning, module="ray")
    env_address = os.environ.get("RAY_ADDRESS")
    target = address or env_address
    if target and target != "local":
        source = "--address" if address else "RAY_ADDRESS"
        if target.startswith("ray://"):  # Ray Client: Tune would run elsewhere, not with us
            raise SearchlabError(f"cannot drive a study through Ray Client ({target}, {source}): "
                                 "give the cluster's host:port (ray start --head prints it), "
                                 "or send the study there with searchlab submit")
        problem = unreachable(target)
        if problem:
            raise SearchlabError(f"cannot join the Ray cluster at {target} ({source}): {problem}")
        try:
            ray.init(address=target, **QUIET)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise SearchlabError(f"cannot join the Ray cluster at {target} ({source}): "
                                 f"{str(e).splitlines()[0][:200]}") from None
        out.write(f"searchlab: using the Ray cluster at {target} ({source})\n")
        return True
    detected = gpus if gpus is not None else cuda_devices()
    res = study.resources
    if (res.gpu > 0 or res.worker_gpu > 0) and detected == 0:
        raise SearchlabError("the study asks for GPUs (resources.gpu) but this machine has none; "
                             "set resources.gpu: 0, or pass --gpus N to declare logical GPUs")
    from searchlab.execution.cores import local_cluster

    # room for budget.concurrency trials, or the machine's cores (Study.concurrency_by_cores)
    size = local_cluster(study, detected)
    # address="local": a new cluster, even when an earlier `ray start` left its address behind
    try:
        init_local(size["CPU"], detected)
    except Exception as e:  # noqa: BLE001 - Ray raises a bare Exception when its node times out
        raise SearchlabError(f"could not start a local Ray cluster: "
                             f"{(str(e).splitlines() or [type(e).__name__])[0][:200]}") from None
    return True


def shutdown() -> None:
    """``ray.shutdown()``, a second sooner for a cluster this process started.

    Ray stops its processes one by one, giving each a second after SIGTERM; its autoscaler
    monitor, stopped after the GCS it reports to, never ends in that second, so every study
    ended a second late (``ray.shutdown`` took 1.3 s, 1.0 s of it waiting for the monitor). The
    monitor scales nothing on a cluster of fixed size, and the whole cluster stops next: it is
    killed first (SIGKILL; a SIGTERM while the GCS is up makes the raylet print the monitor's
    traceback). A driver connected to someone else's cluster owns no processes: plain
    ``ray.shutdown()``.

    RAY PRIVATE API: ``ray._private.worker._global_node.all_processes["monitor"]``, pinned by
    ``tests/test_ray_start.py::test_shutdown_kills_the_monitor_first_and_stops_every_ray_process``;
    where a Ray release moves it, nothing is killed here and Ray stops as before."""
    import ray

    try:
        node = getattr(ray._private.worker, "_global_node", None)
        infos = node.all_processes.get("monitor", []) if node is not None and node.head else []
        for info in infos:
            if info.process.poll() is None:
                info.process.kill()
                info.process.wait(timeout=5)
    except Exception:  # noqa: BLE001 - internals moved, or the process is gone: Ray stops it
        pass
    ray.shutdown()


def worker_priority_env() -> None:
    """Have the Ray cluster this process is about to start run its workers (trials, pool
    workers) at this process's niceness. Ray's default ``worker_niceness`` of 15 gives each
    worker about 1/28 of the CPU share of a nice-0 process, so on a machine busy with other jobs
    trials and pools all but stopped (docs/pool.md, "Under load"). Read by Ray when the
    cluster starts; a value the user set is kept."""
    os.environ.setdefault("RAY_worker_niceness", "0")


#: what the raylet pushes to the driver when a trial's process dies: the trial's error says it
#: too, and the progress display gives it one line (see searchlab.status.trial_error)
_DEATHS = ("A worker died or was killed while executing a task",
           "killed due to the node running low on memory", "(raylet) OOM", "OOM killer")


def quiet_worker_deaths() -> None:
    """Keep the raylet's reports of dead workers off the console. Ray's driver prints what the
    raylet pushes ("(raylet) A worker died or was killed ...", the memory monitor's report)
    straight to stdout, whatever ``log_to_driver`` says; a trial whose process died gets one
    line from the progress display instead, and its full error (Ray's report included) stays in
    the trial's error.txt. Other raylet messages still print. Idempotent."""
    try:
        import ray._private.worker as worker
    except ImportError:
        return
    original = worker.print_to_stdstream
    if getattr(original, "searchlab_quiet", False):
        return

    def print_to_stdstream(data: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if data.get("pid") == "raylet":
            lines = [line for line in data.get("lines", [])
                     if not any(d in str(line) for d in _DEATHS)]
            if not lines:
                return None
            data = {**data, "lines": lines}
        return original(data, *args, **kwargs)

    print_to_stdstream.searchlab_quiet = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = print_to_stdstream


def unreachable(address: str, timeout: float = 5.0) -> str | None:
    """Why ``host:port`` (or ``ray://host:port``) cannot be reached, or None. Ray itself retries
    a dead address for minutes; a refused connection is known at once. ``auto`` is left to Ray."""
    import socket
    from urllib.parse import urlsplit

    if address == "auto":
        return None
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return "not an address of the form host:port"
    if not host or not port:
        return None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return e.strerror or type(e).__name__


def cuda_devices() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _says_started(log: Path) -> bool:
    """Whether a ``ray start`` log says its node runs."""
    return "Ray runtime started" in log.read_text(errors="replace")


def _command(p: subprocess.Popen[bytes]) -> str:
    """The start of a process's command line, for an error message."""
    args = p.args
    return " ".join(map(str, args[:3])) if isinstance(args, (list, tuple)) else str(args)


class LocalCluster:
    """A Ray cluster of several nodes on 127.0.0.1, for tests and benchmarks.

    Node i is ``ray start --block`` with ``cpus[i]`` CPUs, the custom resources ``resources[i]``
    and a temp directory of its own (as on a machine of its own: two nodes sharing one would
    unpack, and delete, each other's packages), on free ports; node 0 is the head, with Ray's
    dashboard (the Jobs API, :attr:`jobs_api`) when ``dashboard`` is true. :meth:`spawn` starts
    more processes that :meth:`stop` ends with the nodes (an MLflow server, say). :meth:`stop`
    ends exactly the processes started here, their descendants and every process naming the
    temp directory (Ray's daemons), never ``ray stop`` (which stops every Ray process on the
    machine, other users' included). Logs are in ``tmp/<name>.log``."""

    def __init__(self, cpus: list[int], *, resources: list[dict[str, float]] | None = None,
                 dashboard: bool = False, env: dict[str, str] | None = None,
                 prefix: str = "slc", timeout: float = 180) -> None:
        # short: Ray's socket paths live under it and must stay under 108 characters
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        self.procs: list[subprocess.Popen[bytes]] = []
        base = os.environ if env is None else env
        self.env = {k: v for k, v in base.items() if not k.startswith("RAY_ADDRESS")}
        # Ray's default token authentication, stated so that the other nodes and drivers join
        # with the token (~/.ray/auth_token, made by the head when missing)
        self.env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token")
        self.env.setdefault("RAY_worker_niceness", "0")  # as init_local (worker_priority_env)
        self.gcs_port = free_port()
        self.address = f"127.0.0.1:{self.gcs_port}"
        self.jobs_api: str | None = None
        resources = resources or [{} for _ in cpus]
        try:
            head = ["--head", "--port", str(self.gcs_port),
                    "--ray-client-server-port", str(free_port())]
            if dashboard:
                port = free_port()
                head += ["--include-dashboard=true", "--dashboard-host", "127.0.0.1",
                         "--dashboard-port", str(port)]
                self.jobs_api = f"http://127.0.0.1:{port}"
            else:
                head.append("--include-dashboard=false")
            # one node at a time, each up before the next starts: on two busy cores a node that
            # joins while another still starts can miss Ray's fixed 30 s for its raylet to
            # register, and `ray start` then exits; such a node is started again (twice at most)
            self._started("head", cpus[0], resources[0], head, timeout)
            for i in range(1, len(cpus)):
                self._started(f"node{i}", cpus[i], resources[i], ["--address", self.address],
                              timeout)
        except BaseException:
            self.stop()
            raise

    def _started(self, name: str, cpus: int, resources: dict[str, float], args: list[str],
                 timeout: float, attempts: int = 3) -> None:
        """Start node ``name`` and wait until ``ray start`` says it runs; a node whose start
        fails (the process exits first) is started again, ``attempts`` times in all."""
        for attempt in range(1, attempts + 1):
            log_name = name if attempt == 1 else f"{name}-try{attempt}"
            p = self._node(log_name, cpus, resources, args)
            log = self.tmp / f"{log_name}.log"
            try:
                self.wait(f"Ray node {name}", functools.partial(_says_started, log), timeout)
                return
            except RuntimeError:  # a process exited: tried again when it was this node alone
                if p.poll() is None or any(q.poll() is not None for q in self.procs if q is not p):
                    raise
            # exited: not one of the cluster's processes any more, and what it had started
            # (a raylet that came up late would join as a node of its own) goes with it
            from searchlab.processes import stop_processes

            self.procs.remove(p)
            stop_processes([p], str(self.tmp / log_name), grace=5)
            if attempt == attempts:
                raise RuntimeError(f"Ray node {name}: {_command(p)} exited with {p.returncode} "
                                   f"{attempts} times; logs in {self.tmp}\n{self.logs()}")

    def _node(self, name: str, cpus: int, resources: dict[str, float],
              args: list[str]) -> subprocess.Popen[bytes]:
        cmd = [shutil.which("ray") or "ray", "start", "--block", "--node-ip-address", "127.0.0.1",
               "--num-cpus", str(cpus), "--num-gpus", "0", "--disable-usage-stats",
               "--min-worker-port", "0", "--max-worker-port", "0",
               "--temp-dir", str(self.tmp / name), *args]
        if resources:
            cmd += ["--resources", json.dumps(resources)]
        for flag in ("--node-manager-port", "--object-manager-port",
                     "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                     "--runtime-env-agent-port", "--metrics-export-port"):
            cmd += [flag, str(free_port())]
        return self.spawn(name, cmd)

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in a session of its own, with the cluster's environment, logging to
        ``tmp/<name>.log``; :meth:`stop` ends it."""
        with open(self.tmp / f"{name}.log", "w") as log:
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                 start_new_session=True, cwd=self.tmp)
        self.procs.append(p)
        return p

    def wait(self, what: str, check: Callable[[], Any], timeout: float) -> None:
        """Until ``check()`` is true (its OSError and ValueError count as not yet); an error
        when a process started here exits first, or after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{what}: {_command(p)} exited with "
                                       f"{p.returncode}; logs in {self.tmp}\n{self.logs()}")
            try:
                if check():
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{what} not ready after {timeout:.0f} s; logs in {self.tmp}\n"
                           f"{self.logs()}")

    def logs(self, tail: int = 3000) -> str:
        """The end of each process's log."""
        return "\n".join(f"---- {log.name}\n{log.read_text(errors='replace')[-tail:]}"
                         for log in sorted(self.tmp.glob("*.log")))

    def stop(self) -> None:
        """SIGTERM, then SIGKILL, to what was started here (see the class); then the temp
        directory. Stopping twice is harmless."""
        from searchlab.processes import stop_processes

        stop_processes(self.procs, str(self.tmp))
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
