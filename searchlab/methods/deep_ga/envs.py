"""Environments stepped as one batch: many episodes advance together in numpy.

Every environment here has the same small interface (:class:`BatchEnv`): ``reset(seeds)`` starts
one episode per seed and returns the observations ``(B, obs_dim)``; ``step(actions)`` advances
every episode and returns ``(obs, reward, done)``; ``keep(mask)`` drops finished rows so the
batch stays dense; ``behavior()`` is each row's behaviour characterization (for novelty search).
An environment owns its time limit: ``done`` is true at termination or truncation.

- ``CartPole-v1``, ``Acrobot-v1``, ``MountainCar-v0``: gymnasium's classic-control dynamics
  rewritten over arrays (the same constants and update order as gymnasium 1.x; a test checks
  them step by step against gymnasium). gymnasium's own vector form auto-resets finished
  episodes, which a GA does not want, and only CartPole has one; our arrays cost the same.
- ``minatar:<game>`` (breakout, asterix, freeway, seaquest, space_invaders): the ``minatar``
  package, one Python environment per row (MinAtar has no vector form), minimal action set,
  10x10xC boolean frames flattened.
- ``atari:<game>`` (e.g. ``atari:breakout``, ``atari:pong``; :data:`ATARI_GAMES`): gymnasium's
  ``ALE/<Game>-v5`` from the optional ``ale-py`` package (``pip install 'searchlab[atari]'``; the
  ROMs ship in it), one emulator per row, minimal action set, frame skip 4. The observation is the
  console's 128-byte RAM scaled to [-1, 1], not the screen: an MLP over 128 inputs keeps Atari
  fast on CPU (no image preprocessing, no convolution). Randomness is Such et al.'s protocol
  rather than v5's sticky actions: the emulator is deterministic (``repeat_action_probability=0``)
  and each episode starts from the same reset state with 0-30 no-ops drawn from its seed, so an
  episode costs no ROM reload and does not depend on what its emulator played before.
- ``maze:hard``: :mod:`.maze`, a deceptive maze in the spirit of Such et al.'s Hard Maze.

Every episode's randomness comes from its own seed, so a row's trajectory does not depend on
which batch (or worker) it was stepped in.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

CLASSIC = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")
MINATAR_GAMES = ("breakout", "asterix", "freeway", "seaquest", "space_invaders")
# Such et al.'s 13 games, and three classics
ATARI_GAMES = ("amidar", "assault", "asterix", "asteroids", "atlantis", "enduro", "frostbite",
               "gravitar", "kangaroo", "seaquest", "skiing", "venture", "zaxxon",
               "breakout", "pong", "space_invaders")


class BatchEnv(Protocol):
    obs_dim: int
    n_actions: int  # discrete actions; 0 means continuous (``act_dim`` values in [-1, 1])
    act_dim: int
    max_steps: int
    bc_dim: int

    def reset(self, seeds: np.ndarray) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def keep(self, mask: np.ndarray) -> None: ...

    def behavior(self) -> np.ndarray: ...


def _uniform_starts(seeds: np.ndarray, low: float, high: float, dims: int) -> np.ndarray:
    return np.stack([np.random.default_rng(int(s)).uniform(low, high, dims) for s in seeds])


class CartPole:
    """CartPole-v1: reward 1 per step (the terminating step included), 500 steps at most.
    The state is kept as four rows (x, x_dot, theta, theta_dot) updated in place: the GA's
    throughput is bounded by this step."""

    obs_dim, n_actions, act_dim, bc_dim = 4, 2, 1, 2
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass = masspole + masscart
    polemass_length = masspole * length
    theta_limit = 12 * 2 * math.pi / 360
    x_limit = 2.4

    def __init__(self, max_steps: int | None = None) -> None:
        self.max_steps = max_steps or 500
        self.s = np.zeros((4, 0))
        self.t = 0

    @property
    def state(self) -> np.ndarray:
        """``(B, 4)``, as gymnasium's ``env.state`` per row."""
        return self.s.T

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        self.s = np.ascontiguousarray(_uniform_starts(seeds, -0.05, 0.05, 4).T)
        self.t = 0
        return self.s.T.astype(np.float32)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.s
        theta, theta_dot = s[2], s[3]
        force = actions * (2 * self.force_mag) - self.force_mag
        cos, sin = np.cos(theta), np.sin(theta)
        temp = (force + self.polemass_length * theta_dot * theta_dot * sin) / self.total_mass
        thetaacc = (self.gravity * sin - cos * temp) / (
            self.length * (4.0 / 3.0 - self.masspole / self.total_mass * cos * cos))
        xacc = temp - self.polemass_length / self.total_mass * thetaacc * cos
        s[0] += self.tau * s[1]  # explicit Euler: positions move with the old velocities
        s[1] += self.tau * xacc
        s[2] += self.tau * s[3]
        s[3] += self.tau * thetaacc
        self.t += 1
        if self.t >= self.max_steps:
            done = np.ones(s.shape[1], dtype=bool)
        else:
            done = (np.abs(s[0]) > self.x_limit) | (np.abs(s[2]) > self.theta_limit)
        return s.T.astype(np.float32), np.ones(s.shape[1]), done

    def keep(self, mask: np.ndarray) -> None:
        self.s = self.s[:, mask]

    def behavior(self) -> np.ndarray:
        return self.s[[0, 2]].T.copy()


