"""Any Gymnasium environment, or the user's own, as a batch environment (:class:`~.envs.BatchEnv`).

``env:`` in a deep_ga study is a built-in name (:data:`~.envs.ENV_NAMES`, stepped by searchlab's
own arrays), or one of:

- a registered Gymnasium id (``Pendulum-v1``, ``LunarLander-v3``), also in Gymnasium's
  ``module:EnvId`` form, which imports ``module`` so that it registers its environments;
- ``package.module:function``, the user's factory: ``function(**env_args)`` returns a
  ``gymnasium.Env``. A reference whose name is a callable attribute of the module is a factory;
  any other ``module:name`` is a Gymnasium id.

``env_args`` are keyword arguments for ``gymnasium.make`` or the factory
(``{continuous: true}`` for LunarLander).

How the batch is stepped (``vectorize``):

- ``rows`` (:class:`GymRows`): one environment per row, reset with the row's own episode seed
  and stepped one by one while its episode lasts; finished rows leave the batch. A row's episode
  depends on its seed alone, so a GA run is the same on any number of pool workers.
  ``gymnasium.vector.SyncVectorEnv`` is the same Python loop but cannot leave finished rows out:
  it resets them (autoreset ``next_step``) or refuses to step them (``disabled``), so episodes
  of different lengths would cost the longest one's steps in every row.
- ``vector`` (:class:`GymVector`): the environment's own vector form, ``gymnasium.make_vec(id,
  num_envs=B, vectorization_mode="vector_entry_point")``, one array step for the whole batch; it
  needs an id registered with a ``vector_entry_point`` (Gymnasium's own CartPole; a user's
  environment registered with one). Finished rows are stepped on (Gymnasium resets them) and
  ignored; a vector environment takes one seed per reset, so episodes depend on how the
  population is sliced over pool workers (same run for the same number of workers).
- ``auto`` (the default): ``vector`` where the id has a vector form, else ``rows``.

Spaces: actions ``Discrete`` (the policy's argmax, plus the space's ``start``) or ``Box``
(searchlab's MLP maps ``tanh`` outputs onto the box's bounds; a user's policy module returns
actions, clipped into the box); observations any space ``gymnasium.spaces.flatten`` takes, given
to the MLP flattened and to a user's module as the ``Box``'s own shape.

Behaviour characterization (novelty search): by default the episode's final observation
(flattened); ``behavior: module:function`` is the user's, called at the end of each episode as
``function(observations, rewards)`` with the episode's observations ``(T + 1, *obs_shape)`` (the
reset observation first) and rewards ``(T,)``, returning a fixed-length vector of floats.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from searchlab.refs import RefError, first_line, import_module, load

Factory = Callable[[], Any]


@dataclass(frozen=True)
class EnvSource:
    """Where a batch environment's rows come from: a factory and, for a Gymnasium id with a
    vector form, that id."""

    make: Factory
    label: str  # for messages: the id, or "your factory m:f"
    vector_id: str | None = None  # an id with a vector_entry_point
    env_args: tuple[tuple[str, Any], ...] = ()


def source(name: str, env_args: dict[str, Any] | None = None, path: str | None = None
           ) -> EnvSource:
    """Resolve ``env`` (not a built-in name) to an :class:`EnvSource`; :class:`RefError` (one
    line) when it names nothing that makes an environment."""
    import gymnasium as gym

    args = dict(env_args or {})
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = import_module(module_name, path, name)  # registers its ids
        except ValueError as e:
            raise RefError(f"env {e}", "env") from None
        obj = getattr(module, attr, None) if attr.isidentifier() else None
        if callable(obj):  # a function or an Env class: the user's factory
            return EnvSource(lambda: obj(**args), f"your factory {name}", None,
                             tuple(sorted(args.items())))
        name = attr
    try:
        spec = gym.spec(name)
    except gym.error.Error as e:
        raise RefError(f"env {name!r} is neither a built-in environment nor a registered "
                       f"Gymnasium id ({first_line(e)}); a factory is 'package.module:function'",
                       "env") from None

    def make() -> Any:
        return gym.make(spec.id, **args)

    return EnvSource(make, spec.id, spec.id if spec.vector_entry_point else None,
                     tuple(sorted(args.items())))


# ---------------------------------------------------------------------------------- spaces
class Spaces:
    """What the GA needs to know of an environment's spaces."""

    def __init__(self, observation_space: Any, action_space: Any) -> None:
        from gymnasium import spaces

        self.observation_space, self.action_space = observation_space, action_space
        try:
            self.obs_dim = int(spaces.flatdim(observation_space))
        except (NotImplementedError, ValueError, TypeError):
            raise RefError(f"the observation space {observation_space} cannot be flattened; "
                           "Deep GA takes Box, Discrete, MultiBinary, MultiDiscrete, Tuple and "
                           "Dict observations", "env") from None
        self.obs_box = isinstance(observation_space, spaces.Box)
        self.obs_shape = tuple(observation_space.shape) if self.obs_box else (self.obs_dim,)
        if isinstance(action_space, spaces.Discrete):
            self.n_actions, self.act_dim = int(action_space.n), 1
            self.start = int(action_space.start)
            self.act_shape: tuple[int, ...] = ()
            self.low = self.high = None
        elif isinstance(action_space, spaces.Box):
            self.n_actions, self.start = 0, 0
            self.act_shape = tuple(action_space.shape)
            self.act_dim = int(np.prod(self.act_shape)) if self.act_shape else 1
            self.low = np.asarray(action_space.low, dtype=np.float64).reshape(-1)
            self.high = np.asarray(action_space.high, dtype=np.float64).reshape(-1)
        else:
            raise RefError(f"the action space {action_space} is neither Discrete nor Box; "
                           "Deep GA's policies give one of those", "env")

    @property
    def bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """The action box's bounds when every one is finite (the MLP maps ``tanh`` onto
        them), else None (actions stay in [-1, 1])."""
        if self.low is None or self.high is None:
            return None
        if not (np.isfinite(self.low).all() and np.isfinite(self.high).all()):
            return None
        return tuple(self.low.tolist()), tuple(self.high.tolist())

    def flat_obs(self, obs: Any) -> np.ndarray:
        if self.obs_box:
            return np.asarray(obs, dtype=np.float32).reshape(-1)
        from gymnasium import spaces

        return np.asarray(spaces.flatten(self.observation_space, obs), dtype=np.float32)

    def env_actions(self, actions: Any) -> list[Any]:
        """Every row's action as the environment takes it (an int, or an array clipped into
        the box), converted for the whole batch at once."""
        n = len(actions)
        if self.n_actions:
            return (np.asarray(actions, dtype=np.int64).reshape(n) + self.start).tolist()
        a = np.asarray(actions, dtype=np.float64).reshape(n, -1)
        if self.low is not None and self.high is not None:
            a = np.clip(a, self.low, self.high)
        return list(a.reshape(n, *self.act_shape).astype(self.action_space.dtype))


