"""The Deep GA's evaluation pool on a busy machine: one process against 2 Ray pool workers, with
and without a fixed background load, and from what evaluation cost per individual the pool wins.

The background load is deterministic: ``--background N`` busy Python processes (``while True:
pass``, nice 0, as another user's job) that this script starts and stops by process id. Every
figure is taken with no background and with it, interleaved over ``--reps`` rounds (the median
is reported), so a change in the machine's own load hits both alike; ``os.getloadavg()`` is
printed before and after (the machine may be shared: the lead reruns this on a quiet one).

1. ``ga``: the Deep GA on CartPole-v1 (population 256, linear policy, elite among the top 10 by
   30 more episodes), frames/s over ``--generations`` generations after a warm-up: in this
   process (``SerialPool``), and sharded over a ``RayPool`` of 2 workers.
2. ``cost``: one ``map_batches`` of the GA's batched rollout over 256 individuals, for each of
   ``--costs`` (``env:steps``: the environment and the episode cap): the time per individual in
   this process (the evaluation cost) and the pool's speed-up at that cost, with and without
   the background. CartPole is stepped as one array for the whole batch, so half a batch costs
   well over half (a fixed cost per step); Pendulum-v1 is one Gymnasium environment per row,
   whose cost splits evenly between workers.
3. The other suspects, measured with and without the background: ``driver_cpu`` (the calling
   process's CPU time over wall time while the pool works: a spinning wait would show ~1),
   ``trivial_map_ms`` (one ``map`` of a function that does nothing over 256 items: the per-map
   overhead), ``worker_threads`` (``OMP_NUM_THREADS`` and ``torch.get_num_threads()`` in each
   worker: oversubscribed threads would show > 1).
4. ``--ray-niceness 15 --pool-niceness ray`` reproduces the behaviour before the fix: Ray's
   default worker niceness (15) and pool workers left at it (docs/pool.md, "Under load").

    python benchmarks/deep_ga_pool_load.py [--background 2] [--reps 3] [--generations 3]
        [--costs CartPole-v1:8 Pendulum-v1:200 ...] [--ray-niceness 0|15]
        [--pool-niceness caller|ray]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

POP = 256


def _nice_zero() -> None:
    """Run a background process at nice 0, as another user's job (where permitted)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:
        pass


class Background:
    """``n`` busy processes at nice 0, stopped by process id (also on an error or SIGTERM)."""

    def __init__(self, n: int) -> None:
        self.n, self.procs = n, []

    def __enter__(self) -> Background:
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                       preexec_fn=_nice_zero) for _ in range(self.n)]
        time.sleep(0.5)  # let them reach the run queue
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        self.procs = []


def trivial(cache: dict, x: int) -> int:
    return x


def threads(cache: dict, x: int) -> dict:
    import torch

    return {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "torch": torch.get_num_threads(), "niceness": os.getpriority(os.PRIO_PROCESS, 0)}


def trivial_map_ms(pool: Any, calls: int = 20) -> float:
    pool.map(trivial, list(range(POP)))
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        pool.map(trivial, list(range(POP)))
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def ga_rate(pool: Any, generations: int, cpu: list[float] | None = None) -> float:
    from searchlab.methods.deep_ga.algorithm import DeepGA
    from searchlab.methods.deep_ga.settings import GAConfig

    config = GAConfig(env="CartPole-v1", hidden=(), population=POP, truncation=20, sigma=0.05,
                      elite_candidates=10, elite_episodes=30, generations=generations + 1)
    ga = DeepGA(config, 0, pool)
    ga.step()  # warm-up: caches, imports, the workers' environments
    frames, start, cpu0 = ga.frames, time.perf_counter(), time.process_time()
    while not ga.finished:
        ga.step()
    wall = time.perf_counter() - start
    if cpu is not None:  # this process's CPU time per second of wall time
        cpu.append((time.process_time() - cpu0) / wall)
    return (ga.frames - frames) / wall