class MountainCar:
    """MountainCar-v0: reward -1 per step, done at the flag (x >= 0.5) or after 200 steps."""

    obs_dim, n_actions, act_dim, bc_dim = 2, 3, 1, 2
    min_x, max_x, max_speed, goal_x, force, gravity = -1.2, 0.6, 0.07, 0.5, 0.001, 0.0025

    def __init__(self, max_steps: int | None = None) -> None:
        self.max_steps = max_steps or 200
        self.state = np.zeros((0, 2))
        self.t = 0

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        x = _uniform_starts(seeds, -0.6, -0.4, 1)[:, 0]
        self.state = np.stack([x, np.zeros_like(x)], axis=1)
        self.t = 0
        return self.state.astype(np.float32)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, v = self.state.T
        v = np.clip(v + (actions - 1) * self.force + np.cos(3 * x) * (-self.gravity),
                    -self.max_speed, self.max_speed)
        x = np.clip(x + v, self.min_x, self.max_x)
        v = np.where((x == self.min_x) & (v < 0), 0.0, v)
        self.state = np.stack([x, v], axis=1)
        self.t += 1
        done = (x >= self.goal_x) & (v >= 0)
        if self.t >= self.max_steps:
            done = np.ones_like(done)
        return self.state.astype(np.float32), -np.ones(len(x)), done

    def keep(self, mask: np.ndarray) -> None:
        self.state = self.state[mask]

    def behavior(self) -> np.ndarray:
        return self.state.copy()


class Acrobot:
    """Acrobot-v1 ("book" dynamics, one RK4 step of 0.2 s): reward -1 per step until the tip
    swings above the bar, 500 steps at most."""

    obs_dim, n_actions, act_dim, bc_dim = 6, 3, 1, 2
    dt, l1, m1, m2, lc1, lc2, i1, i2, g = 0.2, 1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 1.0, 9.8
    max_vel_1, max_vel_2 = 4 * math.pi, 9 * math.pi

    def __init__(self, max_steps: int | None = None) -> None:
        self.max_steps = max_steps or 500
        self.state = np.zeros((0, 4))
        self.t = 0

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        self.state = _uniform_starts(seeds, -0.1, 0.1, 4)
        self.t = 0
        return self._obs()

    def _obs(self) -> np.ndarray:
        t1, t2, d1, d2 = self.state.T
        return np.stack([np.cos(t1), np.sin(t1), np.cos(t2), np.sin(t2), d1, d2],
                        axis=1).astype(np.float32)

    def _dsdt(self, s: np.ndarray, torque: np.ndarray) -> np.ndarray:
        m1, m2, l1, lc1, lc2, i1, i2, g = (self.m1, self.m2, self.l1, self.lc1, self.lc2,
                                           self.i1, self.i2, self.g)
        theta1, theta2, dtheta1, dtheta2 = s.T
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * np.cos(theta2)) + i1 + i2
        d2 = m2 * (lc2**2 + l1 * lc2 * np.cos(theta2)) + i2
        phi2 = m2 * lc2 * g * np.cos(theta1 + theta2 - math.pi / 2.0)
        phi1 = (-m2 * l1 * lc2 * dtheta2**2 * np.sin(theta2)
                - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * np.sin(theta2)
                + (m1 * lc1 + m2 * l1) * g * np.cos(theta1 - math.pi / 2) + phi2)
        ddtheta2 = ((torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * np.sin(theta2) - phi2)
                    / (m2 * lc2**2 + i2 - d2**2 / d1))
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return np.stack([dtheta1, dtheta2, ddtheta1, ddtheta2], axis=1)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        torque = actions.astype(np.float64) - 1.0
        s, h = self.state, self.dt
        k1 = self._dsdt(s, torque)
        k2 = self._dsdt(s + h / 2 * k1, torque)
        k3 = self._dsdt(s + h / 2 * k2, torque)
        k4 = self._dsdt(s + h * k3, torque)
        s = s + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        s[:, 0] = _wrap(s[:, 0])
        s[:, 1] = _wrap(s[:, 1])
        s[:, 2] = np.clip(s[:, 2], -self.max_vel_1, self.max_vel_1)
        s[:, 3] = np.clip(s[:, 3], -self.max_vel_2, self.max_vel_2)
        self.state = s
        self.t += 1
        done = -np.cos(s[:, 0]) - np.cos(s[:, 1] + s[:, 0]) > 1.0
        reward = np.where(done, 0.0, -1.0)
        if self.t >= self.max_steps:
            done = np.ones_like(done)
        return self._obs(), reward, done

    def keep(self, mask: np.ndarray) -> None:
        self.state = self.state[mask]

    def behavior(self) -> np.ndarray:
        t1, t2 = self.state[:, 0], self.state[:, 1]
        return np.stack([-np.cos(t1) - np.cos(t1 + t2), np.sin(t1) + np.sin(t1 + t2)], axis=1)


