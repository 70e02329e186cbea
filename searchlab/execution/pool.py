"""The evaluation pool on Ray: one actor per worker, each with a cache that lives as long as it.

A workload sees only the :class:`~searchlab.workloads.api.Pool` protocol (``ctx.pool``); this
module is the Ray side of it. :class:`RayPool` starts ``workers`` actors and hands each one
contiguous slice of the items per call (one Ray call per worker, not one per item), so the cost of
a ``map`` is a few round trips whatever the number of items. Each actor keeps a ``cache`` dict for
its lifetime, so a network or a data set is built once per worker, and puts three keys in it:

- ``cache["worker_index"]``: 0 .. workers-1;
- ``cache["node_id"]``: the Ray node the actor runs on;
- ``cache["device"]``: ``"cuda"`` only when Ray gave the actor a GPU and torch sees CUDA.

Workers run at the CPU priority (niceness) of the process that made the pool. Ray starts its
worker processes at nice 15 (its ``worker_niceness``), so on a machine busy with other jobs at
nice 0 each worker got about 1/28 of a core's share and a pool of 2 ran 10-60 times slower than
the same work in the calling process (docs/pool.md, "Under load"). Each worker sets every thread
of its process to the caller's niceness (raising a priority needs root or ``RLIMIT_NICE``; where
that is refused the worker keeps Ray's and :attr:`RayPool.niceness` says so), and clusters that
searchlab starts run every Ray worker at nice 0 (:func:`~.ray_start.worker_priority_env`).

Inside a Ray Tune trial that holds a placement group (a study's ``resources.workers > 0``), the
actors take bundles 1..N of the trial's group (bundle 0 is the trial's own process), each asking
for exactly its bundle's CPUs and GPUs, so the pool uses what Tune reserved for the trial and
nothing else. Outside a trial (benchmarks, notebooks) they are plain actors on the current Ray
cluster, which is started when there is none.

A failure in a worker raises :class:`PoolError` in the caller, with one line naming the worker,
its node, the item and the original exception (the worker's traceback is kept in
``PoolError.remote_traceback``).
"""

from __future__ import annotations

import math
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import ray
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from searchlab.methods.base import TrialResources
from searchlab.workloads.api import Pool, SerialPool, split

T = TypeVar("T")
R = TypeVar("R")


class PoolError(RuntimeError):
    """A pool worker failed: its function raised, or the worker process died."""

    def __init__(self, message: str, *, worker: int | None = None, error_type: str | None = None,
                 remote_traceback: str | None = None) -> None:
        super().__init__(message)
        self.worker = worker
        self.error_type = error_type
        self.remote_traceback = remote_traceback


@dataclass(frozen=True)
class _Failure:
    """What a worker sends back instead of results when the function raised."""

    error_type: str
    message: str
    where: str
    what: str
    traceback: str


def _failure(error: BaseException, what: str) -> _Failure:
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno} in {frames[-1].name}" \
        if frames else "?"
    return _Failure(type(error).__name__, str(error), where, what,
                    "".join(traceback.format_exception(type(error), error, error.__traceback__)))


def _device(gpu_ids: list[str]) -> str:
    """"cuda" when Ray gave this process a GPU and torch sees CUDA; else "cpu"."""
    if not gpu_ids:
        return "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _renice(target: int | None) -> int:
    """Set every thread of this process to niceness ``target`` (Linux keeps one per thread;
    threads started later inherit it) where allowed; returns the niceness now in effect."""
    if target is not None and hasattr(os, "setpriority"):
        try:
            tids = [int(t) for t in os.listdir("/proc/self/task")]
        except OSError:
            tids = [0]
        for tid in tids:
            try:
                if os.getpriority(os.PRIO_PROCESS, tid) != target:
                    os.setpriority(os.PRIO_PROCESS, tid, target)
            except OSError:  # not permitted to raise the priority, or the thread has ended
                pass
    return os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else 0


def _niceness() -> int | None:
    return os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else None


