"""Replay an elite: rebuild its weights from the seed list a GA run wrote, play it, draw it.

    python -m searchlab.methods.deep_ga.replay TRIAL_DIR/artifacts/elite.json \\
        [--episodes 5] [--out strip.png]

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
import os
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


def locate(target: str, trial: str | None = None, tracking_uri: str | None = None,
           storage: str | None = None, into: str | Path | None = None) -> Path:
    """The elite file ``target`` names: an ``elite.json`` or a trial directory holding one; or a
    study's name, whose trial ``trial`` (default: its best run, as the study's summary ranks
    them: by ``final_score``, then ``elite_score``) is looked up
    in the study's folder under ``storage`` (default ``./.searchlab/studies``) and else in MLflow
    (``trial/elite.json`` of the trial's run, downloaded into ``into``)."""
    p = Path(target)
    if p.exists() or "/" in target or target.endswith(".json"):
        return elite_path(p)
    from searchlab.study_state import storage_root

    folder = storage_root(None, storage) / target
    if trial is not None and (folder / trial / ARTIFACTS / ELITE_FILE).exists():
        return folder / trial / ARTIFACTS / ELITE_FILE
    return _from_mlflow(target, trial, tracking_uri, into)


def _from_mlflow(study: str, trial: str | None, uri: str | None, into: str | Path | None) -> Path:
    import tempfile

    from searchlab.show import _client, read_study

    stored = read_study(study, uri)  # SearchlabError (one line) when the study is not there
    rows = [r for r in stored.rows if r.run_id and (trial is None or r.trial_id == trial)]
    if trial is not None and not rows:
        known = ", ".join(r.trial_id for r in stored.rows[:10])
        raise ValueError(f"study '{study}' has no trial {trial} (trials: {known})")
    scored = [r for r in rows if r.value is not None]
    if not scored and trial is None:
        raise ValueError(f"study '{study}' has no scored run to replay")
    client = _client(stored.tracking_uri)
    if trial is None:  # the summary's best run: by final score, then elite score
        finals = {r.run_id: client.get_run(r.run_id).data.metrics.get("final_score")
                  for r in scored}
        row = max(scored, key=lambda r: (finals[r.run_id] if finals[r.run_id] is not None
                                         else float("-inf"), r.value))
    else:
        row = rows[0]
    base = Path(into) if into else Path(tempfile.mkdtemp(prefix="searchlab-replay-"))
    out = base / row.trial_id
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        local = client.download_artifacts(row.run_id, f"trial/{ELITE_FILE}", str(out))
    except Exception as e:  # noqa: BLE001 - no such artifact, or MLflow went away
        raise ValueError(f"trial {row.trial_id} of study '{study}' has no trial/{ELITE_FILE} in "
                         f"MLflow ({str(e).splitlines()[0][:160] if str(e) else type(e).__name__})"
                         ) from None
    return Path(local)


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
        # Gymnasium draws with pygame: off-screen, without a display or a sound device
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
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
    ap.add_argument("elite", help=f"an {ELITE_FILE} written by a deep_ga trial, its trial "
                    "directory, or a study's name (its best run, or --trial)")
    ap.add_argument("--trial", default=None, help="with a study's name: the trial to replay")
    ap.add_argument("--tracking-uri", default=None, help="with a study's name: the MLflow store")
    ap.add_argument("--storage", default=None, help="with a study's name: its storage folder")
    ap.add_argument("--episodes", type=int, default=1, help="episodes to play (seeds 0, 1, ...)")
    ap.add_argument("--out", default=None, help="frame strip PNG (default: next to the elite file)")
    ap.add_argument("--frames", type=int, default=8, help="frames in the strip")
    ap.add_argument("--path", default=None, help="directory of the modules the elite's env, "
                    "policy or behavior name (default: the run's, kept in the elite file)")
    a = ap.parse_args(argv)
    try:
        elite = locate(a.elite, a.trial, a.tracking_uri, a.storage)
        record = load_elite(elite)
    except (ValueError, OSError) as e:
        print(f"error: {e}")
        return 2
    print(f"elite: {elite} (generation {record.get('generation')}, "
          f"{len(record['genome'])} seeds, env {record['env']})")
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
    if a.out:
        out = Path(a.out)
    elif Path(a.elite).exists():
        out = elite.parent / "elite_strip.png"
    else:  # fetched from MLflow into a temporary folder: the picture goes here
        out = Path(f"elite_strip_{elite.parent.name}.png")  # downloaded into <tmp>/<trial id>/
    draw_strip(record, first, out, a.frames)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
