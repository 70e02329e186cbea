"""Compact seed encoding: bytes per stored individual against raw float32 weights, and rebuild time.

A policy of about 4 million weights (the size of Such et al.'s Atari network; here an MLP
400 -> 2048 -> 1536 -> 6 over MinAtar-sized inputs) after 100 generations is 101 seeds:
404 bytes packed as uint32 (JSON, as ``elite.json`` stores it, is larger and also reported),
against 4 bytes per weight. Rebuild times: from scratch (101 noise draws), and with the
per-worker cache holding the parent (one draw), plus the draws per individual over a simulated
100-generation GA lineage (population 16, truncation 4) with the cache.

    nice -n 10 python benchmarks/deep_ga_encoding.py [--generations 100]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from searchlab.methods.deep_ga.encoding import SEED_BITS, WeightsCache, decode, packed_size
from searchlab.methods.deep_ga.policies import Policy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generations", type=int, default=100)
    ap.add_argument("--hidden", default="2048,1536")
    a = ap.parse_args()
    load = os.getloadavg()
    policy = Policy(400, tuple(int(h) for h in a.hidden.split(",")), 6, True)
    sigma = 0.002
    rng = np.random.default_rng(0)
    genome = tuple(int(s) for s in rng.integers(2**SEED_BITS, size=a.generations + 1))
    raw = policy.n_params * 4
    packed, as_json = packed_size(genome), len(json.dumps(list(genome)))

    start = time.perf_counter()
    theta = decode(genome, policy, sigma)
    scratch = time.perf_counter() - start

    cache = WeightsCache(policy, sigma, max_bytes=2 * raw + 1)
    cache.get(genome[:-1])  # the parent, as a worker that evaluated it last generation holds it
    start = time.perf_counter()
    cached = cache.get(genome)
    with_cache = time.perf_counter() - start
    identical = bool(np.array_equal(theta, cached))

    # a GA lineage: each generation 16 children of 4 parents, rebuilt through the cache
    small = Policy(400, (64,), 6, True)
    lineage = WeightsCache(small, sigma, max_bytes=64 * small.n_params * 4)
    parents = [(int(s),) for s in rng.integers(2**SEED_BITS, size=4)]
    draws = []
    for _ in range(a.generations):
        children = [parents[int(k)] + (int(rng.integers(2**SEED_BITS)),)
                    for k in rng.integers(4, size=16)]
        before = lineage.draws
        for c in children:
            lineage.get(c)
        draws.append((lineage.draws - before) / len(children))
        parents = [children[int(k)] for k in rng.choice(16, size=4, replace=False)]

    out = {"n_params": policy.n_params, "generations": a.generations, "seeds": len(genome),
           "raw_bytes": raw, "packed_bytes": packed, "json_bytes": as_json,
           "compression_packed": raw / packed, "compression_json": raw / as_json,
           "rebuild_scratch_s": scratch, "rebuild_cached_parent_s": with_cache,
           "cached_equals_scratch": identical,
           "lineage_draws_per_individual_last10": float(np.mean(draws[-10:])),
           "load": [round(x, 2) for x in load]}
    print(f"network: {policy.sizes} = {policy.n_params:,} float32 weights ({raw / 2**20:.1f} MiB)")
    print(f"after {a.generations} generations: {len(genome)} seeds = {packed} bytes packed "
          f"({as_json} as JSON): {raw / packed:,.0f}-fold ({raw / as_json:,.0f}-fold as JSON)")
    print(f"rebuild from scratch: {scratch:.2f} s; with the parent cached: {with_cache * 1e3:.1f} "
          f"ms (bit-identical: {identical})")
    print(f"GA lineage with the cache: {np.mean(draws[-10:]):.2f} noise draws per individual "
          f"in the last 10 generations (without: {a.generations - 9}..{a.generations + 1})")
    print(f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
