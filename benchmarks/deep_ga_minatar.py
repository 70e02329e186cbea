"""MinAtar at a fixed frame budget on CPU: the Deep GA against EvoTorch's GA, same frames.

Both search the same policy (an MLP over the flattened 10x10xC frame, one hidden layer of 32
tanh units, argmax over the game's minimal action set, episodes cut at 500 steps) and evaluate
through the same batched rollout (:func:`searchlab.methods.deep_ga.evaluate.rollout`), so only
the search algorithm differs:

- ``deep_ga``: population 64, truncation 10, sigma 0.05, elite picked among the top 3 by 3 more
  episodes each (those frames count against the budget).
- ``evotorch``: ``evotorch.algorithms.GeneticAlgorithm`` (elitist, Gaussian mutation stdev 0.05),
  population 64, through an EvoTorch ``Problem`` whose batch evaluation is the same rollout,
  initial solutions drawn as the Deep GA draws them.

Each curve is the generation's best single-episode return against frames; at the end each
method's best individual plays 30 fresh episodes (``final``). Small and CPU-only: a sanity
comparison, not the paper's Atari results (no settings were tuned; ``--seeds`` seeds per game).

    nice -n 10 python benchmarks/deep_ga_minatar.py [--frames 250000] [--seeds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from searchlab.methods.deep_ga.algorithm import DeepGA
from searchlab.methods.deep_ga.evaluate import Problem, rollout
from searchlab.methods.deep_ga.settings import GAConfig

GAMES = ("breakout", "space_invaders")
HIDDEN, POP, SIGMA, MAX_STEPS = (32,), 64, 0.05, 500


def run_deep_ga(game: str, seed: int, frames: int) -> dict:
    config = GAConfig(env=f"minatar:{game}", hidden=HIDDEN, population=POP, truncation=10,
                      sigma=SIGMA, elite_candidates=3, elite_episodes=3, generations=10**6,
                      max_frames=frames, max_steps=MAX_STEPS)
    ga = DeepGA(config, seed)
    curve, start = [], time.perf_counter()
    while not ga.finished:
        g = ga.step()
        curve.append((g.frames, g.best_score))
    final = ga.final_evaluation(30).score
    return {"curve": curve, "final": final, "seconds": time.perf_counter() - start}


def run_evotorch(game: str, seed: int, frames: int) -> dict:
    import logging

    import torch
    from evotorch import Problem as EvoProblem
    from evotorch.algorithms import GeneticAlgorithm
    from evotorch.operators import GaussianMutation

    logging.getLogger("evotorch").setLevel(logging.WARNING)
    torch.manual_seed(seed)
    problem = Problem(env=f"minatar:{game}", hidden=HIDDEN, sigma=SIGMA, max_steps=MAX_STEPS)
    env = problem.make_env()
    policy = problem.policy(env)
    rng = np.random.default_rng(seed)
    counter = {"frames": 0}

    def play(params: np.ndarray, episodes: int = 1) -> np.ndarray:
        seeds = rng.integers(2**31, size=len(params) * episodes)
        returns, _, lengths = rollout(env, policy, np.repeat(params, episodes, axis=0), seeds)
        counter["frames"] += int(lengths.sum())
        return returns.reshape(len(params), episodes).mean(1)

    class MinAtarProblem(EvoProblem):
        def __init__(self) -> None:
            super().__init__("max", solution_length=policy.n_params, dtype=torch.float32)

        def _fill(self, values: torch.Tensor) -> torch.Tensor:
            inits = [policy.init(int(s)) for s in rng.integers(2**31, size=len(values))]
            values[:] = torch.from_numpy(np.stack(inits))
            return values

        def _evaluate_batch(self, solutions) -> None:
            scores = play(solutions.values.detach().cpu().numpy().astype(np.float32))
            solutions.set_evals(torch.from_numpy(scores).to(torch.float32))

    evo = MinAtarProblem()
    ga = GeneticAlgorithm(evo, popsize=POP, operators=[GaussianMutation(evo, stdev=SIGMA)],
                          elitist=True)
    curve, start = [], time.perf_counter()
    while counter["frames"] < frames:
        ga.step()
        curve.append((counter["frames"], float(ga.status["pop_best_eval"])))
    best = ga.status["pop_best"].values.detach().cpu().numpy().astype(np.float32)[None, :]
    final = float(play(best, 30)[0])
    return {"curve": curve, "final": final, "seconds": time.perf_counter() - start}


def picture(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(GAMES), figsize=(6 * len(GAMES), 4))
    for ax, game in zip(np.atleast_1d(axes), GAMES):
        for method, color in (("deep_ga", "C0"), ("evotorch", "C1")):
            for i, r in enumerate(results[game][method]):
                xs, ys = zip(*r["curve"])
                ax.plot(xs, ys, color=color, alpha=0.8, label=method if i == 0 else None)
        ax.set(title=f"MinAtar {game}", xlabel="frames", ylabel="best return in generation")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=250_000)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/out/deep_ga_minatar.png")
    a = ap.parse_args()
    load = os.getloadavg()
    results: dict = {game: {"deep_ga": [], "evotorch": []} for game in GAMES}
    print(f"{'game':15} {'method':9} {'seed':>4} {'frames':>8} {'last best':>9} {'final(30)':>9} "
          f"{'s':>6}")
    for game in GAMES:
        for seed in range(a.seeds):
            for method, fn in (("deep_ga", run_deep_ga), ("evotorch", run_evotorch)):
                r = fn(game, seed, a.frames)
                results[game][method].append(r)
                print(f"{game:15} {method:9} {seed:4d} {r['curve'][-1][0]:8d} "
                      f"{r['curve'][-1][1]:9.1f} {r['final']:9.2f} {r['seconds']:6.1f}", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    picture(results, Path(a.out))
    print(f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} -> {os.getloadavg()[0]:.2f}")
    summary = {"frames": a.frames, "seeds": a.seeds, "picture": a.out}
    for game in GAMES:
        for method in ("deep_ga", "evotorch"):
            summary[f"{game}_{method}_final"] = [round(r["final"], 2)
                                                 for r in results[game][method]]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