def builtin_spaces(env: Any) -> Spaces:
    """Gymnasium spaces for one of searchlab's own batch environments (for a user's policy
    module on CartPole, the maze, MinAtar, ...): a flat ``Box`` of observations; ``Discrete``
    actions, or a ``Box`` in [-1, 1]."""
    from gymnasium import spaces

    obs = spaces.Box(-np.inf, np.inf, (env.obs_dim,), np.float32)
    act = spaces.Discrete(env.n_actions) if env.n_actions else \
        spaces.Box(-1.0, 1.0, (env.act_dim,), np.float32)
    return Spaces(obs, act)


# ----------------------------------------------------------------------------- behaviour
class _Behavior:
    """Per-row behaviour characterizations, fixed when a row's episode ends."""

    def __init__(self, fn: Callable[..., Any] | None, spaces: Spaces, ref: str | None) -> None:
        self.fn, self.spaces, self.ref = fn, spaces, ref
        self.dim = spaces.obs_dim
        self.traces: list[tuple[list[Any], list[float]]] = []

    def probe(self, env: Any) -> None:
        """Call the user's function once on a short episode, to learn its length (and fail
        here, not in a worker)."""
        if self.fn is None:
            return
        obs, _ = env.reset(seed=0)
        out = self._call([obs], [])
        self.dim = len(out)

    def _call(self, observations: list[Any], rewards: list[float]) -> np.ndarray:
        assert self.fn is not None
        obs = np.stack([self._shaped(o) for o in observations])
        try:
            out = np.asarray(self.fn(obs, np.asarray(rewards, dtype=np.float64)),
                             dtype=np.float64).reshape(-1)
        except Exception as e:  # noqa: BLE001 - the user's function: say whose and why
            raise RefError(f"behavior {self.ref!r} raised {type(e).__name__}: {e}",
                           "behavior") from None
        if out.size == 0 or not np.isfinite(out).all():
            raise RefError(f"behavior {self.ref!r} must return a non-empty vector of finite "
                           f"floats; it returned {out!r}", "behavior")
        return out

    def _shaped(self, obs: Any) -> np.ndarray:
        if self.spaces.obs_box:
            return np.asarray(obs, dtype=np.float32)
        return self.spaces.flat_obs(obs)

    def start(self, observations: list[Any]) -> None:
        if self.fn is not None:  # copies: an environment may hand out the same buffer each step
            self.traces = [([_copy(o)], []) for o in observations]

    def record(self, row: int, obs: Any, reward: float) -> None:
        if self.fn is not None:
            self.traces[row][0].append(_copy(obs))
            self.traces[row][1].append(reward)

    def final(self, row: int, last_flat_obs: np.ndarray) -> np.ndarray:
        if self.fn is None:
            return last_flat_obs.astype(np.float64)
        out = self._call(*self.traces[row])
        if len(out) != self.dim:
            raise RefError(f"behavior {self.ref!r} returned {len(out)} values for one episode "
                           f"and {self.dim} for another; it must return a fixed length",
                           "behavior")
        return out

    def keep(self, mask: np.ndarray) -> None:
        if self.fn is not None:
            self.traces = [t for t, k in zip(self.traces, mask) if k]


