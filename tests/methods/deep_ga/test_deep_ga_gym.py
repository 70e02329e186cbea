"""Deep GA on Gymnasium environments and the user's own code (issue 21): rows that replay
Gymnasium exactly, a vector form, the user's factory, torch module policy and behaviour, the
compact encoding with them, and errors that name the key."""

from __future__ import annotations

import textwrap

import gymnasium as gym
import numpy as np
import pytest
import torch
from deep_ga_helpers import SlicedPool

from searchlab.methods.deep_ga.algorithm import DeepGA, problem_of
from searchlab.methods.deep_ga.encoding import WeightsCache, decode
from searchlab.methods.deep_ga.gym_envs import GymRows, GymVector, make_gym_env
from searchlab.methods.deep_ga.settings import GAConfig
from searchlab.refs import RefError
from searchlab.workloads.api import SerialPool

USER_CODE = '''
import gymnasium as gym
import numpy as np
import torch
from torch import nn


class Walk(gym.Env):
    """Reach +1 on a line: continuous steps in [-0.2, 0.2], reward -|x - 1| per step."""

    def __init__(self, start_spread=0.5, steps=30):
        self.observation_space = gym.spaces.Box(-5, 5, (2,), np.float32)
        self.action_space = gym.spaces.Box(-0.2, 0.2, (1,), np.float32)
        self.spread, self.steps = start_spread, steps

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = float(self.np_random.uniform(-self.spread, self.spread)), 0
        return np.array([self.x, 0.0], np.float32), {}

    def step(self, action):
        self.x += float(np.clip(action[0], -0.2, 0.2))
        self.t += 1
        obs = np.array([self.x, self.t / self.steps], np.float32)
        return obs, -abs(self.x - 1.0), abs(self.x - 1.0) < 0.05, self.t >= self.steps, {}


def make_walk(**kwargs):
    return Walk(**kwargs)


def make_choice():
    return gym.make("CartPole-v1")


class Shift(gym.Env):
    """Discrete(3, start=-1): the action itself is the reward."""

    observation_space = gym.spaces.Box(-1, 1, (1,), np.float32)
    action_space = gym.spaces.Discrete(3, start=-1)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), float(action), False, self.t >= 3, {}


def policy(observation_space, action_space):
    return nn.Sequential(nn.Linear(observation_space.shape[0], 8), nn.Tanh(),
                         nn.Linear(8, action_space.shape[0]))


def scores(observation_space, action_space):
    return nn.Sequential(nn.Linear(observation_space.shape[0], 4), nn.ReLU(),
                         nn.Linear(4, action_space.n))


def wrong_output(observation_space, action_space):
    return nn.Linear(observation_space.shape[0], 5)


def furthest(observations, rewards):
    return [float(observations[:, 0].max()), float(len(rewards))]
'''


@pytest.fixture()
def user_dir(tmp_path, monkeypatch):
    """A directory holding the user's module (a fresh name per test: no import cache)."""
    name = f"user_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_CODE)
    yield tmp_path, name


def test_rows_replay_gymnasium_step_for_step() -> None:
    env = make_gym_env("Pendulum-v1", vectorize="rows")
    assert isinstance(env, GymRows) and env.max_steps == 200 and env.act_dim == 1
    seeds = np.array([3, 4, 5])
    obs = env.reset(seeds)
    theirs = [gym.make("Pendulum-v1") for _ in seeds]
    for e, s, o in zip(theirs, seeds, obs):
        np.testing.assert_array_equal(e.reset(seed=int(s))[0], o)
    rng = np.random.default_rng(0)
    for _ in range(20):
        actions = rng.uniform(-3, 3, size=(3, 1))  # clipped into [-2, 2] as gymnasium would
        obs, reward, done = env.step(actions)
        for i, e in enumerate(theirs):
            o, r, term, trunc, _ = e.step(np.clip(actions[i], -2, 2).astype(np.float32))
            np.testing.assert_array_equal(o, obs[i])
            assert r == pytest.approx(reward[i]) and done[i] == (term or trunc)


def test_a_rows_episode_depends_on_its_seed_alone() -> None:
    env = make_gym_env("Pendulum-v1")
    a = env.reset(np.array([5, 6, 7]))
    b = env.reset(np.array([7, 5]))
    np.testing.assert_array_equal(a[[2, 0]], b)