def map_time(pool: Any, cost: str, calls: int = 3) -> float:
    """Seconds of one map_batches of the batched rollout over POP individuals on ``cost``
    (``env:steps``, episodes cut at ``steps``; median of ``calls`` calls after a warm-up)."""
    from searchlab.methods.deep_ga.evaluate import Problem, Task, evaluate_batch

    env, _, steps = cost.rpartition(":")
    problem = Problem(env=env, hidden=(16,), max_steps=int(steps))
    rng = np.random.default_rng(int(steps))
    tasks = [Task(problem, (int(rng.integers(2**31)),), (int(rng.integers(2**31)),))
             for _ in range(POP)]
    pool.map_batches(evaluate_batch, tasks)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        pool.map_batches(evaluate_batch, tasks)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--background", type=int, default=2, help="busy processes for the load")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--costs", nargs="*", default=[
        "CartPole-v1:8", "CartPole-v1:64", "CartPole-v1:500", "Pendulum-v1:5",
        "Pendulum-v1:25", "Pendulum-v1:200"], help="env:steps evaluations for the cost sweep")
    ap.add_argument("--ray-niceness", default="0",
                    help="RAY_worker_niceness for the cluster this starts (15: Ray's default)")
    ap.add_argument("--pool-niceness", choices=["caller", "ray"], default="caller",
                    help="pool workers at this process's niceness, or left at Ray's")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the background is stopped
    os.environ["RAY_worker_niceness"] = a.ray_niceness  # read when the cluster starts
    import torch

    torch.set_num_threads(1)
    from searchlab.execution.pool import RayPool
    from searchlab.workloads.api import SerialPool

    out: dict[str, Any] = {"load_before": [round(x, 2) for x in os.getloadavg()],
                           "cores": os.cpu_count(), "background": a.background,
                           "ray_niceness": a.ray_niceness, "pool_niceness": a.pool_niceness,
                           "own_niceness": os.getpriority(os.PRIO_PROCESS, 0)}
    pool = RayPool(a.workers, worker_cpu=1,
                   niceness="caller" if a.pool_niceness == "caller" else None)
    out["worker_niceness"] = pool.niceness
    out["worker_threads"] = pool.map(threads, list(range(a.workers)))
    serial = SerialPool()
    rates: dict[str, list[float]] = {}
    costs: dict[str, list[float]] = {}
    extra: dict[str, list[float]] = {}
    try:
        for rep in range(a.reps):
            for bg in (0, a.background):
                with Background(bg):
                    for name, p in (("serial", serial), ("pool", pool)):
                        cpu = extra.setdefault(f"driver_cpu_{name}_bg{bg}", [])
                        rates.setdefault(f"{name}_bg{bg}", []).append(
                            ga_rate(p, a.generations, cpu))
                        for steps in a.costs:
                            costs.setdefault(f"{name}_bg{bg}_{steps}", []).append(
                                map_time(p, steps))
                    extra.setdefault(f"trivial_map_ms_bg{bg}", []).append(trivial_map_ms(pool))
            print(f"round {rep + 1}/{a.reps}: " + ", ".join(
                f"{k} {v[-1]:,.0f}" for k, v in rates.items()), flush=True)
    finally:
        pool.close()
    med = {k: statistics.median(v) for k, v in rates.items()}
    out.update({f"ga_frames_per_s_{k}": round(v) for k, v in med.items()})
    bg = a.background
    out["serial_loaded_over_quiet"] = med[f"serial_bg{bg}"] / med["serial_bg0"]
    out["pool_loaded_over_quiet"] = med[f"pool_bg{bg}"] / med["pool_bg0"]
    out["pool_over_serial_quiet"] = med["pool_bg0"] / med["serial_bg0"]
    out["pool_over_serial_loaded"] = med[f"pool_bg{bg}"] / med[f"serial_bg{bg}"]
    out.update({k: round(statistics.median(v), 3) for k, v in extra.items()})
    sweep = []
    for steps in a.costs:
        row: dict[str, Any] = {"evaluation": steps}
        for b in (0, bg):
            s = statistics.median(costs[f"serial_bg{b}_{steps}"])
            p = statistics.median(costs[f"pool_bg{b}_{steps}"])
            row[f"us_per_individual_bg{b}"] = round(s / POP * 1e6, 1)
            row[f"pool_speedup_bg{b}"] = round(s / p, 2)
        sweep.append(row)
    out["cost_sweep"] = sweep
    for b in (0, bg):
        wins = [r[f"us_per_individual_bg{b}"] for r in sweep if r[f"pool_speedup_bg{b}"] > 1]
        out[f"pool_wins_from_us_per_individual_bg{b}"] = min(wins) if wins else None
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]

    print(f"load {out['load_before']} -> {out['load_after']} on {out['cores']} cores; "
          f"background {bg} busy processes; Ray worker niceness {a.ray_niceness}, pool workers "
          f"at {out['worker_niceness']} (this process {out['own_niceness']})")
    print(f"{'Deep GA, CartPole, pop 256':32} {'no background':>14} {f'{bg} busy':>14} "
          f"{'loaded/quiet':>13}")
    for name in ("serial", "pool"):
        label = "1 process" if name == "serial" else f"{a.workers} Ray pool workers"
        print(f"{label:32} {med[f'{name}_bg0']:>14,.0f} {med[f'{name}_bg{bg}']:>14,.0f} "
              f"{med[f'{name}_bg{bg}'] / med[f'{name}_bg0']:>13.2f}")
    print(f"driver CPU/wall while the pool works: {out['driver_cpu_pool_bg0']:.2f} (no "
          f"background), {out[f'driver_cpu_pool_bg{bg}']:.2f} ({bg} busy); one trivial map "
          f"over {POP} items: {out['trivial_map_ms_bg0']:.1f} ms, "
          f"{out[f'trivial_map_ms_bg{bg}']:.1f} ms; worker threads {out['worker_threads']}")
    print(f"{'env:episode cap':>18} {'us/individual':>14} {'pool speed-up':>14} "
          f"{'us/ind. loaded':>15} {'speed-up loaded':>16}")
    for r in sweep:
        print(f"{r['evaluation']:>18} {r['us_per_individual_bg0']:>14,.1f} "
              f"{r['pool_speedup_bg0']:>14.2f} {r[f'us_per_individual_bg{bg}']:>15,.1f} "
              f"{r[f'pool_speedup_bg{bg}']:>16.2f}")
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
