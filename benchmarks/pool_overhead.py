"""What one ``ctx.pool.map`` call costs: a trivial function over 256 items.

Compares the in-process pool (``SerialPool``) with ``RayPool`` of 1 and 2 workers on a local Ray
cluster, so the figure is pure overhead (the function does no work): a pool pays off when one
``map`` call's work is well above this. Prints a table, then one JSON line with the median time
per call in milliseconds.

    python benchmarks/pool_overhead.py [--items 256] [--calls 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import ray

from searchlab.execution.pool import RayPool
from searchlab.execution.ray_start import init_local
from searchlab.workloads.api import SerialPool


def trivial(cache, x):
    return x + 1


def per_call(pool, items: list[int], calls: int) -> list[float]:
    pool.map(trivial, items)  # warm-up: the function reaches every worker once
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        pool.map(trivial, items)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    items = list(range(args.items))

    init_local(2)
    rows = {"serial": per_call(SerialPool(), items, args.calls)}
    for workers in (1, 2):
        with RayPool(workers=workers, worker_cpu=1) as pool:
            rows[f"ray_{workers}"] = per_call(pool, items, args.calls)
    ray.shutdown()

    print(f"{'pool':<8} {'median ms':>10} {'p90 ms':>10} {'us/item':>9}   "
          f"({args.calls} calls of map over {args.items} items)")
    figures = {}
    for name, times in rows.items():
        median = statistics.median(times) * 1e3
        p90 = statistics.quantiles(times, n=10)[-1] * 1e3
        figures[f"{name}_ms"] = round(median, 3)
        print(f"{name:<8} {median:>10.3f} {p90:>10.3f} {median * 1e3 / args.items:>9.2f}")
    print(json.dumps({"items": args.items, "calls": args.calls, **figures}))


if __name__ == "__main__":
    main()
