"""Start a local Ray cluster sized to the study, or join the one the user names.

Without ``--address`` (and without ``RAY_ADDRESS``) searchlab always starts a cluster of its own,
whatever an earlier ``ray start`` left in Ray's temporary folder. ``--address auto`` or an
address joins a running cluster, and so does ``RAY_ADDRESS``; either way it says which.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Any

from searchlab.errors import SearchlabError


def start_ray(study: Any, address: str | None, gpus: float | None, out: Any) -> bool:
    """True when this call started (or connected) Ray and must shut it down."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="optuna")
    warnings.filterwarnings("ignore", category=UserWarning, module="ray")
    common: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                  logging_level=logging.ERROR, configure_logging=True)
    env_address = os.environ.get("RAY_ADDRESS")
    target = address or env_address
    if target and target != "local":
        source = "--address" if address else "RAY_ADDRESS"
        problem = unreachable(target)
        if problem:
            raise SearchlabError(f"cannot join the Ray cluster at {target} ({source}): {problem}")
        try:
            ray.init(address=target, **common)
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
    per_trial = res.cpu + res.workers * res.worker_cpu
    num_cpus = max(per_trial * study.budget.concurrency, per_trial)
    per_trial_gpu = res.gpu + res.workers * res.worker_gpu
    if per_trial_gpu > 0:  # concurrency is then bounded by GPUs; keep CPUs from binding first
        num_cpus = max(num_cpus, per_trial * math.floor(detected / per_trial_gpu))
    worker_priority_env()
    # address="local": a new cluster, even when an earlier `ray start` left its address behind
    ray.init(address="local", num_cpus=math.ceil(num_cpus), num_gpus=detected, **common)
    return True


def worker_priority_env() -> None:
    """Have the Ray cluster this process is about to start run its workers (trials, pool
    workers) at this process's niceness. Ray's default ``worker_niceness`` of 15 gives each
    worker about 1/28 of the CPU share of a nice-0 process, so on a machine busy with other jobs
    trials and pools all but stopped (docs/pool.md, "Under load"). Read by Ray when the
    cluster starts; a value the user set is kept."""
    os.environ.setdefault("RAY_worker_niceness", "0")


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
