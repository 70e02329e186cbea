"""Atari through ale-py (the optional extra ``atari``): skipped when ale-py is not installed."""

from __future__ import annotations

import numpy as np
import pytest
from deep_ga_helpers import SlicedPool

from searchlab.methods.deep_ga.algorithm import DeepGA
from searchlab.methods.deep_ga.envs import make_env
from searchlab.methods.deep_ga.replay import main as replay_main
from searchlab.methods.deep_ga.settings import GAConfig
from searchlab.methods.deep_ga.workload import ARTIFACTS
from searchlab.workloads.api import Context, SerialPool

pytest.importorskip("ale_py")

BREAKOUT = GAConfig(env="atari:breakout", hidden=(8,), population=6, truncation=2, sigma=0.1,
                    elite_candidates=2, elite_episodes=1, generations=2, max_steps=40,
                    final_episodes=2)


def test_an_episode_depends_on_its_seed_only() -> None:
    env = make_env("atari:breakout", max_steps=30)
    assert env.obs_dim == 128 and env.n_actions == 4  # NOOP, FIRE, RIGHT, LEFT
    moves = np.random.default_rng(0).integers(4, size=(30, 3))
    obs = env.reset(np.array([3, 4, 5]))
    assert obs.min() >= -1 and obs.max() <= 1
    first = [obs[1]] + [env.step(moves[t])[0][1].copy() for t in range(30)]
    # the same seed again, in another row, after the emulators played something else
    env.reset(np.array([4, 9]))
    for t in range(10):
        env.step(moves[t][:2])
    again = [env.reset(np.array([9, 4]))[1]] + [env.step(moves[t][:2])[0][1].copy()
                                                for t in range(30)]
    np.testing.assert_array_equal(first, again)
    starts = env.reset(np.arange(8))  # 0-30 no-ops from the seed: different starts
    assert len({row.tobytes() for row in starts}) > 1


def test_time_limit_and_dropped_rows() -> None:
    env = make_env("atari:pong", max_steps=5)
    assert env.n_actions == 6
    env.reset(np.array([1, 2, 3]))
    env.keep(np.array([True, False, True]))
    for _ in range(4):
        obs, reward, done = env.step(np.zeros(2, dtype=int))
        assert obs.shape == (2, 128) and not done.any()
    assert env.step(np.zeros(2, dtype=int))[2].all()


def test_ga_on_breakout_is_the_same_on_one_and_two_workers() -> None:
    runs = []
    for pool in (SerialPool(), SlicedPool(2)):
        ga = DeepGA(BREAKOUT, 3, pool)
        history = ga.run()
        runs.append(([(g.best_score, g.elite_score, g.frames) for g in history], ga.elite))
    assert runs[0] == runs[1]
    assert runs[0][0][-1][2] > 0 and len(runs[0][1]) >= 1


def test_replay_draws_the_atari_screen(tmp_path, capsys) -> None:
    from searchlab.methods.deep_ga.workload import deep_ga_workload

    config = {**BREAKOUT.model_dump(), "hidden": [8], "generations": 1, "seed": 0}
    ctx = Context(max_epochs=1, trial_dir=str(tmp_path), pool=SerialPool())
    assert len(list(deep_ga_workload(config, ctx))) == 1
    assert replay_main([str(tmp_path), "--frames", "3"]) == 0
    assert (tmp_path / ARTIFACTS / "elite_strip.png").stat().st_size > 5000
    assert "mean return" in capsys.readouterr().out


def test_unknown_game_is_one_line() -> None:
    with pytest.raises(ValueError, match="unknown Atari game 'tetris'"):
        make_env("atari:tetris")
