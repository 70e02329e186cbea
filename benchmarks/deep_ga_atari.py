"""Atari (ale-py) at a fixed frame budget on CPU: a small Deep GA run and its learning curve.

The environment is ``atari:<game>`` (:class:`searchlab.methods.deep_ga.envs.Atari`): gymnasium's
``ALE/<Game>-v5`` with frame skip 4, the console's 128-byte RAM as the observation (scaled to
[-1, 1]; centred inputs gave 3 of 24 random initial policies a non-zero Breakout score
against 0 of 24 with [0, 1]) and Such et al.'s randomness (deterministic emulator, 0-30 no-ops at
the start of each episode). The policy is an MLP 128-32-A (tanh), argmax over the minimal action
set; episodes are cut at ``--max-steps`` agent steps. GA: population 32, truncation 8, sigma 0.05,
the elite picked among the top 3 by 3 more episodes each (counted in the budget). "frames" are agent
steps; the emulator runs 4 frames per step.

The baseline is a uniformly random policy on 30 episodes of the same protocol. At the end the
elite plays 30 fresh episodes (``final``). Small and CPU-only: a sanity run of the wiring and of
learning on RAM observations, not the paper's pixel-based Atari results (no settings were tuned;
every run made is reported).

    nice -n 10 python benchmarks/deep_ga_atari.py [--game breakout] [--frames 150000] [--seeds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from searchlab.methods.deep_ga.algorithm import DeepGA
from searchlab.methods.deep_ga.envs import make_env
from searchlab.methods.deep_ga.settings import GAConfig

HIDDEN, POP, TRUNCATION, SIGMA = (32,), 32, 8, 0.05


def run_deep_ga(game: str, seed: int, frames: int, max_steps: int) -> dict:
    config = GAConfig(env=f"atari:{game}", hidden=HIDDEN, population=POP, truncation=TRUNCATION,
                      sigma=SIGMA, elite_candidates=3, elite_episodes=3, generations=10**6,
                      max_frames=frames, max_steps=max_steps)
    ga = DeepGA(config, seed)
    rows, start = [], time.perf_counter()
    while not ga.finished:
        g = ga.step()
        rows.append({"generation": g.generation, "frames": g.frames, "best": g.best_score,
                     "mean": g.mean_score, "elite": g.elite_score,
                     "seconds": time.perf_counter() - start})
        print(f"  seed {seed} gen {g.generation:3d} frames {g.frames:7d} best {g.best_score:6.1f} "
              f"mean {g.mean_score:6.2f} elite {g.elite_score:6.2f} "
              f"{time.perf_counter() - start:6.0f} s", flush=True)
    seconds = time.perf_counter() - start
    final = ga.final_evaluation(30).score
    return {"curve": rows, "final": final, "seconds": seconds}


def random_policy(game: str, episodes: int, max_steps: int) -> float:
    env = make_env(f"atari:{game}", max_steps)
    rng = np.random.default_rng(12345)
    env.reset(np.arange(10**6, 10**6 + episodes))
    total, alive = np.zeros(episodes), np.ones(episodes, dtype=bool)
    while alive.any():
        _, reward, done = env.step(rng.integers(env.n_actions, size=episodes))
        total += reward * alive
        alive &= ~done
    return float(total.mean())


def picture(game: str, results: list[dict], baseline: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, r in enumerate(results):
        xs = [row["frames"] for row in r["curve"]]
        ax.plot(xs, [row["best"] for row in r["curve"]], color=f"C{i}", label=f"seed {i} best")
        ax.plot(xs, [row["elite"] for row in r["curve"]], color=f"C{i}", ls="--",
                label=f"seed {i} elite (3 episodes)")
    ax.axhline(baseline, color="k", ls=":", label="random policy (30 episodes)")
    ax.set(title=f"Deep GA, Atari {game} (RAM), population {POP}", xlabel="frames (agent steps)",
           ylabel="return")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--game", default="breakout")
    ap.add_argument("--frames", type=int, default=150_000)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=500)
    ap.add_argument("--out", default="benchmarks/out/deep_ga_atari.png")
    a = ap.parse_args()
    load = os.getloadavg()
    print(f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    baseline = random_policy(a.game, 30, a.max_steps)
    print(f"random policy: {baseline:.2f} over 30 episodes")
    results = []
    for seed in range(a.seeds):
        results.append(run_deep_ga(a.game, seed, a.frames, a.max_steps))
    print(f"\n{'seed':>4} {'gens':>4} {'frames':>8} {'gen-0 best':>10} {'last best':>9} "
          f"{'last elite':>10} {'final(30)':>9} {'s':>6} {'frames/s':>8}")
    for seed, r in enumerate(results):
        first, last = r["curve"][0], r["curve"][-1]
        print(f"{seed:4d} {last['generation']:4d} {last['frames']:8d} {first['best']:10.1f} "
              f"{last['best']:9.1f} {last['elite']:10.2f} {r['final']:9.2f} {r['seconds']:6.0f} "
              f"{last['frames'] / r['seconds']:8.0f}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    picture(a.game, results, baseline, Path(a.out))
    after = os.getloadavg()
    print(f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} -> {after[0]:.2f} {after[1]:.2f}; "
          f"picture {a.out}")
    print(json.dumps({
        "game": a.game, "frames": a.frames, "seeds": a.seeds, "max_steps": a.max_steps,
        "random_policy": round(baseline, 2),
        "final": [round(r["final"], 2) for r in results],
        "gen0_best": [r["curve"][0]["best"] for r in results],
        "last_elite": [round(r["curve"][-1]["elite"], 2) for r in results],
        "frames_per_s": [round(r["curve"][-1]["frames"] / r["seconds"]) for r in results],
        "load_before": [round(x, 2) for x in load], "load_after": [round(x, 2) for x in after],
        "picture": a.out}))


if __name__ == "__main__":
    main()
