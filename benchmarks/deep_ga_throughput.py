"""Deep GA throughput on CartPole-v1: the environment's limits, the GA's frames/s, EvoTorch's GA.

Measured in one run, on this machine, in this order:

1. ``single``: gymnasium ``CartPole-v1``, one environment stepped in a Python loop with random
   actions (reset on done): the single-environment limit.
2. ``vector``: gymnasium's vectorised CartPole (``gym.make_vec(..., vectorization_mode=
   "vector_entry_point")``), 256 environments, random actions: the vectorised limit.
3. ``batch``: searchlab's own batched CartPole (``searchlab.methods.deep_ga.envs``), 256 rows,
   random actions, no policy (what the GA steps).
4. ``ga``: the Deep GA, population 256, linear policy, 1 episode per individual, elite picked among
   the top 10 by 30 more episodes each; frames/s over ``--generations`` generations after one
   warm-up generation (all frames counted, re-evaluation included). With ``--workers 2`` and the
   Ray pool (``searchlab.execution.pool.RayPool``) present, the same on 2 worker processes.
5. ``evotorch``: EvoTorch's ``GeneticAlgorithm`` on ``GymNE("CartPole-v1")``, linear policy,
   population 256, Gaussian mutation (stdev 0.1), one process, ``--evotorch-generations``
   generations; frames from its ``total_interaction_count``.

Targets (issue 11): GA >= 50 % of the vectorised limit; GA >= 10x EvoTorch's frames/s.
Nothing here was tuned on the reported run; the machine's load (``uptime``) is printed with it.

    nice -n 10 python benchmarks/deep_ga_throughput.py [--generations 5] [--evotorch-generations 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

POP = 256


def single_env_rate(seconds: float) -> float:
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(2, size=1_000_000)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            _, _, term, trunc, _ = env.step(int(actions[steps % len(actions)]))
            steps += 1
            if term or trunc:
                env.reset()
    return steps / (time.perf_counter() - start)


def vector_env_rate(seconds: float, n: int = POP) -> float:
    import gymnasium as gym

    env = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(2, size=(64, n))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for k in range(100):
            env.step(actions[k % 64])
        steps += 100 * n
    return steps / (time.perf_counter() - start)


def batch_env_rate(seconds: float, n: int = POP) -> float:
    from searchlab.methods.deep_ga.envs import CartPole

    env = CartPole(max_steps=10**9)
    actions = np.random.default_rng(0).integers(2, size=(64, n))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.reset(np.arange(n))  # steps on past termination (as the vector env steps on past resets)
        for k in range(200):
            env.step(actions[k % 64])
        steps += 200 * n
    return steps / (time.perf_counter() - start)


def ga_rate(generations: int, pool=None) -> dict:
    from searchlab.methods.deep_ga.algorithm import DeepGA
    from searchlab.methods.deep_ga.settings import GAConfig

    config = GAConfig(env="CartPole-v1", hidden=(), population=POP, truncation=20, sigma=0.05,
                      elite_candidates=10, elite_episodes=30, generations=generations + 1)
    ga = DeepGA(config, 0, pool)
    ga.step()  # warm-up (imports, caches)
    frames, start = ga.frames, time.perf_counter()
    while not ga.finished:
        ga.step()
    return {"frames_per_s": (ga.frames - frames) / (time.perf_counter() - start),
            "frames": ga.frames - frames, "elite_score": ga.elite_score}


def evotorch_rate(generations: int) -> dict:
    import logging

    import torch
    from evotorch.algorithms import GeneticAlgorithm
    from evotorch.neuroevolution import GymNE
    from evotorch.operators import GaussianMutation

    logging.getLogger("evotorch").setLevel(logging.WARNING)
    torch.manual_seed(0)
    problem = GymNE(env="CartPole-v1", network="Linear(obs_length, act_length)",
                    observation_normalization=False, num_actors=0, num_episodes=1)
    ga = GeneticAlgorithm(problem, popsize=POP, operators=[GaussianMutation(problem, stdev=0.1)],
                          elitist=True)
    ga.step()  # warm-up
    frames, start = problem.status["total_interaction_count"], time.perf_counter()
    for _ in range(generations):
        ga.step()
    done = problem.status["total_interaction_count"] - frames
    return {"frames_per_s": done / (time.perf_counter() - start), "frames": int(done),
            "best": float(ga.status["pop_best_eval"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generations", type=int, default=5)
    ap.add_argument("--evotorch-generations", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    load = os.getloadavg()
    out: dict = {"load_before": [round(x, 2) for x in load], "cores": os.cpu_count()}
    out["single_env_steps_per_s"] = single_env_rate(a.seconds)
    out["vector256_steps_per_s"] = vector_env_rate(a.seconds)
    out["batch256_steps_per_s"] = batch_env_rate(a.seconds)
    ga1 = ga_rate(a.generations)
    out["ga_frames_per_s_1"] = ga1["frames_per_s"]
    out["ga_elite_score"] = ga1["elite_score"]
    try:
        from searchlab.execution.pool import RayPool  # type: ignore[import-not-found]
    except ImportError:
        RayPool = None  # noqa: N806
        out["ga_frames_per_s_2"] = None
        out["note"] = "searchlab.execution.pool.RayPool not in this tree: 2-worker figure skipped"
    if RayPool is not None:
        pool = RayPool(workers=a.workers, worker_cpu=1)
        out[f"ga_frames_per_s_{a.workers}"] = ga_rate(a.generations, pool)["frames_per_s"]
    evo = evotorch_rate(a.evotorch_generations)
    out["evotorch_frames_per_s"] = evo["frames_per_s"]
    out["ga_vs_vector"] = out["ga_frames_per_s_1"] / out["vector256_steps_per_s"]
    out["ga_vs_evotorch"] = out["ga_frames_per_s_1"] / out["evotorch_frames_per_s"]
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]

    rows = [("single env, Python loop (gymnasium)", out["single_env_steps_per_s"], "steps/s"),
            ("vector 256 (gymnasium)", out["vector256_steps_per_s"], "steps/s"),
            ("batch 256 (searchlab, no policy)", out["batch256_steps_per_s"], "steps/s"),
            ("Deep GA, pop 256, 1 process", out["ga_frames_per_s_1"], "frames/s"),
            ("EvoTorch GA, pop 256, 1 process", out["evotorch_frames_per_s"], "frames/s")]
    if out.get("ga_frames_per_s_2"):
        rows.insert(4, ("Deep GA, pop 256, 2 Ray workers", out["ga_frames_per_s_2"], "frames/s"))
    print(f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {out['cores']} cores")
    for name, value, unit in rows:
        print(f"{name:40} {value:14,.0f} {unit}")
    print(f"GA / vector limit: {out['ga_vs_vector']:.0%} (target >= 50%)   "
          f"GA / EvoTorch: {out['ga_vs_evotorch']:.1f}x (target >= 10x)")
    if out.get("note"):
        print(out["note"])
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
