"""Before a Deep GA study starts: build its environment and policy once and play one step.

:func:`check_problem` is the method's preflight (``searchlab validate`` and ``searchlab run``):
it imports the user's environment factory, policy module and behaviour function (from the
study's ``path``, made absolute when the study file was read), makes one environment,
builds the policy from its spaces, runs one forward pass and one environment step, and calls the
behaviour function. Whatever fails is one line with the study key it came from
(:class:`~searchlab.refs.RefError`), which the caller turns into ``file:line``, before Ray or
MLflow start and before any trial could fail the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from searchlab.methods.deep_ga.envs import is_builtin
from searchlab.methods.deep_ga.settings import GAConfig
from searchlab.refs import RefError, first_line


def check_problem(config: GAConfig) -> str:
    """Build and try ``config``'s environment and policy; returns one line describing them.
    Raises :class:`RefError` (with ``loc``) on the first thing that does not work."""
    from searchlab.methods.deep_ga.algorithm import problem_of

    if is_builtin(config.env) and config.policy is None:
        return f"{config.env}, searchlab's MLP"
    problem = problem_of(config)
    try:
        env = problem.make_env()
    except RefError:
        raise
    except Exception as e:  # noqa: BLE001 - gymnasium or the user's code: one line, no trace
        raise RefError(f"env {config.env!r}: {type(e).__name__}: {first_line(e)}", "env") \
            from None
    policy = problem.policy(env)
    params = policy.init(0)[None, :]
    obs = env.reset(np.array([0]))
    actions = policy.act(params, obs)
    try:
        env.step(actions)
    except RefError:
        raise
    except Exception as e:  # noqa: BLE001 - the action the policy gave does not fit the env
        raise RefError(f"env {config.env!r} refused the policy's action {actions[0]!r}: "
                       f"{type(e).__name__}: {first_line(e)}",
                       "policy" if config.policy else "env") from None
    return f"{config.env}: {_spaces(env)}; policy {_policy(config, policy)}"


def _spaces(env: Any) -> str:
    spaces = getattr(env, "spaces", None)
    if spaces is None:
        return f"{env.obs_dim} observations, " + (
            f"{env.n_actions} actions" if env.n_actions else f"{env.act_dim} continuous actions")
    return f"observations {spaces.observation_space}, actions {spaces.action_space}"


def _policy(config: GAConfig, policy: Any) -> str:
    if config.policy is not None:
        return f"{config.policy} ({policy.n_params:,} weights)"
    return f"MLP {'-'.join(str(s) for s in policy.sizes)} ({policy.n_params:,} weights)"

