"""The workload of one GA run (one trial): one report per generation.

Each report holds ``generation``, ``best_score``, ``mean_score``, ``elite_score``, ``frames``,
``wall_time``, ``archive_size``, ``best_novelty``, ``best_ever``, ``frames_per_s`` (and, in the
maze, ``solved``: 1 once any individual reached the goal). The last report of a run that spends
its budget adds ``final_score``: the elite's mean over ``final_episodes`` fresh episodes; and,
where a threshold is known (the environment's own, :func:`.envs.threshold`, else the study's
``target_score``), ``threshold`` and ``solved``: 1 when ``final_score`` (without final
episodes, ``elite_score``) reaches it.

After every generation the elite's seed list is kept as the trial artifact ``elite.json``
(:data:`ELITE_FILE`, under ``<trial_dir>/artifacts/``; a few hundred bytes), so a run stopped
early still leaves its elite; it is what :mod:`.replay` plays. The GA's state (a few KB) is
checkpointed every generation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from searchlab.methods.deep_ga.algorithm import DeepGA, generation_metrics
from searchlab.methods.deep_ga.envs import threshold
from searchlab.methods.deep_ga.settings import GAConfig
from searchlab.workloads.api import Context

ELITE_FILE = "elite.json"
ARTIFACTS = "artifacts"  # as searchlab.workloads.api.ARTIFACTS
REFERENCE = "searchlab.methods.deep_ga.workload:deep_ga_workload"


def ga_config(config: dict[str, Any]) -> GAConfig:
    """The GA settings inside a trial config (other keys, such as ``seed``, are ignored)."""
    return GAConfig.model_validate({k: v for k, v in config.items() if k in GAConfig.model_fields})


def elite_record(ga: DeepGA, seed: int) -> dict[str, Any]:
    """The elite as a replayable record: the problem and the seed list (and, for a Gymnasium
    or user environment, its arguments, the user's policy and the directory of their code)."""
    c = ga.config
    record = {"env": c.env, "hidden": list(c.hidden), "activation": c.activation,
              "sigma": c.sigma, "max_steps": c.max_steps, "genome": list(ga.elite or ()),
              "elite_score": ga.elite_score, "generation": ga.generation,
              "n_params": ga.n_params, "run_seed": seed}
    extra = {"env_args": c.env_args or None, "policy": c.policy, "behavior": c.behavior,
             "vectorize": c.vectorize if c.vectorize != "auto" else None,
             "path": c.path if c.uses_code else None}
    return {**record, **{k: v for k, v in extra.items() if v is not None}}


def deep_ga_workload(config: dict[str, Any], ctx: Context) -> Iterator[dict[str, float]]:
    cfg = ga_config(config)
    seed = int(config.get("seed", ctx.seed))
    ga = DeepGA(cfg, seed, ctx.pool, ctx.device)
    if ctx.restored:
        ga.restore(ctx.restored)
    env = ga.problem.make_env()
    solved = getattr(env, "solved", None)  # the maze: has any individual reached the goal
    own = threshold(cfg.env, env)  # the environment's "solved"; else the study's target
    target = own if own is not None else cfg.target_score
    limit = min(cfg.generations, ctx.max_epochs)
    while ga.generation < limit and not ga.finished:
        metrics = generation_metrics(ga.step())
        metrics["best_ever"] = ga.best_ever
        metrics["frames_per_s"] = ga.frames / max(ga.wall_time, 1e-9)
        if solved is not None:
            metrics["solved"] = float(solved(ga.best_ever))
        _artifact(ctx, ELITE_FILE, json.dumps(elite_record(ga, seed)))
        if ga.generation >= limit or ga.finished:
            if cfg.final_episodes > 0:
                metrics["final_score"] = ga.final_evaluation(cfg.final_episodes).score
            if solved is None and target is not None:
                metrics["threshold"] = float(target)
                metrics["solved"] = float(metrics.get("final_score", ga.elite_score) >= target)
        ctx.checkpoint(ga.state())
        yield metrics


def _artifact(ctx: Context, name: str, text: str) -> None:
    """``ctx.artifact`` (the trial's files that go to MLflow); this tree's Context predates it,
    so write the same file by hand there."""
    if hasattr(ctx, "artifact"):
        ctx.artifact(name, text)
    elif ctx.trial_dir:
        folder = os.path.join(ctx.trial_dir, ARTIFACTS)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
