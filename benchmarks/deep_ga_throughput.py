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
   generations; frames from its ``total_interaction_count``. ``evotorch_vec``: the same on
   EvoTorch's vectorised problem ``VecGymNE("CartPole-v1")`` (one Gymnasium vector environment
   for the whole population).
6. ``cluster`` (``--cluster 2``): a real two-node Ray cluster on this machine: ``ray start --head
   --num-cpus 2`` with the custom resource ``ga_head`` and ``ray start --address ... --num-cpus 1``
   with ``ga_node``, each with a temp directory of its own. The GA runs as a trial does: in bundle 0
   of a placement group ``[{CPU: 1, ga_head}, {CPU: 1, ga_head}, {CPU: 1, ga_node}]``, and its
   ``RayPool`` puts worker i in bundle i + 1, so one worker runs on each node (printed with the
   node each worker ran on). The nodes are stopped by process id (their process trees and every
   process naming their temp directory), also on an error or Ctrl-C; never ``ray stop``, which
   would stop every Ray process of the machine, other users' included.

Targets (issue 11): GA >= 50 % of the vectorised limit; GA >= 10x EvoTorch's frames/s.
Nothing here was tuned on the reported run; the machine's load (``uptime``) is printed with it.

    nice -n 10 python benchmarks/deep_ga_throughput.py [--generations 5] [--evotorch-generations 2]
        [--workers 2] [--cluster 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from searchlab.execution.ray_start import LocalCluster, init_local

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
        # steps on past termination (as the vector env steps on past resets)
        env.reset(np.arange(n))
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


# ------------------------------------------------------------------- a two-node local cluster
def _ga_in_group(generations: int, workers: int) -> dict:
    """Runs in bundle 0 of the placement group; the GA's RayPool takes bundles 1..workers."""
    import ray

    from searchlab.execution.pool import RayPool

    with RayPool(workers) as pool:
        out = ga_rate(generations, pool)
        out["worker_nodes"] = pool.node_ids
    out["driver_node"] = ray.get_runtime_context().get_node_id()
    return out


def cluster_rate(generations: int, nodes: int) -> dict:
    """The GA on a ``nodes``-node local cluster, one pool worker per node (see the docstring).
    The driver is a child process (this file with ``--driver``), so that it starts with the
    cluster's environment (Ray reads ``RAY_AUTH_MODE`` when it is imported)."""
    cpus = [2] + [1] * (nodes - 1)
    names = ["ga_head"] + [f"ga_node{i}" if i > 1 else "ga_node" for i in range(1, nodes)]
    env = dict(os.environ)
    # this tree's searchlab, importable by every worker of every node
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    with LocalCluster(cpus, resources=[{n: 1} for n in names], env=env, prefix="sga") as cluster:
        r = subprocess.run([sys.executable, __file__, "--driver", cluster.address,
                            "--generations", str(generations), "--cluster", str(nodes)],
                           capture_output=True, text=True, env=cluster.env, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"the cluster driver failed:\n{r.stderr[-3000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["node_cpus"] = dict(zip(names, cpus))
    return out


def cluster_driver(address: str, generations: int, nodes: int) -> None:
    """Child process: join the cluster, reserve one bundle per node, run the GA in bundle 0."""
    import ray
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    deadline = time.monotonic() + 120
    while len([n for n in ray.nodes() if n["Alive"]]) < nodes:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{nodes} Ray nodes not up after 120 s")
        time.sleep(0.5)
    names = {n["NodeID"]: next((r for r in n["Resources"] if r.startswith("ga_")), "?")
             for n in ray.nodes() if n["Alive"]}
    resources = sorted(set(names.values()))  # ga_head, ga_node, ...
    bundles = [{"CPU": 1, "ga_head": 0.1}] + [{"CPU": 1, r: 0.1} for r in resources]
    group = placement_group(bundles, strategy="SPREAD")
    ray.get(group.ready(), timeout=120)
    task = ray.remote(_ga_in_group).options(
        num_cpus=1, scheduling_strategy=PlacementGroupSchedulingStrategy(
            group, placement_group_bundle_index=0, placement_group_capture_child_tasks=True))
    out = ray.get(task.remote(generations, len(resources)))
    out["worker_nodes"] = [names[n] for n in out["worker_nodes"]]
    out["driver_node"] = names[out["driver_node"]]
    print(json.dumps(out))


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


def evotorch_vec_rate(generations: int) -> dict:
    import logging

    import torch
    from evotorch.algorithms import GeneticAlgorithm
    from evotorch.neuroevolution import VecGymNE
    from evotorch.operators import GaussianMutation

    logging.getLogger("evotorch").setLevel(logging.WARNING)
    torch.manual_seed(0)
    problem = VecGymNE(env="CartPole-v1", network="Linear(obs_length, act_length)",
                       observation_normalization=False, num_actors=0, num_episodes=1,
                       device="cpu")
    ga = GeneticAlgorithm(problem, popsize=POP, operators=[GaussianMutation(problem, stdev=0.1)],
                          elitist=True)
    ga.step()  # warm-up
    frames, start = problem.status["total_interaction_count"], time.perf_counter()
    for _ in range(generations):
        ga.step()
    done = problem.status["total_interaction_count"] - frames
    return {"frames_per_s": done / (time.perf_counter() - start), "frames": int(done)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generations", type=int, default=5)
    ap.add_argument("--evotorch-generations", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cluster", type=int, default=0, metavar="NODES",
                    help="also run the GA on a local Ray cluster of NODES nodes (0: skip)")
    ap.add_argument("--driver", metavar="ADDRESS", help=argparse.SUPPRESS)  # see cluster_rate
    a = ap.parse_args()
    if a.driver:
        return cluster_driver(a.driver, a.generations, a.cluster)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cluster is stopped
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
        init_local(a.workers)  # as `searchlab run` starts Ray, whatever `ray start` left behind
        pool = RayPool(workers=a.workers, worker_cpu=1)
        out[f"ga_frames_per_s_{a.workers}"] = ga_rate(a.generations, pool)["frames_per_s"]
        pool.close()
    if a.cluster > 1:
        out["load_before_cluster"] = [round(x, 2) for x in os.getloadavg()]
        cl = cluster_rate(a.generations, a.cluster)
        out[f"ga_frames_per_s_cluster{a.cluster}"] = cl["frames_per_s"]
        out["cluster_worker_nodes"] = cl["worker_nodes"]
        out["cluster_driver_node"] = cl["driver_node"]
        out["cluster_node_cpus"] = cl["node_cpus"]
    evo = evotorch_rate(a.evotorch_generations)
    out["evotorch_frames_per_s"] = evo["frames_per_s"]
    out["evotorch_vec_frames_per_s"] = evotorch_vec_rate(a.evotorch_generations)["frames_per_s"]
    out["ga_vs_evotorch_vec"] = out["ga_frames_per_s_1"] / out["evotorch_vec_frames_per_s"]
    out["ga_vs_vector"] = out["ga_frames_per_s_1"] / out["vector256_steps_per_s"]
    out["ga_vs_evotorch"] = out["ga_frames_per_s_1"] / out["evotorch_frames_per_s"]
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]

    rows = [("single env, Python loop (gymnasium)", out["single_env_steps_per_s"], "steps/s"),
            ("vector 256 (gymnasium)", out["vector256_steps_per_s"], "steps/s"),
            ("batch 256 (searchlab, no policy)", out["batch256_steps_per_s"], "steps/s"),
            ("Deep GA, pop 256, 1 process", out["ga_frames_per_s_1"], "frames/s"),
            ("EvoTorch GA, pop 256, 1 process", out["evotorch_frames_per_s"], "frames/s"),
            ("EvoTorch GA on VecGymNE, pop 256", out["evotorch_vec_frames_per_s"], "frames/s")]
    if out.get("ga_frames_per_s_2"):
        rows.insert(4, ("Deep GA, pop 256, 2 Ray workers", out["ga_frames_per_s_2"], "frames/s"))
    if a.cluster > 1:
        rows.insert(5, (f"Deep GA, pop 256, {a.cluster}-node cluster",
                        out[f"ga_frames_per_s_cluster{a.cluster}"], "frames/s"))
    print(f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {out['cores']} cores")
    for name, value, unit in rows:
        print(f"{name:40} {value:14,.0f} {unit}")
    print(f"GA / vector limit: {out['ga_vs_vector']:.0%} (target >= 50%)   "
          f"GA / EvoTorch: {out['ga_vs_evotorch']:.1f}x (target >= 10x), "
          f"GA / EvoTorch on VecGymNE: {out['ga_vs_evotorch_vec']:.1f}x")
    if a.cluster > 1:
        print(f"cluster: GA driver on {out['cluster_driver_node']}, pool workers on "
              f"{', '.join(out['cluster_worker_nodes'])} (CPUs per node "
              f"{out['cluster_node_cpus']}; {out['cores']} physical cores in all)")
    if out.get("note"):
        print(out["note"])
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
