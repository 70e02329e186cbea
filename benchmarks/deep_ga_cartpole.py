"""CartPole-v1 solved by the Deep GA: the elite averages >= 475 over 100 evaluation episodes.

For each seed: population 256, truncation 20, sigma 0.05, a 4-16-2 tanh MLP, one episode per
individual; the elite is chosen among the top 10 by 30 more episodes each. A run steps until its
elite averages 500 on those 30 episodes (or 50 generations), then plays the elite on 100 fresh
episodes; below 475 it continues and checks again. Wall time covers everything from the first
generation to the last check, in one process (the machine's second core is free for others).
No settings were tuned on these seeds beyond the defaults of ``spaces/deep_ga_cartpole.yaml``.

    nice -n 10 python benchmarks/deep_ga_cartpole.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from searchlab.methods.deep_ga.algorithm import DeepGA
from searchlab.methods.deep_ga.settings import GAConfig


def solve(seed: int, hidden: tuple[int, ...], max_generations: int = 50) -> dict:
    config = GAConfig(env="CartPole-v1", hidden=hidden, population=256, truncation=20, sigma=0.05,
                      elite_candidates=10, elite_episodes=30, generations=max_generations)
    ga = DeepGA(config, seed)
    start = time.perf_counter()
    final, checks = 0.0, 0
    while not ga.finished:
        ga.step()
        if ga.elite_score >= 500:
            checks += 1
            final = ga.final_evaluation(100).score
            if final >= 475:
                break
    return {"seed": seed, "generations": ga.generation, "frames": ga.frames,
            "elite_score": ga.elite_score, "final_score_100": final, "checks": checks,
            "seconds": time.perf_counter() - start, "solved": final >= 475}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--hidden", default="16")
    a = ap.parse_args()
    hidden = tuple(int(h) for h in a.hidden.split(",") if h)
    load = os.getloadavg()
    runs = [solve(seed, hidden) for seed in range(a.seeds)]
    print(f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} -> {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores")
    print(f"{'seed':>4} {'gens':>5} {'frames':>10} {'elite(30)':>9} {'final(100)':>10} {'s':>6}")
    for r in runs:
        print(f"{r['seed']:4d} {r['generations']:5d} {r['frames']:10d} {r['elite_score']:9.1f} "
              f"{r['final_score_100']:10.2f} {r['seconds']:6.2f}")
    print(json.dumps({"hidden": list(hidden), "population": 256,
                      "solved": sum(r["solved"] for r in runs), "seeds": a.seeds,
                      "final_scores": [r["final_score_100"] for r in runs],
                      "seconds": [round(r["seconds"], 2) for r in runs],
                      "max_seconds": round(max(r["seconds"] for r in runs), 2),
                      "load_before": [round(x, 2) for x in load]}))


if __name__ == "__main__":
    main()