def _wrap(x: np.ndarray) -> np.ndarray:
    return (x + math.pi) % (2 * math.pi) - math.pi


class MinAtar:
    """A MinAtar game, one ``minatar.Environment`` per row (sticky actions 0.1, as the package's
    default); the episode is cut after ``max_steps`` steps (default 1,000)."""

    act_dim, bc_dim = 1, 2

    def __init__(self, game: str, max_steps: int | None = None) -> None:
        from minatar import Environment

        self.game = game
        self._new = lambda: Environment(game)
        probe = self._new()
        h, w, c = probe.state_shape()
        self.obs_dim = h * w * c
        self.actions = np.asarray(probe.minimal_action_set())
        self.n_actions = len(self.actions)
        self.max_steps = max_steps or 1000
        self.envs: list = []
        self.returns = np.zeros(0)
        self.t = 0

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        while len(self.envs) < len(seeds):
            self.envs.append(self._new())
        self.envs = self.envs[:len(seeds)]
        for env, seed in zip(self.envs, seeds):
            env.seed(int(seed))
            env.reset()
        self.returns = np.zeros(len(seeds))
        self.t = 0
        return self._obs()

    def _obs(self) -> np.ndarray:
        return np.stack([env.state().reshape(-1) for env in self.envs]).astype(np.float32)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        reward = np.zeros(len(self.envs))
        done = np.zeros(len(self.envs), dtype=bool)
        for i, (env, a) in enumerate(zip(self.envs, self.actions[actions])):
            reward[i], done[i] = env.act(int(a))
        self.returns += reward
        self.t += 1
        if self.t >= self.max_steps:
            done[:] = True
        return self._obs(), reward, done

    def keep(self, mask: np.ndarray) -> None:
        self.envs = [env for env, k in zip(self.envs, mask) if k]
        self.returns = self.returns[mask]

    def behavior(self) -> np.ndarray:
        return np.stack([self.returns, np.full(len(self.envs), self.t / self.max_steps)], axis=1)