class _Worker:
    """One pool worker (a Ray actor): runs slices of a map with its private cache."""

    def __init__(self, index: int, niceness: int | None = None) -> None:
        self.niceness = _renice(niceness)
        gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        # Ray sets the variable only for actors that hold GPUs; one without sees none at all
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
        self.cache: dict[str, Any] = {
            "worker_index": index,
            "node_id": ray.get_runtime_context().get_node_id(),
            "device": _device(gpu_ids),
        }

    def info(self) -> dict[str, Any]:
        return {"worker_index": self.cache["worker_index"], "node_id": self.cache["node_id"],
                "device": self.cache["device"], "niceness": self.niceness}

    def run(self, fn: Callable[..., Any], items: list[Any], batched: bool,
            offset: int) -> list[Any] | _Failure:
        if batched:
            try:
                return list(fn(self.cache, items))
            except Exception as e:  # noqa: BLE001 - sent back to the caller, see PoolError
                return _failure(e, f"its batch (items {offset}..{offset + len(items) - 1})")
        out = []
        for k, item in enumerate(items):
            try:
                out.append(fn(self.cache, item))
            except Exception as e:  # noqa: BLE001 - sent back to the caller, see PoolError
                return _failure(e, f"item {offset + k}")
        return out


_RemoteWorker: Any = ray.remote(max_restarts=0)(_Worker)  # an actor class (Ray types it loosely)


class RayPool:
    """``workers`` Ray actors that evaluate slices of a map in parallel (see the module docstring).

    ``worker_cpu`` and ``worker_gpu`` are what each actor asks for outside a trial; inside a
    trial's placement group each actor asks for its own bundle's resources instead.
    ``start_timeout`` bounds the wait for the actors to start (a cluster without room for them).
    ``niceness`` is the CPU priority the workers run at: ``"caller"`` (this process's, the
    default), a number, or None for whatever Ray gave them (benchmarks/deep_ga_pool_load.py
    uses None to show the old behaviour).
    """

    def __init__(self, workers: int, worker_cpu: float = 1.0, worker_gpu: float = 0.0, *,
                 start_timeout: float = 120.0, niceness: int | str | None = "caller") -> None:
        if workers < 1:
            raise ValueError(f"a RayPool needs at least one worker (got {workers}); "
                             "use SerialPool for none")
        group = ray.util.get_current_placement_group() if ray.is_initialized() else None
        if group is not None:
            options = _bundle_options(group, workers)
        else:
            _ensure_ray(workers, worker_cpu, worker_gpu)
            options = [{"num_cpus": worker_cpu, "num_gpus": worker_gpu}] * workers
        # the workers run at this process's priority (module docstring)
        nice = _niceness() if niceness == "caller" else niceness
        self._actors: list[Any] = [_RemoteWorker.options(**opts).remote(i, nice)
                                   for i, opts in enumerate(options)]
        try:
            infos = ray.get([a.info.remote() for a in self._actors], timeout=start_timeout)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise PoolError(f"{workers} pool workers did not start within {start_timeout:.0f} s: "
                            "the Ray cluster has no room for them") from None
        except ray.exceptions.RayError as e:
            self.close()
            raise PoolError(f"a pool worker failed to start: {_ray_error_line(e)}") from None
        self.node_ids: list[str] = [i["node_id"] for i in infos]
        """The Ray node of each worker, in worker order."""
        self.devices: list[str] = [i["device"] for i in infos]
        """Each worker's device ("cuda" or "cpu"), in worker order."""
        self.niceness: list[int] = [i["niceness"] for i in infos]
        """Each worker's niceness, in worker order: the caller's, unless raising the priority
        from Ray's nice 15 was not permitted."""
        self.placement_group = group
        """The trial's placement group the workers live in, or None (plain actors)."""

    @property
    def size(self) -> int:
        return len(self._actors)

    def map(self, fn: Callable[[dict[str, Any], T], R], items: Sequence[T]) -> list[R]:
        """``[fn(cache, item) for item in items]``, each worker taking one contiguous slice."""
        return self._run(fn, items, batched=False)

    def map_batches(self, fn: Callable[[dict[str, Any], list[T]], list[R]],
                    items: Sequence[T]) -> list[R]:
        """``fn(cache, slice)`` on each worker's contiguous slice; the lists concatenated."""
        return self._run(fn, items, batched=True)

    def _run(self, fn: Callable[..., Any], items: Sequence[Any], batched: bool) -> list[Any]:
        if not self._actors:
            raise PoolError("the pool is closed")
        items = list(items)
        if not items:
            return []
        refs, offset = [], 0
        for actor, part in zip(self._actors, split(items, self.size)):
            refs.append(actor.run.remote(fn, part, batched, offset))
            offset += len(part)
        # wait for every worker before raising, so that no call of this map is left running
        answers: list[Any] = []
        for ref in refs:
            try:
                answers.append(ray.get(ref))
            except ray.exceptions.RayError as e:
                answers.append(e)
        out: list[Any] = []
        for i, answer in enumerate(answers):
            if isinstance(answer, _Failure):
                raise PoolError(f"{self._name(i)} failed on {answer.what}: {answer.error_type}: "
                                f"{answer.message} (at {answer.where})", worker=i,
                                error_type=answer.error_type, remote_traceback=answer.traceback)
            if isinstance(answer, ray.exceptions.RayError):
                raise PoolError(f"{self._name(i)} failed: {_ray_error_line(answer)}", worker=i,
                                error_type=type(answer).__name__) from None
            out.extend(answer)
        return out

    def _name(self, i: int) -> str:
        return f"pool worker {i} of {self.size} (node {self.node_ids[i][:8]})"

    def close(self) -> None:
        """Kill the workers (their caches go with them). Closing twice is harmless."""
        actors, self._actors = self._actors, []
        for actor in actors:
            ray.kill(actor, no_restart=True)

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bundle_options(group: Any, workers: int) -> list[dict[str, Any]]:
    """Actor options placing worker i in bundle i + 1 of the trial's group, with its resources."""
    bundles = group.bundle_specs
    if len(bundles) < workers + 1:
        raise ValueError(f"the trial's placement group has {len(bundles)} bundles; "
                         f"{workers} pool workers need {workers + 1} (the trial's own first; "
                         "a study asks for workers with resources.workers)")
    return [{"num_cpus": bundles[i].get("CPU", 0), "num_gpus": bundles[i].get("GPU", 0),
             "scheduling_strategy": PlacementGroupSchedulingStrategy(
                 group, placement_group_bundle_index=i,
                 placement_group_capture_child_tasks=False)}
            for i in range(1, workers + 1)]


