"""Deep GA on Gymnasium tasks that are not built in, against EvoTorch's GA on its vectorised
Gymnasium problem (``evotorch.neuroevolution.VecGymNE``), at the same frame budget.

Tasks (``--task``): ``pendulum`` (``Pendulum-v1``, continuous torque in [-2, 2], 200 steps; no
Gymnasium threshold, "solved" here means a mean return >= -200 over 100 episodes, a common
convention) and ``lunarlander`` (``LunarLander-v3``, 4 discrete actions, up to 1,000 steps;
Gymnasium's threshold 200).

Both methods search the same policy, an MLP ``obs -> 16 tanh -> actions`` (discrete: argmax;
continuous: ``tanh`` scaled onto the action box), in one process each:

- ``ga``: searchlab's Deep GA through ``env: <Gymnasium id>`` (rows stepped per episode seed);
  population, truncation, sigma, elite candidates and episodes from ``--set`` or the task's
  defaults (``TASKS``).
- ``evotorch``: ``evotorch.algorithms.GeneticAlgorithm`` (elitist, Gaussian mutation ``stdev``)
  on ``VecGymNE(env=<id>, network=<the same MLP>)``, population from ``--set``; frames are its
  ``total_interaction_count``.

Every ``--eval-every`` frames (default: the budget / 15) each method's current pick (the Deep
GA's elite; EvoTorch's ``pop_best``) plays the same 10 fixed episodes (seeds 1,000,000 + k;
these frames are not counted); at the end it plays 100 fresh fixed episodes (seeds
2,000,000 + k): ``final``, and ``solved`` when ``final`` reaches the threshold.

Tuning and reporting are separate: tune on ``--seeds 0 1 2`` (``--tag tune``), report on held-out
seeds ``--seeds 10 11 12 13 14`` (``--tag report``). Results are appended to ``--out`` (JSON
lines; runs already there are skipped, so an interrupted sweep resumes); ``--plot`` draws the
``report`` curves into ``docs/deep_ga_<task>.png`` and prints the table.

    nice -n 10 python benchmarks/deep_ga_gym.py --task pendulum --method ga --seeds 10 11 \\
        --tag report [--frames 3000000] [--set sigma=0.1 population=256]
    python benchmarks/deep_ga_gym.py --task pendulum --plot
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "deep_ga_gym.jsonl"
HIDDEN = 16
TASKS: dict[str, dict[str, Any]] = {
    "pendulum": {"env": "Pendulum-v1", "threshold": -200.0, "frames": 3_000_000,
                 "ga": {"population": 256, "truncation": 20, "sigma": 0.1,
                        "elite_candidates": 5, "elite_episodes": 5, "episodes": 1},
                 "evotorch": {"population": 256, "stdev": 0.1}},
    "lunarlander": {"env": "LunarLander-v3", "threshold": 200.0, "frames": 5_000_000,
                    "ga": {"population": 256, "truncation": 20, "sigma": 0.05,
                           "elite_candidates": 5, "elite_episodes": 5, "episodes": 1},
                    "evotorch": {"population": 256, "stdev": 0.05}},
}
EVAL_SEEDS = [1_000_000 + k for k in range(10)]
FINAL_SEEDS = [2_000_000 + k for k in range(100)]


# ------------------------------------------------------------------ one evaluation protocol
def play(env_id: str, act: Any, seeds: list[int]) -> np.ndarray:
    """Returns of ``act`` (observations (B, obs_dim) -> actions) on one episode per seed, all
    stepped as one batch of Gymnasium environments (searchlab's rows)."""
    from searchlab.methods.deep_ga.gym_envs import make_gym_env

    env = make_gym_env(env_id, vectorize="rows")
    obs = env.reset(np.asarray(seeds))
    returns = np.zeros(len(seeds))
    rows = np.arange(len(seeds))
    alive = np.ones(len(seeds), dtype=bool)
    while True:
        obs, reward, done = env.step(act(obs, rows))
        returns[rows] += reward * alive
        alive &= ~done
        if not alive.any():
            return returns
        rows, obs = rows[alive], obs[alive]
        env.keep(alive)
        alive = np.ones(len(rows), dtype=bool)


# ------------------------------------------------------------------------------ the methods
def run_ga(task: dict, seed: int, frames: int, every: int, settings: dict) -> dict:
    from searchlab.methods.deep_ga.algorithm import DeepGA
    from searchlab.methods.deep_ga.encoding import decode
    from searchlab.methods.deep_ga.settings import GAConfig

    config = GAConfig(env=task["env"], hidden=(HIDDEN,), generations=10**6, max_frames=frames,
                      final_episodes=0, **settings)
    ga = DeepGA(config, seed)
    policy = ga.problem.policy(ga.problem.make_env())

    def pick_act() -> Any:
        theta = decode(ga.elite, policy, config.sigma)[None, :]
        return lambda obs, rows: policy.act(np.repeat(theta, len(obs), 0), obs)

    curve, gens, next_eval, start = [], [], every, time.perf_counter()
    while not ga.finished:
        g = ga.step()
        gens.append((g.frames, g.elite_score, g.best_score))
        if g.frames >= next_eval or ga.finished:
            curve.append((g.frames, float(play(task["env"], pick_act(), EVAL_SEEDS).mean())))
            next_eval += every
    seconds = time.perf_counter() - start
    final = play(task["env"], pick_act(), FINAL_SEEDS)
    return {"curve": curve, "generations": gens, "final": float(final.mean()),
            "final_std": float(final.std()), "frames": ga.frames, "seconds": seconds,
            "n_generations": ga.generation, "n_params": ga.n_params}


def _pass_info(f: Any) -> Any:
    from evotorch.decorators import pass_info

    return pass_info(f)


def evotorch_network(obs_length: int, act_length: int, obs_space: Any = None,
                     act_space: Any = None, discrete: bool = False, **_: Any) -> Any:
    """The same MLP as the Deep GA's: tanh hidden layer; tanh scaled onto the action box for
    continuous actions (EvoTorch clips into it), raw scores for discrete ones (argmax)."""
    import torch
    from torch import nn

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(obs_length, HIDDEN), nn.Tanh(),
                                     nn.Linear(HIDDEN, act_length))
            high = np.ones(act_length) if discrete or act_space is None else \
                np.asarray(act_space.high, dtype=np.float32).reshape(-1)
            self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

        def forward(self, x: Any) -> Any:
            out = self.net(x)
            return out if discrete else torch.tanh(out) * self.high

    return MLP()


