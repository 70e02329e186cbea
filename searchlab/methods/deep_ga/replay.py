"""Replay an elite: rebuild its weights from the seed list a GA run wrote, play it, draw it.

    python -m searchlab.methods.deep_ga.replay TRIAL_DIR/artifacts/elite.json [--episodes 5] [--out strip.png]

Prints each episode's return and writes a strip of ``--frames`` evenly spaced frames of the first
episode (matplotlib; CartPole, Acrobot, MountainCar, MinAtar and the maze are drawn from their
state, Atari from the emulator's screen, so nothing needs a display or pygame).
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


def play(record: dict[str, Any], seed: int = 0) -> tuple[float, list[Any]]:
    """One episode of the elite; returns its return and the state after every step."""
    problem = Problem(env=record["env"], hidden=tuple(record["hidden"]),
                      activation=record["activation"], sigma=record["sigma"],
                      max_steps=record.get("max_steps"))
    env = problem.make_env()
    policy = problem.policy(env)
    theta = decode(tuple(record["genome"]), policy, problem.sigma)[None, :]
    obs = env.reset(np.array([seed]))
    states, total = [_snapshot(env)], 0.0
    while True:
        obs, reward, done = env.step(policy.act(theta, obs))
        total += float(reward[0])
        states.append(_snapshot(env))
        if done[0]:
            return total, states


def _snapshot(env: Any) -> Any:
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

    picks = np.unique(np.linspace(0, len(states) - 1, frames).round().astype(int))
    fig, axes = plt.subplots(1, len(picks), figsize=(2.2 * len(picks), 2.4), squeeze=False)
    name = record["env"]
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


def _draw(ax: Any, name: str, states: list[Any], t: int) -> None:
    s = states[t]
    if name == "CartPole-v1":
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
    a = ap.parse_args(argv)
    try:
        record = load_elite(a.elite)
    except ValueError as e:
        print(f"error: {e}")
        return 2
    returns = []
    first: list[Any] = []
    for seed in range(a.episodes):
        total, states = play(record, seed)
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
