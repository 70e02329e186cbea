"""A tiny Deep GA study through the CLI: Ray Tune runs the GA runs (pool on 2 workers), MLflow
gets one report per generation and the elite's seed list.

Needs the ask/tell adapter (TrialRequest.workload/resources, the pool on workers, trial files as
artifacts); before that lands the old runner cannot run a method without ``plan()``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from searchlab.methods.deep_ga.replay import main as replay_main

pytestmark = pytest.mark.slow

STUDY = """
name: deep-ga-e2e
method:
  name: deep_ga
  env: CartPole-v1
  hidden: [4]
  population: 32
  truncation: 5
  elite_candidates: 3
  elite_episodes: 3
  generations: 4
  max_steps: 100
  final_episodes: 5
  seeds: 2
resources: {cpu: 0.5, workers: 2, worker_cpu: 0.5}   # 1.5 CPUs: fits a 2-core machine
budget: {concurrency: 1}
tracking: {uri: "sqlite:///%s"}
"""


def test_deep_ga_study_through_ray_and_mlflow(tmp_path) -> None:
    import mlflow

    db = tmp_path / "mlflow.db"
    path = tmp_path / "ga.yaml"
    path.write_text(textwrap.dedent(STUDY) % db)
    env = {**os.environ, "RAY_AIR_NEW_OUTPUT": "0"}
    proc = subprocess.run([sys.executable, "-m", "searchlab", "run", str(path), "--storage",
                           str(tmp_path / "store"), "--quiet"], env=env, capture_output=True,
                          text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    client = mlflow.MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("deep-ga-e2e")
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.data.params["seed"] for r in children) == ["0", "1"]
    for r in children:
        history = client.get_metric_history(r.info.run_id, "elite_score")
        assert len(history) == 4
        frames = client.get_metric_history(r.info.run_id, "frames")
        assert ([m.value for m in sorted(frames, key=lambda m: m.step)]
                == sorted(m.value for m in frames))
        assert "final_score" in r.data.metrics
        artifacts = [a.path for a in client.list_artifacts(r.info.run_id, "trial")]
        assert "trial/elite.json" in artifacts, artifacts
        local = client.download_artifacts(r.info.run_id, "trial/elite.json", str(tmp_path))
        assert replay_main([local, "--frames", "2"]) == 0


def test_same_run_on_one_and_two_ray_pool_workers(ray_cluster) -> None:
    """Deterministic reproduction across real worker processes: the same seed gives the same
    generations and the same elite in-process, on 1 Ray pool worker and on 2."""
    from searchlab.execution.pool import RayPool
    from searchlab.methods.deep_ga.algorithm import DeepGA
    from searchlab.methods.deep_ga.settings import GAConfig
    from searchlab.workloads.api import SerialPool

    config = GAConfig(env="CartPole-v1", hidden=(4,), population=24, truncation=5, sigma=0.1,
                      elite_candidates=3, elite_episodes=2, generations=3, max_steps=60)
    runs, sizes = [], []
    for pool in (SerialPool(), RayPool(1, worker_cpu=1), RayPool(2, worker_cpu=1)):
        try:
            ga = DeepGA(config, 11, pool)
            history = ga.run()
            sizes.append(pool.size)
        finally:
            if isinstance(pool, RayPool):
                pool.close()
        runs.append(([(g.best_score, g.mean_score, g.elite_score, g.frames) for g in history],
                     ga.elite, ga.parents))
    assert sizes == [1, 1, 2]
    assert runs[0] == runs[1] == runs[2]
    assert runs[0][0][-1][3] > 0 and len(runs[0][1]) >= 1


USER_MODULE = '''
import gymnasium as gym
from torch import nn


def make_env():
    return gym.make("Pendulum-v1")


def policy(observation_space, action_space):
    return nn.Sequential(nn.Linear(observation_space.shape[0], 4), nn.Tanh(),
                         nn.Linear(4, action_space.shape[0]))
'''


def test_user_env_and_policy_on_ray_pool_workers(ray_cluster, tmp_path) -> None:
    """Ray workers import the user's module from `path` (not on their sys.path otherwise) and
    give the same run as the calling process."""
    from searchlab.execution.pool import RayPool
    from searchlab.methods.deep_ga.algorithm import DeepGA
    from searchlab.methods.deep_ga.settings import GAConfig
    from searchlab.workloads.api import SerialPool

    name = f"ga_user_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    config = GAConfig(env=f"{name}:make_env", policy=f"{name}:policy", path=str(tmp_path),
                      population=12, truncation=3, elite_candidates=2, elite_episodes=1,
                      generations=2, max_steps=30, sigma=0.1)
    runs = []
    for pool in (SerialPool(), RayPool(2, worker_cpu=1)):
        try:
            ga = DeepGA(config, 4, pool)
            runs.append(([(g.best_score, g.elite_score, g.frames) for g in ga.run()], ga.elite))
        finally:
            if isinstance(pool, RayPool):
                pool.close()
    assert runs[0] == runs[1]
    # every episode cut at 30 steps: 12 individuals, then 2 elite candidates (3 with the old elite)
    assert runs[0][0][-1][2] == 2 * 12 * 30 + (2 + 3) * 30
