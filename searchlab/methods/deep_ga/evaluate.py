"""The worker side: rebuild individuals from seeds and play their episodes as one batch.

:func:`evaluate_batch` is what the GA hands to ``ctx.pool.map_batches``: it receives a slice of
:class:`Task` items (a genome and the seeds of its episodes; nothing larger crosses the process
boundary) and returns one :class:`Evaluation` per task. Per worker it keeps, in the pool's cache,
the batch environment and a :class:`~.encoding.WeightsCache` per problem.

:func:`rollout` steps every episode of every individual together: one batched forward pass and
one environment step per time step; finished rows are dropped once a quarter of the batch has
finished, so late steps stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from searchlab.methods.deep_ga.encoding import Genome, WeightsCache
from searchlab.methods.deep_ga.envs import BatchEnv, is_builtin, make_env
from searchlab.methods.deep_ga.policies import Policy


@dataclass(frozen=True)
class Problem:
    """What a worker needs to evaluate genomes: environment, policy layout, sigma, device; for a
    Gymnasium or user environment (:mod:`.gym_envs`) its arguments, the user's policy module
    (:mod:`.modules`) and behaviour function, and the directory their modules import from."""

    env: str
    hidden: tuple[int, ...] = ()
    activation: str = "tanh"
    sigma: float = 0.05
    max_steps: int | None = None
    backend: str = "numpy"
    device: str = "cpu"
    cache_mb: int = 256
    env_args: tuple[tuple[str, Any], ...] = ()
    policy_ref: str | None = None
    behavior: str | None = None
    path: str | None = None
    vectorize: str = "auto"

    def make_env(self) -> BatchEnv:
        if is_builtin(self.env):
            return make_env(self.env, self.max_steps)
        from searchlab.methods.deep_ga.gym_envs import make_gym_env

        return make_gym_env(self.env, dict(self.env_args), self.max_steps,
                            behavior=self.behavior, path=self.path, vectorize=self.vectorize)

    def policy(self, env: BatchEnv, device: str = "cpu") -> Any:
        """The policy for ``env``: the user's module (``policy_ref``) or the MLP."""
        spaces = getattr(env, "spaces", None)
        if self.policy_ref is not None:
            from searchlab.methods.deep_ga.gym_envs import builtin_spaces
            from searchlab.methods.deep_ga.modules import ModulePolicy
            from searchlab.refs import load

            factory = load(self.policy_ref, self.path, "policy", call=True)
            return ModulePolicy(factory, spaces or builtin_spaces(env), self.policy_ref, device)
        out = env.n_actions or env.act_dim
        bounds = spaces.bounds if spaces is not None else None
        low, high = bounds if bounds is not None else (None, None)
        return Policy(env.obs_dim, tuple(self.hidden), out, env.n_actions > 0, self.activation,
                      low, high)


@dataclass(frozen=True)
class Task:
    problem: Problem
    genome: Genome
    episode_seeds: tuple[int, ...]


@dataclass(frozen=True)
class Evaluation:
    score: float  # mean return over the task's episodes
    behavior: tuple[float, ...]  # mean behaviour characterization
    frames: int
    returns: tuple[float, ...] = ()


def rollout(env: BatchEnv, policy: Policy, params: Any, seeds: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Play one episode per row (``params[i]`` with ``seeds[i]``) to the end.
    Returns each row's return, behaviour characterization and length (frames played)."""
    n = len(seeds)
    returns, lengths = np.zeros(n), np.zeros(n, dtype=np.int64)
    behavior = np.zeros((n, env.bc_dim))
    rows = np.arange(n)  # original index of each live row
    ret, length = np.zeros(n), np.zeros(n, dtype=np.int64)  # of the live rows
    alive = np.ones(n, dtype=bool)
    on_torch = not isinstance(params, np.ndarray)
    layers = policy.layers(params)
    obs = env.reset(np.asarray(seeds))
    while True:
        x = obs if not on_torch else _to_torch(obs, params)
        obs, reward, done = env.step(policy.forward(layers, x))
        ret += reward * alive
        length += alive
        ended = done & alive
        if ended.any():
            behavior[rows[ended]] = env.behavior()[ended]
            alive &= ~done
            if not alive.any():
                returns[rows], lengths[rows] = ret, length
                return returns, behavior, lengths
            if alive.sum() <= 0.75 * len(alive):  # drop the finished rows
                returns[rows], lengths[rows] = ret, length
                rows, obs, ret, length = rows[alive], obs[alive], ret[alive], length[alive]
                params = params[_index(alive, params)]
                layers = policy.layers(params)
                env.keep(alive)
                alive = np.ones(len(rows), dtype=bool)


def _to_torch(obs: np.ndarray, like: Any) -> Any:
    import torch

    return torch.from_numpy(obs).to(like.device)


def _index(mask: np.ndarray, like: Any) -> Any:
    if isinstance(like, np.ndarray):
        return mask
    import torch

    return torch.from_numpy(mask).to(like.device)


def _worker_state(cache: dict[str, Any], problem: Problem) -> tuple[BatchEnv, Policy, WeightsCache]:
    key = f"deep_ga:{problem!r}"
    if key not in cache:
        env = problem.make_env()
        policy = problem.policy(env, _device(cache, problem))
        cache[key] = (env, policy, WeightsCache(policy, problem.sigma, problem.cache_mb * 2**20))
    return cache[key]


def _device(cache: dict[str, Any], problem: Problem) -> str:
    """The torch backend's device: the trial's GPU, else the worker's own (a Ray pool worker
    given a GPU); the numpy backend runs on the CPU."""
    if problem.backend != "torch":
        return "cpu"
    return problem.device if problem.device != "cpu" else cache.get("device", "cpu")


def evaluate_batch(cache: dict[str, Any], tasks: list[Task]) -> list[Evaluation]:
    """Evaluate a slice of tasks (all of one problem) in one batched rollout."""
    if not tasks:
        return []
    problem = tasks[0].problem
    env, policy, weights = _worker_state(cache, problem)
    rows = [(i, s) for i, t in enumerate(tasks) for s in t.episode_seeds]
    owner = np.array([i for i, _ in rows])
    seeds = np.array([s for _, s in rows], dtype=np.int64)
    flat = np.stack([weights.get(t.genome) for t in tasks])[owner]
    params: Any = flat
    if problem.backend == "torch":
        import torch

        params = torch.from_numpy(flat).to(_device(cache, problem))
    returns, behavior, lengths = rollout(env, policy, params, seeds)
    out = []
    for i in range(len(tasks)):
        mine = owner == i
        out.append(Evaluation(float(returns[mine].mean()), tuple(behavior[mine].mean(0).tolist()),
                              int(lengths[mine].sum()), tuple(returns[mine].tolist())))
    return out
