"""Replay an elite: rebuild its weights from the seed list a GA run wrote, play it, draw it.

    python -m searchlab.methods.deep_ga.replay TRIAL_DIR/artifacts/elite.json [--episodes 5] [--out strip.png]

Prints each episode's return and writes a strip of ``--frames`` evenly spaced frames of the first
episode (matplotlib; CartPole, Acrobot, MountainCar, MinAtar and the maze are drawn from their
state, Atari from the emulator's screen, so nothing needs a display or pygame). A Gymnasium or
user environment is drawn from its own ``render_mode="rgb_array"`` frames where it renders
(Gymnasium's classic control and Box2D need pygame), else as a chart of its observations over
the episode. Its modules import from the record's ``path`` (the study's code directory), or
from ``--path``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from searchlab.methods.deep_ga.encoding import decode
from searchlab.methods.deep_ga.evaluate import Problem
from searchlab.methods.deep_ga.workload import ARTIFACTS, ELITE_FILE


def elite_path(path: str | Path) -> Path:
    """``path`` itself, or the elite file inside a trial directory."""
    p = Path(path)
    if p.is_dir():
        return next((q for q in (p / ELITE_FILE, p / ARTIFACTS / ELITE_FILE) if q.exists()),
                    p / ELITE_FILE)
    return p


def load_elite(path: str | Path) -> dict[str, Any]:
    """The elite record from ``elite.json`` (or a trial directory holding one)."""
    p = elite_path(path)
    if not p.exists():
        raise ValueError(f"no elite file at {p}")
    record = json.loads(p.read_text())
    if not record.get("genome"):
        raise ValueError(f"{p} holds no genome")
    return record


def problem(record: dict[str, Any], path: str | None = None, render: bool = False) -> Problem:
    """The elite's problem; ``render`` asks a Gymnasium or user environment for rgb frames."""
    args = dict(record.get("env_args") or {})
    if render:
        args["render_mode"] = "rgb_array"
    return Problem(env=record["env"], hidden=tuple(record["hidden"]),
                   activation=record["activation"], sigma=record["sigma"],
                   max_steps=record.get("max_steps"), env_args=tuple(sorted(args.items())),
                   policy_ref=record.get("policy"), behavior=record.get("behavior"),
                   path=path or record.get("path"), vectorize="rows")


def _open(record: dict[str, Any], path: str | None) -> tuple[Problem, Any, bool]:
    """The problem and its environment, rendering where the environment can."""
    from searchlab.methods.deep_ga.envs import is_builtin

    if not is_builtin(record["env"]):
        try:
            p = problem(record, path, render=True)
            env = p.make_env()
            env.reset(np.array([0]))
            if isinstance(env.render_row(), np.ndarray):
                return p, env, True
        except Exception:  # noqa: BLE001 - no renderer (pygame), or a factory without render_mode
            pass
    p = problem(record, path)
    return p, p.make_env(), False


def play(record: dict[str, Any], seed: int = 0, path: str | None = None
         ) -> tuple[float, list[Any]]:
    """One episode of the elite; returns its return and the state after every step (a frame,
    where the environment renders)."""
    p, env, frames = _open(record, path)
    policy = p.policy(env)
    theta = decode(tuple(record["genome"]), policy, p.sigma)[None, :]
    obs = env.reset(np.array([seed]))
    states, total = [_snapshot(env, frames)], 0.0
    while True:
        obs, reward, done = env.step(policy.act(theta, obs))
        total += float(reward[0])
        states.append(_snapshot(env, frames))
        if done[0]:
            return total, states


def _snapshot(env: Any, frames: bool = False) -> Any:
    if hasattr(env, "spaces"):  # a Gymnasium or user environment
        return env.render_row() if frames else env.last[0].copy()
    if hasattr(env, "screen"):  # Atari
        return env.screen(0)
    if hasattr(env, "envs"):  # MinAtar
        return env.envs[0].state().copy()
    if hasattr(env, "pos"):
        return env.pos[0].copy()
    return env.state[0].copy()


