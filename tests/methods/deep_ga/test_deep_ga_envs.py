"""The batch environments: gymnasium's dynamics step for step, the maze's walls, MinAtar rows."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from searchlab.methods.deep_ga.envs import make_env
from searchlab.methods.deep_ga.maze import make_maze


@pytest.mark.parametrize("name", ["CartPole-v1", "Acrobot-v1", "MountainCar-v0"])
def test_classic_control_matches_gymnasium(name: str) -> None:
    rng = np.random.default_rng(0)
    ours = make_env(name)
    obs = ours.reset(np.arange(8))
    theirs = []
    for i in range(8):
        env = gym.make(name).unwrapped
        env.reset(seed=0)
        env.state = ours.state[i].copy()
        theirs.append(env)
    for _ in range(60):
        actions = rng.integers(ours.n_actions, size=8)
        obs, reward, done = ours.step(actions)
        for i, env in enumerate(theirs):
            o, r, term, _, _ = env.step(int(actions[i]))
            np.testing.assert_allclose(obs[i], o, rtol=1e-5, atol=1e-5)
            assert reward[i] == r and bool(done[i]) == term
        if done.any():
            break


def test_episode_seeds_fix_the_start_whatever_the_batch() -> None:
    env = make_env("CartPole-v1")
    a = env.reset(np.array([5, 6, 7]))
    b = env.reset(np.array([7, 5]))
    np.testing.assert_array_equal(a[[2, 0]], b)


def test_time_limit_ends_every_episode() -> None:
    env = make_env("MountainCar-v0", max_steps=3)
    env.reset(np.arange(4))
    dones = [env.step(np.ones(4, dtype=int))[2] for _ in range(3)]
    assert not dones[1].any() and dones[2].all()


def test_maze_walls_block_and_slide() -> None:
    maze = make_maze("hard")
    maze.reset(np.zeros(1))
    for _ in range(40):  # straight up from the start: wall A stops it
        maze.step(np.array([[0.0, 1.0]]))
    assert maze.pos[0, 1] < 0.35
    for _ in range(40):  # pushing up-right slides along the wall, then passes the gap
        maze.step(np.array([[1.0, 1.0]]))
    assert maze.pos[0, 1] > 0.35 and maze.pos[0, 0] > 0.8


def test_maze_rewards_only_the_end() -> None:
    maze = make_maze("hard", max_steps=2)
    maze.reset(np.zeros(2))
    _, r1, d1 = maze.step(np.zeros((2, 2)))
    _, r2, d2 = maze.step(np.zeros((2, 2)))
    assert (r1 == 0).all() and not d1.any() and d2.all()
    np.testing.assert_allclose(r2, -np.hypot(0.85 - 0.15, 0.9 - 0.1))
    obs = maze._obs()
    np.testing.assert_allclose(obs[0, 2:], [0.85, 0.15, 0.25, 0.1])  # right, left, up, down


def test_minatar_rows_are_independent_of_the_batch() -> None:
    env = make_env("minatar:breakout", max_steps=20)
    obs = env.reset(np.array([3, 4]))
    assert obs.shape == (2, env.obs_dim)
    moves = np.zeros((20, 2), dtype=int)
    first = [env.step(moves[t])[0][1].copy() for t in range(5)]
    env.reset(np.array([4]))
    again = [env.step(moves[t][:1])[0][0].copy() for t in range(5)]
    np.testing.assert_array_equal(first, again)


def test_unknown_environment_is_one_line() -> None:
    with pytest.raises(ValueError, match="unknown environment 'Pong'"):
        make_env("Pong")


def test_batched_rollout_matches_gymnasium_episode_by_episode() -> None:
    from searchlab.methods.deep_ga.evaluate import rollout
    from searchlab.methods.deep_ga.policies import Policy

    policy = Policy(4, (), 2, True)
    params = np.stack([policy.init(s) for s in range(12)])  # episodes of very different lengths
    seeds = np.arange(100, 112)
    returns, behavior, lengths = rollout(make_env("CartPole-v1"), policy, params, seeds)
    probe = make_env("CartPole-v1")
    probe.reset(seeds)
    starts = probe.state.copy()  # float64, as the rollout's own start
    for i in range(12):
        env = gym.make("CartPole-v1")
        env.reset(seed=0)
        env.unwrapped.state = starts[i].copy()
        obs, total, steps = starts[i].astype(np.float32), 0.0, 0
        while True:
            a = int(policy.act(params[i:i + 1], obs[None, :].astype(np.float32))[0])
            obs, r, term, trunc, _ = env.step(a)
            total, steps = total + r, steps + 1
            if term or trunc:
                break
        assert (returns[i], lengths[i]) == (total, steps)
        np.testing.assert_allclose(behavior[i], obs[[0, 2]], atol=1e-5)
    assert len(set(lengths.tolist())) > 3