def run_evotorch(task: dict, seed: int, frames: int, every: int, settings: dict) -> dict:
    import logging

    import gymnasium as gym
    import torch
    from evotorch.algorithms import GeneticAlgorithm
    from evotorch.neuroevolution import VecGymNE
    from evotorch.operators import GaussianMutation

    logging.getLogger("evotorch").setLevel(logging.WARNING)
    torch.manual_seed(seed)
    np.random.seed(seed)
    discrete = isinstance(gym.make(task["env"]).action_space, gym.spaces.Discrete)
    problem = VecGymNE(env=task["env"], network=_pass_info(evotorch_network),
                       network_args={"discrete": discrete}, num_episodes=1,
                       observation_normalization=False, num_actors=0, device="cpu")
    ga = GeneticAlgorithm(problem, popsize=int(settings.get("population", 256)),
                          operators=[GaussianMutation(problem, stdev=float(settings["stdev"]))],
                          elitist=True)

    def pick_act() -> Any:
        net = problem.to_policy(ga.status["pop_best"]).eval()

        def act(obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                out = net(torch.as_tensor(obs, dtype=torch.float32))
            return out.argmax(-1).numpy() if discrete else out.numpy()
        return act

    curve, gens, next_eval, start = [], [], every, time.perf_counter()
    while True:
        ga.step()
        done = int(problem.status["total_interaction_count"])
        gens.append((done, float(ga.status["pop_best_eval"]), float(ga.status["pop_best_eval"])))
        if done >= next_eval or done >= frames:
            curve.append((done, float(play(task["env"], pick_act(), EVAL_SEEDS).mean())))
            next_eval += every
        if done >= frames:
            break
    seconds = time.perf_counter() - start
    final = play(task["env"], pick_act(), FINAL_SEEDS)
    return {"curve": curve, "generations": gens, "final": float(final.mean()),
            "final_std": float(final.std()), "frames": done, "seconds": seconds,
            "n_generations": len(gens), "n_params": int(problem.solution_length)}


# ------------------------------------------------------------------------------ bookkeeping
def _key(row: dict) -> tuple:
    return (row["task"], row["method"], row["seed"], row["frames_budget"],
            json.dumps(row["settings"], sort_keys=True), row["tag"])


def _done(path: Path) -> set:
    if not path.exists():
        return set()
    return {_key(json.loads(line)) for line in path.read_text().splitlines() if line.strip()}


def _parse_set(items: list[str]) -> dict:
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = json.loads(value) if value[:1] in "0123456789-[{tf" else value
    return out


def plot(task_name: str, path: Path, tag: str = "report") -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task = TASKS[task_name]
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["task"] == task_name and r["tag"] == tag]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    summary: dict[str, Any] = {}
    for method, color, label in (("ga", "tab:blue", "searchlab Deep GA"),
                                 ("evotorch", "tab:orange", "EvoTorch GA (VecGymNE)")):
        runs = [r for r in rows if r["method"] == method]
        if not runs:
            continue
        for r in runs:
            xs, ys = zip(*r["curve"])
            ax.plot(np.array(xs) / 1e6, ys, color=color, alpha=0.35, lw=1, marker="o", ms=2)
        grid = np.linspace(0, min(r["frames"] for r in runs), 30)[1:]
        med = np.median([np.interp(grid, *zip(*r["curve"])) for r in runs], axis=0)
        ax.plot(grid / 1e6, med, color=color, lw=2.2,
                label=f"{label}: median of {len(runs)} seeds")
        finals = [r["final"] for r in runs]
        summary[method] = {"seeds": [r["seed"] for r in runs], "finals": finals,
                           "median_final": float(np.median(finals)),
                           "solved": sum(f >= task["threshold"] for f in finals),
                           "seconds": [round(r["seconds"]) for r in runs],
                           "settings": runs[0]["settings"]}
    ax.axhline(task["threshold"], color="gray", ls="--", lw=1, label="solved")
    ax.set(xlabel="frames (millions)", ylabel="pick's mean return, 10 fixed episodes",
           title=f"{task['env']}: held-out seeds, same frame budget")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out = ROOT / "docs" / f"deep_ga_{task_name}.png"
    fig.savefig(out, dpi=80)
    plt.close(fig)
    summary["figure"] = str(out.relative_to(ROOT))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=sorted(TASKS), required=True)
    ap.add_argument("--method", choices=["ga", "evotorch"], default="ga")
    ap.add_argument("--seeds", type=int, nargs="+", default=[10, 11, 12, 13, 14])
    ap.add_argument("--frames", type=int, default=None, help="frame budget per run")
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="method settings instead of the task's defaults")
    ap.add_argument("--tag", default="report", help="tune or report (held-out seeds)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--plot", action="store_true", help="draw the report curves and stop")
    a = ap.parse_args()
    if a.plot:
        print(json.dumps(plot(a.task, a.out)))
        return
    import torch

    torch.set_num_threads(1)
    task = TASKS[a.task]
    frames = a.frames or task["frames"]
    every = a.eval_every or frames // 15
    settings = {**task[a.method], **_parse_set(a.set)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    done = _done(a.out)
    results = []
    for seed in a.seeds:
        row = {"task": a.task, "method": a.method, "seed": seed, "frames_budget": frames,
               "settings": settings, "tag": a.tag}
        if _key(row) in done:
            print(f"skip {a.task} {a.method} seed {seed}: already in {a.out}", flush=True)
            continue
        load = [round(x, 2) for x in os.getloadavg()]
        run = run_ga if a.method == "ga" else run_evotorch
        out = run(task, seed, frames, every, {k: v for k, v in settings.items()
                                              if a.method == "ga" or k in ("population", "stdev")})
        row.update(out, load_before=load, load_after=[round(x, 2) for x in os.getloadavg()],
                   solved=out["final"] >= task["threshold"])
        with a.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        results.append(row)
        print(f"{a.task} {a.method} seed {seed}: final {out['final']:.1f} "
              f"({'solved' if row['solved'] else 'not solved'}), {out['frames']:,} frames, "
              f"{out['seconds']:.0f} s, load {load}", flush=True)
    print(json.dumps({"task": a.task, "method": a.method, "tag": a.tag,
                      "finals": {r["seed"]: round(r["final"], 1) for r in results}}))


if __name__ == "__main__":
    main()