class Atari:
    """An Atari game through ale-py, one emulator per row (see the module docstring); the episode
    ends when the game does or after ``max_steps`` agent steps (default 2,000, i.e. 8,000
    emulator frames)."""

    act_dim, bc_dim, obs_dim = 1, 2, 128
    frameskip, max_noops = 4, 30

    def __init__(self, game: str, max_steps: int | None = None) -> None:
        try:
            import ale_py
            import gymnasium as gym
        except ImportError:
            raise ValueError("Atari environments need the ale-py package: "
                             "pip install 'searchlab[atari]'") from None
        gym.register_envs(ale_py)
        self.game = game
        self.env_id = "ALE/" + "".join(w.capitalize() for w in game.split("_")) + "-v5"
        self._make = lambda: gym.make(self.env_id, obs_type="ram", frameskip=self.frameskip,
                                      repeat_action_probability=0.0).unwrapped
        self.envs: list = []
        self.starts: list = []
        self._grow(1)
        self.n_actions = int(self.envs[0].action_space.n)
        self.max_steps = max_steps or 2000
        self.returns = np.zeros(0)
        self.t = 0
        self.live = np.zeros(0, dtype=np.int64)  # the emulators of the live rows

    def _grow(self, n: int) -> None:
        while len(self.envs) < n:
            env = self._make()
            env.reset(seed=0)
            self.envs.append(env)
            self.starts.append(env.ale.cloneState())

    def reset(self, seeds: np.ndarray) -> np.ndarray:
        self._grow(len(seeds))
        self.live = np.arange(len(seeds))
        obs = np.zeros((len(seeds), self.obs_dim), dtype=np.float32)
        for i, seed in enumerate(seeds):
            env = self.envs[i]
            env.ale.restoreState(self.starts[i])
            for _ in range(np.random.default_rng(int(seed)).integers(self.max_noops + 1)):
                env.step(0)  # NOOP: no reward, not counted as a frame of the episode
            obs[i] = env.ale.getRAM()
        self.returns = np.zeros(len(seeds))
        self.t = 0
        return obs / np.float32(127.5) - 1

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.live)
        obs = np.zeros((n, self.obs_dim), dtype=np.float32)
        reward = np.zeros(n)
        done = np.zeros(n, dtype=bool)
        for row, (i, a) in enumerate(zip(self.live, actions)):
            obs[row], reward[row], term, trunc, _ = self.envs[i].step(int(a))
            done[row] = term or trunc
        self.returns += reward
        self.t += 1
        if self.t >= self.max_steps:
            done[:] = True
        return obs / np.float32(127.5) - 1, reward, done

    def keep(self, mask: np.ndarray) -> None:
        self.live = self.live[mask]
        self.returns = self.returns[mask]

    def behavior(self) -> np.ndarray:
        return np.stack([self.returns, np.full(len(self.live), self.t / self.max_steps)], axis=1)

    def screen(self, row: int) -> np.ndarray:
        """The RGB screen of a live row (for drawing a replay)."""
        return self.envs[self.live[row]].ale.getScreenRGB()


def make_env(name: str, max_steps: int | None = None) -> BatchEnv:
    """The batch environment called ``name`` (see the module docstring for the names)."""
    if name == "CartPole-v1":
        return CartPole(max_steps)
    if name == "MountainCar-v0":
        return MountainCar(max_steps)
    if name == "Acrobot-v1":
        return Acrobot(max_steps)
    if name.startswith("minatar:"):
        game = name.split(":", 1)[1]
        if game not in MINATAR_GAMES:
            raise ValueError(f"unknown MinAtar game {game!r}; choose one of "
                             f"{', '.join(MINATAR_GAMES)}")
        return MinAtar(game, max_steps)
    if name.startswith("atari:"):
        game = name.split(":", 1)[1]
        if game not in ATARI_GAMES:
            raise ValueError(f"unknown Atari game {game!r}; choose one of {', '.join(ATARI_GAMES)}")
        return Atari(game, max_steps)
    if name.startswith("maze:"):
        from searchlab.methods.deep_ga.maze import make_maze

        return make_maze(name.split(":", 1)[1], max_steps)
    raise ValueError(f"unknown environment {name!r}; choose one of {', '.join(ENV_NAMES)}")


def threshold(name: str, env: BatchEnv) -> float | None:
    """The return at which ``name`` counts as solved: Gymnasium's ``reward_threshold`` (CartPole-v1
    475, Acrobot-v1 -100, MountainCar-v0 -110, LunarLander-v3 200, a user's registered id's),
    or None (MinAtar, Atari, Pendulum-v1, a factory's environment without a spec)."""
    if name in CLASSIC:
        import gymnasium as gym

        return gym.spec(name).reward_threshold
    return getattr(env, "threshold", None)


def is_builtin(name: str) -> bool:
    """Whether ``name`` is one of searchlab's own environments (or names a family of them:
    ``minatar:``, ``atari:`` and ``maze:`` are reserved), not a Gymnasium id or a factory."""
    return name in CLASSIC or name.split(":", 1)[0] in ("minatar", "atari", "maze") and ":" in name


ENV_NAMES = (*CLASSIC, *(f"minatar:{g}" for g in MINATAR_GAMES),
             *(f"atari:{g}" for g in ATARI_GAMES), "maze:hard")
