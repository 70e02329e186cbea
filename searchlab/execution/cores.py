"""How many trials run at once: ``budget.concurrency`` as written, or, where a study leaves it
out and its method's trials are independent (``Study.concurrency_by_cores``), as many as the Ray
cluster has room for. Imports nothing heavy (``searchlab validate`` reads it)."""

from __future__ import annotations

import math
import os
from typing import Any


def machine_cores() -> int:
    """The CPU cores this process may use (its affinity where the system says; else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def local_cluster(study: Any, gpus: float | None = None) -> dict[str, float]:
    """The resources of the local cluster ``searchlab run`` starts for ``study`` (``gpus``:
    the logical GPUs asked for with ``--gpus``; else those detected): room for
    ``budget.concurrency`` trials, or every core of the machine for a study run by cores."""
    from searchlab.execution.ray_start import cuda_devices

    detected = gpus if gpus is not None else cuda_devices()
    r = study.resources
    per_trial = r.cpu + r.workers * r.worker_cpu
    per_trial_gpu = r.gpu + r.workers * r.worker_gpu
    if study.concurrency_by_cores:
        cpus = max(float(machine_cores()), per_trial)
    else:
        cpus = max(per_trial * study.budget.concurrency, per_trial)
        if per_trial_gpu > 0:  # concurrency is then bounded by GPUs; keep CPUs from binding first
            cpus = max(cpus, per_trial * math.floor(detected / per_trial_gpu))
    return {"CPU": cpus, "GPU": float(detected)}


def trials_at_once(study: Any, cluster: dict[str, float]) -> int:
    """Trials at once for ``study`` on a cluster of ``cluster`` resources (``{"CPU": n,
    "GPU": m}``, as ``ray.cluster_resources()`` gives them)."""
    if not study.concurrency_by_cores:
        return int(study.budget.concurrency)
    r = study.resources
    room = math.floor(cluster.get("CPU", 1) / (r.cpu + r.workers * r.worker_cpu) + 1e-9)
    gpu = r.gpu + r.workers * r.worker_gpu
    if gpu > 0:
        room = min(room, math.floor(cluster.get("GPU", 0) / gpu + 1e-9))
    return max(1, int(room))