def test_the_vector_form_when_gymnasium_has_one() -> None:
    gym.register("searchlab-test/VecCartPole-v1",
                 entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv",
                 vector_entry_point="gymnasium.envs.classic_control.cartpole:CartPoleVectorEnv",
                 max_episode_steps=500)
    env = make_gym_env("searchlab-test/VecCartPole-v1")
    assert isinstance(env, GymVector)
    assert isinstance(make_gym_env("searchlab-test/VecCartPole-v1", vectorize="rows"), GymRows)
    with pytest.raises(RefError, match="no vector form"):
        make_gym_env("Pendulum-v1", vectorize="vector")
    config = GAConfig(env="searchlab-test/VecCartPole-v1", population=16, truncation=4,
                      elite_candidates=2, elite_episodes=2, generations=2, max_steps=80)
    history = DeepGA(config, 0).run()
    assert 0 < history[-1].elite_score <= 80
    # a finished row is not counted past its end: every return is at most its length
    env.reset(np.arange(6))
    total, steps = np.zeros(6), 0
    while steps < 600:
        _, r, done = env.step(np.zeros(len(env.live), dtype=np.int64))
        total[env.live] += r
        steps += 1
        if done.all():
            break
    assert (total <= steps).all() and total.min() < steps  # always pushing left ends early


def test_the_users_factory_policy_and_behaviour(user_dir) -> None:
    path, mod = user_dir
    config = GAConfig(env=f"{mod}:make_walk", env_args={"steps": 20}, policy=f"{mod}:policy",
                      behavior=f"{mod}:furthest", novelty_weight=0.5, archive_prob=0.5,
                      path=str(path), population=24, truncation=5, elite_candidates=3,
                      elite_episodes=2, generations=4, sigma=0.1)
    ga = DeepGA(config, 3)
    history = ga.run()
    points = ga.archive.points
    assert points.shape[1] == 2 and len(points) > 10  # the user's behaviour has two values
    assert ((points[:, 1] >= 1) & (points[:, 1] <= 20)).all()  # the second: episode length
    assert -20 * 1.5 <= history[-1].elite_score <= 0  # at most 1.5 from +1 for 20 steps
    assert history[-1].frames > 0 and history[-1].best_novelty > 0
    env = ga.problem.make_env()
    assert isinstance(env, GymRows) and env.max_steps == 10**9 and env.bc_dim == 2
    behavior = ga.behavior
    assert behavior.shape == (24, 2) and (behavior[:, 1] >= 1).all()  # episode lengths


def test_same_run_on_one_and_two_workers_with_user_code(user_dir) -> None:
    path, mod = user_dir
    config = GAConfig(env=f"{mod}:make_walk", policy=f"{mod}:policy", path=str(path),
                      population=20, truncation=4, elite_candidates=2, elite_episodes=2,
                      episodes=2, generations=3, sigma=0.1)
    runs = []
    for pool in (SerialPool(), SlicedPool(2), SlicedPool(3)):
        ga = DeepGA(config, 5, pool)
        history = ga.run()
        runs.append(([(g.best_score, g.mean_score, g.elite_score, g.frames) for g in history],
                     ga.elite))
    assert runs[0] == runs[1] == runs[2]


def test_module_policy_rows_match_the_module_itself(user_dir) -> None:
    path, mod = user_dir
    problem = problem_of(GAConfig(env=f"{mod}:make_walk", policy=f"{mod}:policy",
                                  path=str(path)))
    env = problem.make_env()
    policy = problem.policy(env)
    state = torch.random.get_rng_state()
    a, b = policy.init(7), policy.init(7)
    assert torch.equal(state, torch.random.get_rng_state())  # the global generator untouched
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, policy.init(8)) and a.dtype == np.float32
    genomes = [(1,), (2, 9), (3,)]
    params = np.stack([decode(g, policy, 0.1) for g in genomes])
    obs = np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32)
    actions = policy.act(params, obs)
    for i in range(3):  # the same parameters loaded into the user's module, one row at a time
        module = policy.factory(env.observation_space, env.action_space)
        torch.nn.utils.vector_to_parameters(torch.from_numpy(params[i]), module.parameters())
        expect = module(torch.from_numpy(obs[i:i + 1]))[0].detach().numpy()
        np.testing.assert_allclose(actions[i], np.clip(expect, -0.2, 0.2), rtol=1e-5, atol=1e-6)
    cache = WeightsCache(policy, 0.1)
    np.testing.assert_array_equal(cache.get((2, 9)), params[1])  # the compact encoding holds


