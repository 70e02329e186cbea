"""Deceptive maze: reward-only GA against GA-NS (novelty search) at the same budget.

Such et al. 2017 (sec. 4.3) show on the Hard Maze that the GA is drawn into the trap that the
distance-to-goal reward sets, while GA-NS (selection by novelty of the final position) reaches
the goal. Here on searchlab's own deceptive maze (:mod:`searchlab.methods.deep_ga.maze`): for each
seed, one GA run (novelty_weight 0) and one GA-NS run (novelty_weight 1) with the same population,
generations and network. A run "reaches the goal" when any individual ever ends within the goal
radius. Writes a PNG of the final generation's end positions for both (all seeds).

The settings (population 200, sigma 0.1, 16-16 tanh MLP, archive_prob 0.02) were tuned on seeds
0-3 at 100 generations; the reported figures use seeds 0-9 at --generations (default 150).

    nice -n 10 python benchmarks/deep_ga_maze.py [--seeds 10] [--generations 150] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from searchlab.methods.deep_ga.algorithm import DeepGA
from searchlab.methods.deep_ga.settings import GAConfig


def one_run(args: tuple[float, int, int, int]) -> dict:
    weight, seed, generations, population = args
    c = GAConfig(env="maze:hard", hidden=(16, 16), population=population, truncation=20, sigma=0.1,
                 elite_candidates=1, elite_episodes=0, generations=generations,
                 novelty_weight=weight, novelty_k=10, archive_prob=0.02, final_episodes=0)
    ga = DeepGA(c, seed)
    start, solved_at = time.perf_counter(), None
    while not ga.finished:
        g = ga.step()
        if solved_at is None and ga.best_ever > -0.05:
            solved_at = g.generation
    return {"novelty_weight": weight, "seed": seed, "best": ga.best_ever, "solved_at": solved_at,
            "frames": ga.frames, "seconds": time.perf_counter() - start,
            "final_positions": ga.behavior.tolist()}


def picture(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from searchlab.methods.deep_ga.maze import LAYOUTS

    layout = LAYOUTS["hard"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for ax, weight, title in zip(axes, (0.0, 1.0), ("GA (reward only)", "GA-NS (novelty)")):
        mine = [r for r in runs if r["novelty_weight"] == weight]
        for r in mine:
            p = np.array(r["final_positions"])
            ax.scatter(p[:, 0], p[:, 1], s=4, alpha=0.4)
        for x0, y0, x1, y1 in layout.walls:
            ax.plot([x0, x1], [y0, y1], "k-", lw=3)
        ax.add_patch(plt.Circle(layout.goal, layout.goal_radius, color="g", alpha=0.6))
        ax.plot(*layout.start, "bs", ms=8)
        solved = sum(r["solved_at"] is not None for r in mine)
        ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal",
               title=f"{title}: goal reached in {solved}/{len(mine)} seeds")
    fig.suptitle("Final positions of the last generation (all seeds); start = square, goal = green")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--generations", type=int, default=150)
    ap.add_argument("--population", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/out/deep_ga_maze.png")
    a = ap.parse_args()
    jobs = [(w, s, a.generations, a.population) for s in range(a.seeds) for w in (0.0, 1.0)]
    with ProcessPoolExecutor(a.jobs) as ex:
        runs = list(ex.map(one_run, jobs))
    print(f"{'method':8} {'seed':>4} {'best':>8} {'solved at':>9} {'frames':>10} {'s':>6}")
    for r in runs:
        name = "GA-NS" if r["novelty_weight"] else "GA"
        print(f"{name:8} {r['seed']:4d} {r['best']:8.3f} {str(r['solved_at']):>9} "
              f"{r['frames']:10d} {r['seconds']:6.1f}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    picture(runs, Path(a.out))
    summary = {"seeds": a.seeds, "generations": a.generations, "population": a.population,
               "ga_solved": sum(r["solved_at"] is not None for r in runs
                                if not r["novelty_weight"]),
               "ga_ns_solved": sum(r["solved_at"] is not None for r in runs if r["novelty_weight"]),
               "frames_per_run": runs[0]["frames"], "picture": a.out}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