def _copy(obs: Any) -> Any:
    return obs.copy() if isinstance(obs, np.ndarray) else copy.deepcopy(obs)


# ------------------------------------------------------------------------------ batches
class _GymBatch:
    """What both batch forms share: the spaces, the episode limit, the live rows and their
    behaviour characterizations. ``probe`` is one environment made from ``src``."""

    def __init__(self, src: EnvSource, probe: Any, max_steps: int | None) -> None:
        self.src = src
        self.spaces = Spaces(probe.observation_space, probe.action_space)
        self.obs_dim, self.n_actions, self.act_dim = (self.spaces.obs_dim, self.spaces.n_actions,
                                                      self.spaces.act_dim)
        self.bc_dim = self.obs_dim  # the final observation, unless the user's behaviour says
        spec = getattr(probe, "spec", None)
        self.limit = max_steps
        self.max_steps = max_steps or getattr(spec, "max_episode_steps", None) or 10**9
        self.threshold = getattr(spec, "reward_threshold", None)  # "solved" at this return
        self.last = np.zeros((0, self.obs_dim), dtype=np.float32)
        self._start(0)

    def _start(self, n: int) -> None:
        """A new batch of ``n`` rows, none finished."""
        self.live = np.arange(n)  # the environment (or vector slot) of each live row
        self.bcs = np.zeros((n, self.bc_dim))
        self.over = np.zeros(n, dtype=bool)
        self.t = 0

    @property
    def observation_space(self) -> Any:
        return self.spaces.observation_space

    @property
    def action_space(self) -> Any:
        return self.spaces.action_space

    def keep(self, mask: np.ndarray) -> None:
        self.live, self.last, self.bcs = self.live[mask], self.last[mask], self.bcs[mask]
        self.over = self.over[mask]

    def behavior(self) -> np.ndarray:
        return self.bcs.copy()


class GymRows(_GymBatch):
    """One Gymnasium environment per row (see the module docstring, ``rows``)."""

    def __init__(self, src: EnvSource, max_steps: int | None = None,
                 behavior: Callable[..., Any] | None = None, behavior_ref: str | None = None
                 ) -> None:
        first = _checked(src)
        super().__init__(src, first, max_steps)
        self.envs: list[Any] = [first]
        self._bc = _Behavior(behavior, self.spaces, behavior_ref)
        self._bc.probe(first)
        self.bc_dim = self._bc.dim
        self._start(0)

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        while len(self.envs) < len(seeds):
            self.envs.append(self.src.make())
        raw = [self.envs[i].reset(seed=int(s))[0] for i, s in enumerate(seeds)]
        self._start(len(seeds))
        self.last = np.stack([self.spaces.flat_obs(o) for o in raw]) if len(raw) else \
            np.zeros((0, self.obs_dim), dtype=np.float32)
        self._bc.start(raw)
        return self.last.copy()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.live)
        reward = np.zeros(n)
        done = np.zeros(n, dtype=bool)
        self.t += 1
        cut = self.limit is not None and self.t >= self.limit
        acts = self.spaces.env_actions(actions)
        box = self.spaces.obs_box
        for row, i in enumerate(self.live.tolist()):
            if self.over[row]:  # finished, not yet dropped: not stepped past its end
                done[row] = True
                continue
            obs, r, term, trunc, _ = self.envs[i].step(acts[row])
            self.last[row] = np.reshape(obs, -1) if box else self.spaces.flat_obs(obs)
            reward[row] = float(r)
            done[row] = term or trunc or cut
            self._bc.record(row, obs, reward[row])
            if done[row]:
                self.bcs[row] = self._bc.final(row, self.last[row])
                self.over[row] = True
        return self.last.copy(), reward, done

    def keep(self, mask: np.ndarray) -> None:
        super().keep(mask)
        self._bc.keep(mask)

    def render_row(self) -> Any:
        """The first row's frame, when its environment renders (``render_mode='rgb_array'``)."""
        return self.envs[self.live[0] if len(self.live) else 0].render()