def _ensure_ray(workers: int, cpu: float, gpu: float) -> None:
    """Start Ray when there is none, as ``searchlab run`` does (``ray_start``): the cluster
    ``RAY_ADDRESS`` names, else a new local one of the machine's cores (``init_local``, which an
    address file left by a killed ``ray start`` does not divert); refuse a pool the cluster
    cannot hold."""
    if not ray.is_initialized():
        from searchlab.execution.cores import machine_cores
        from searchlab.execution.ray_start import QUIET, cuda_devices, init_local

        address = os.environ.get("RAY_ADDRESS")
        if address and address != "local":
            ray.init(address=address, **{**QUIET, "log_to_driver": True})
        else:
            init_local(max(machine_cores(), math.ceil(workers * cpu)), cuda_devices(),
                       log_to_driver=True)
    total = ray.cluster_resources()
    for name, each in (("CPU", cpu), ("GPU", gpu)):
        if workers * each > total.get(name, 0) + 1e-9:
            raise ValueError(f"{workers} pool workers with {each:g} {name} each need "
                             f"{workers * each:g} {name}s; the Ray cluster has "
                             f"{total.get(name, 0):g}")


def _ray_error_line(error: ray.exceptions.RayError) -> str:
    """One line for a Ray error: the original exception when Ray wraps one."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def make_pool(resources: TrialResources | None, *, device: str = "cpu") -> Pool:
    """The pool for a trial: Ray workers when ``resources.workers > 0``, else the in-process
    pool (whose cache gets the same keys, with the trial's ``device``)."""
    if resources is not None and resources.workers > 0:
        return RayPool(resources.workers, resources.worker_cpu, resources.worker_gpu)
    pool = SerialPool()
    node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    pool.cache.update(worker_index=0, node_id=node, device=device)
    return pool


def close_pool(pool: Pool) -> None:
    """Release a pool's workers (nothing to do for the in-process pool)."""
    close = getattr(pool, "close", None)
    if close is not None:
        close()