def draw_strip(record: dict[str, Any], states: list[Any], path: Path, frames: int = 8) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name = record["env"]
    from searchlab.methods.deep_ga.envs import is_builtin

    if not is_builtin(name):
        if not states or np.asarray(states[0]).ndim == 1:
            return _draw_trace(record, states, path)
    picks = np.unique(np.linspace(0, len(states) - 1, frames).round().astype(int))
    fig, axes = plt.subplots(1, len(picks), figsize=(2.2 * len(picks), 2.4), squeeze=False)
    for ax, t in zip(axes[0], picks):
        _draw(ax, name, states, int(t))
        ax.set_title(f"t={t}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{name}: elite of generation {record.get('generation')} "
                 f"({len(record['genome'])} seeds, {record.get('n_params')} weights)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _draw_trace(record: dict[str, Any], states: list[Any], path: Path) -> None:
    """A Gymnasium or user environment that does not render: its observations over time."""
    import matplotlib.pyplot as plt

    obs = np.array(states, dtype=float).reshape(len(states), -1)
    fig, ax = plt.subplots(figsize=(7, 2.8))
    for k in range(min(obs.shape[1], 12)):
        ax.plot(obs[:, k], lw=1, label=f"obs[{k}]")
    ax.set(xlabel="step", ylabel="observation")
    ax.legend(fontsize=6, ncol=4)
    ax.set_title(f"{record['env']}: elite of generation {record.get('generation')} "
                 f"({len(record['genome'])} seeds, {record.get('n_params')} weights)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _draw(ax: Any, name: str, states: list[Any], t: int) -> None:
    s = states[t]
    if isinstance(s, np.ndarray) and s.ndim == 3 and s.dtype == np.uint8:  # an rgb frame
        ax.imshow(s)
    elif name == "CartPole-v1":
        x, theta = s[0], s[2]
        ax.add_patch(matplotlib_rect(x - 0.25, -0.1, 0.5, 0.2))
        ax.plot([x, x + math.sin(theta)], [0, math.cos(theta)], lw=3, color="peru")
        ax.set(xlim=(-2.4, 2.4), ylim=(-0.5, 1.5))
    elif name == "MountainCar-v0":
        xs = np.linspace(-1.2, 0.6, 100)
        ax.plot(xs, np.sin(3 * xs) * 0.45 + 0.55, "k-")
        ax.plot([s[0]], [math.sin(3 * s[0]) * 0.45 + 0.55], "ro", ms=8)
        ax.axvline(0.5, color="g")
    elif name == "Acrobot-v1":
        p1 = (math.sin(s[0]), -math.cos(s[0]))
        p2 = (p1[0] + math.sin(s[0] + s[1]), p1[1] - math.cos(s[0] + s[1]))
        ax.plot([0, p1[0], p2[0]], [0, p1[1], p2[1]], "o-", lw=3)
        ax.axhline(1.0, color="g", ls="--")
        ax.set(xlim=(-2.2, 2.2), ylim=(-2.2, 2.2))
    elif name.startswith("atari:"):
        ax.imshow(s)
    elif name.startswith("minatar:"):
        channels = np.asarray(s, dtype=float)
        image = (channels * (np.arange(channels.shape[2]) + 1)).max(axis=2)
        ax.imshow(image, cmap="cubehelix", vmin=0, vmax=channels.shape[2])
    else:  # maze
        from searchlab.methods.deep_ga.maze import LAYOUTS

        layout = LAYOUTS[name.split(":", 1)[1]]
        path = np.array(states[:t + 1])
        for x0, y0, x1, y1 in layout.walls:
            ax.plot([x0, x1], [y0, y1], "k-", lw=2)
        ax.plot(path[:, 0], path[:, 1], "b-", lw=1)
        ax.plot(*layout.goal, "g*", ms=10)
        ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal")


def matplotlib_rect(x: float, y: float, w: float, h: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, color="k")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="searchlab replay", description=__doc__.split("\n")[0])
    ap.add_argument("elite", help=f"an {ELITE_FILE} written by a deep_ga trial, or its trial directory")
    ap.add_argument("--episodes", type=int, default=1, help="episodes to play (seeds 0, 1, ...)")
    ap.add_argument("--out", default=None, help="frame strip PNG (default: next to the elite file)")
    ap.add_argument("--frames", type=int, default=8, help="frames in the strip")
    ap.add_argument("--path", default=None, help="directory of the modules the elite's env, "
                    "policy or behavior name (default: the run's, kept in the elite file)")
    a = ap.parse_args(argv)
    try:
        record = load_elite(a.elite)
    except ValueError as e:
        print(f"error: {e}")
        return 2
    returns = []
    first: list[Any] = []
    for seed in range(a.episodes):
        try:
            total, states = play(record, seed, a.path)
        except ValueError as e:  # the user's module is not where the record says (RefError)
            print(f"error: {e}")
            return 2
        returns.append(total)
        first = first or states
        print(f"episode {seed}: return {total:g} ({len(states) - 1} steps)")
    print(f"mean return {np.mean(returns):g} over {len(returns)} episodes")
    out = Path(a.out) if a.out else elite_path(a.elite).parent / "elite_strip.png"
    draw_strip(record, first, out, a.frames)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