class GymVector(_GymBatch):
    """The environment's own vector form (see the module docstring, ``vector``)."""

    def __init__(self, src: EnvSource, max_steps: int | None = None,
                 behavior: Callable[..., Any] | None = None, behavior_ref: str | None = None
                 ) -> None:
        assert src.vector_id is not None
        if behavior is not None:
            raise RefError("behavior: a user's behaviour characterization needs each row's "
                           "episode; use vectorize: rows with it", "behavior")
        probe = _checked(src)
        super().__init__(src, probe, max_steps)
        probe.close()
        self.vecs: dict[int, Any] = {}
        self.vec: Any = None
        self.size = 0

    def _flat(self, obs: Any) -> np.ndarray:
        return np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        import gymnasium as gym

        if len(seeds) not in self.vecs:  # one per batch size (population, elite candidates)
            self.vecs[len(seeds)] = gym.make_vec(self.src.vector_id, num_envs=len(seeds),
                                                 vectorization_mode="vector_entry_point",
                                                 **dict(self.src.env_args))
        self.vec, self.size = self.vecs[len(seeds)], len(seeds)
        obs, _ = self.vec.reset(seed=int(seeds[0]) if len(seeds) else None)
        self._start(len(seeds))
        self.last = self._flat(obs)
        return self.last.copy()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        full = np.zeros((self.size, *np.shape(actions)[1:]), dtype=np.asarray(actions).dtype)
        full[self.live] = actions
        if self.n_actions:
            act = full.astype(np.int64) + self.spaces.start
        else:
            act = np.clip(full.reshape(self.size, -1), self.spaces.low, self.spaces.high)
            act = act.reshape(self.size, *self.spaces.act_shape).astype(
                self.spaces.action_space.dtype)
        obs, reward, term, trunc, _ = self.vec.step(act)
        self.t += 1
        self.last = self._flat(obs)[self.live]
        done = (np.asarray(term) | np.asarray(trunc))[self.live]
        if self.limit is not None and self.t >= self.limit:
            done[:] = True
        ended = done & ~self.over
        self.bcs[ended] = self.last[ended]
        reward = np.where(self.over, 0.0, np.asarray(reward, dtype=np.float64)[self.live])
        self.over |= done
        return self.last.copy(), reward, done | self.over


def _checked(src: EnvSource) -> Any:
    """One environment from the source, or a RefError saying why not."""
    try:
        env = src.make()
    except RefError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's factory or gymnasium.make: say why
        raise RefError(f"env {src.label}: making the environment raised {type(e).__name__}: "
                       f"{first_line(e)}", "env") from None
    if not all(hasattr(env, k) for k in ("reset", "step", "observation_space", "action_space")):
        raise RefError(f"env {src.label} returned a {type(env).__name__}, not a gymnasium.Env "
                       "(reset, step, observation_space, action_space)", "env")
    return env


def make_gym_env(name: str, env_args: dict[str, Any] | None = None, max_steps: int | None = None,
                 *, behavior: str | None = None, path: str | None = None,
                 vectorize: str = "auto") -> GymRows | GymVector:
    """The batch environment for a Gymnasium id or a user's factory (module docstring)."""
    src = source(name, env_args, path)
    fn = load(behavior, path, "behavior") if behavior else None
    if fn is not None and not callable(fn):
        raise RefError(f"behavior {behavior!r} is not callable", "behavior")
    if vectorize == "vector" and src.vector_id is None:
        raise RefError(f"env {src.label} has no vector form (a vector_entry_point); use "
                       "vectorize: rows or auto", "vectorize")
    if src.vector_id is not None and vectorize != "rows" and fn is None:
        return GymVector(src, max_steps)
    return GymRows(src, max_steps, fn, behavior)