def test_discrete_actions_and_a_start_offset(user_dir) -> None:
    path, mod = user_dir
    env = make_gym_env(f"{mod}:Shift", path=str(path))  # an Env class is a factory too
    env.reset(np.array([0, 1]))
    _, reward, _ = env.step(np.array([0, 2]))
    assert reward.tolist() == [-1.0, 1.0]
    config = GAConfig(env=f"{mod}:Shift", policy=f"{mod}:scores", path=str(path), population=8,
                      truncation=2, elite_candidates=1, elite_episodes=1, generations=3)
    ga = DeepGA(config, 0)
    ga.run()
    assert ga.elite_score == 3.0  # always the top action, +1 for 3 steps


def test_user_policy_on_a_built_in_environment(user_dir) -> None:
    path, mod = user_dir
    config = GAConfig(env="CartPole-v1", policy=f"{mod}:scores", path=str(path), population=16,
                      truncation=4, elite_candidates=2, elite_episodes=2, generations=2,
                      max_steps=50)
    assert DeepGA(config, 0).run()[-1].elite_score > 0


@pytest.mark.parametrize("settings, key, message", [
    ({"env": "Pendulum-v9"}, "env", "neither a built-in environment nor a registered"),
    ({"env": "{mod}:nothing"}, "env", "neither a built-in environment nor a registered"),
    ({"env": "no_such_module_x:make"}, "env", "cannot import module 'no_such_module_x'"),
    ({"env": "{mod}:make_walk", "policy": "{mod}:missing"}, "policy", "has no 'missing'"),
    ({"env": "{mod}:make_walk", "policy": "{mod}:scores"}, "policy", "building the module"),
    ({"env": "{mod}:make_walk", "policy": "{mod}:wrong_output"}, "policy", "returned shape"),
    ({"env": "{mod}:make_walk", "env_args": {"nope": 1}}, "env", "unexpected keyword"),
    ({"env": "{mod}:make_walk", "behavior": "{mod}:scores"}, "behavior", "behavior"),
])
def test_preflight_names_the_key_and_its_line(user_dir, settings, key, message, capsys) -> None:
    from searchlab.cli import main

    path, mod = user_dir
    lines = ["name: bad-ga", "method:", "  name: deep_ga"]
    for k, v in settings.items():
        text = v.replace("{mod}", mod) if isinstance(v, str) else v
        lines.append(f"  {k}: {text}")
    lines += ["  population: 8", "  truncation: 2", "  generations: 1"]
    study = path / "study.yaml"
    study.write_text("\n".join(lines) + "\n")
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err
    line = 4 + list(settings).index(key) if key in settings else 4
    assert f"study.yaml:{line}: method.{key}:" in err, err
    assert message in err and "Traceback" not in err, err


def test_path_is_relative_to_the_study_file(user_dir, tmp_path, monkeypatch, capsys) -> None:
    from searchlab.cli import main

    path, mod = user_dir
    code = path / "code"
    code.mkdir()
    (path / f"{mod}.py").rename(code / f"{mod}.py")
    study = path / "study.yaml"
    study.write_text(textwrap.dedent(f"""\
        name: walk
        method:
          name: deep_ga
          env: {mod}:make_walk
          policy: {mod}:policy
          path: code
          population: 8
          truncation: 2
          generations: 1
        """))
    monkeypatch.chdir("/")
    assert main(["validate", str(study)]) == 0, capsys.readouterr()
    study.write_text(study.read_text().replace("path: code", "path: elsewhere"))
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err
    assert "study.yaml:6: method.path: directory 'elsewhere' not found (relative paths start " \
        f"at the study file's directory: looked in {path}" in err


def test_settings_refuse_what_they_would_ignore() -> None:
    with pytest.raises(ValueError, match="your module decides its own layers"):
        GAConfig(env="Pendulum-v1", policy="m:f", hidden=(4,))
    with pytest.raises(ValueError, match="is a built-in"):
        GAConfig(env="CartPole-v1", env_args={"x": 1})
    with pytest.raises(ValueError, match="package.module:name"):
        GAConfig(env="Pendulum-v1", behavior="nocolon")
