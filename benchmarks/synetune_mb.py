"""Syne Tune's model-based multi-fidelity schedulers, MOBSTER and DyHPO, on the early-stopping
pools.

MOBSTER (Klein et al. 2020: ASHA stopping with a multi-fidelity GP choosing the next
configuration) and DyHPO (Wistuba et al. 2022: a GP deciding at every rung whether to resume a
paused trial or start a new one) exist only in Syne Tune <= 0.14 (``legacy_baselines``). Both
choose the next configuration themselves, restricted to the benchmark's pool
(``restrict_configurations``: the same 200 LCBench configurations x 52 epochs per task as
``benchmarks/early_stopping.py``); the ordering's seed is their random seed, and the pool is
listed in that ordering. Two slots, one epoch per trial in turn. A paused DyHPO trial resumes
where it stopped (Syne Tune checkpoints), which favours DyHPO over the Tune runs, where a paused
trial restarts from epoch 1. DyHPO never stops by itself: it is capped at ``--dyhpo-cap`` times the
epochs ASHA used on the same pool and ordering (taken from an ``early_stopping_runs_*.json``);
regret is that of the best last value reported by then.

Syne Tune 0.14.2 wants numpy < 2, which must not be installed here: it runs from its own venv
with ``--no-deps`` on the system numpy 2.4 (the GP code used here works with it). The GP's
hyperparameters are refitted every 10th decision (``opt_skip_period``; Syne Tune's DyHPO default is
3, MOBSTER's 1)::

    python -m venv /work/venvs/synetune014 --system-site-packages
    /work/venvs/synetune014/bin/pip install --no-deps "syne-tune==0.14.2" autograd dill \\
        "torch==2.13.0"
    nice -n 10 /work/venvs/synetune014/bin/python benchmarks/synetune_mb.py --seeds 1 \\
        --tasks 126026,146212 --asha benchmarks/results/sim5/early_stopping_runs_sim.json

Rows go to ``--out``/early_stopping_runs_synetune_mb.json, to be pooled by
``early_stopping.py --summarise``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def config_space() -> dict[str, Any]:
    from syne_tune.config_space import lograndint, loguniform, randint, uniform

    return {"batch_size": lograndint(16, 512), "learning_rate": loguniform(1e-4, 1e-1),
            "momentum": uniform(0.1, 0.99), "weight_decay": uniform(1e-5, 1e-1),
            "num_layers": randint(1, 5), "max_units": lograndint(64, 1024),
            "max_dropout": uniform(0.0, 1.0)}


def key(config: dict[str, Any]) -> tuple[float, ...]:
    return tuple(round(float(config[k]), 6) for k in sorted(config_space()))


def make(method: str, configs: list[dict[str, Any]], epochs: int, seed: int) -> Any:
    from syne_tune.optimizer.legacy_baselines import MOBSTER, DyHPO

    common = {"metric": "acc", "resource_attr": "epoch", "max_t": epochs, "mode": "max",
              "random_seed": seed,
              "search_options": {"restrict_configurations": configs, "debug_log": False,
                                 # refit the GP's hyperparameters every 10th decision only (the
                                 # default, every one, takes > 15 min per run on a shared core)
                                 "opt_skip_period": 10}}
    if method == "st_mobster":  # ASHA's grace period and reduction factor, stopping type
        return MOBSTER(config_space(), grace_period=4, reduction_factor=3, type="stopping",
                       **common)
    if method == "st_dyhpo":
        return DyHPO(config_space(), grace_period=1, **common)
    raise ValueError(f"unknown method {method!r}")


def run(method: str, pool: str, configs: list[dict[str, Any]], curves: np.ndarray, seed: int,
        cap: int | None) -> dict[str, Any]:
    from syne_tune.backend.trial_status import Trial

    epochs = curves.shape[1]
    order = np.random.default_rng(seed).permutation(len(configs))
    listed = [configs[i] for i in order]
    rows = {key(c): int(i) for c, i in zip(listed, order)}
    scheduler = make(method, listed, epochs, seed)
    t0 = time.time()
    trials: dict[int, Trial] = {}
    row: dict[int, int] = {}
    done: dict[int, int] = {}  # trial -> epochs reported so far (a resumed trial continues)
    running: list[int] = []
    last: dict[int, float] = {}
    reports, exhausted = 0, False
    while cap is None or reports < cap:
        while not exhausted and len(running) < 2:
            suggestion = None
            if method != "st_mobster" or len(trials) < len(configs):
                try:
                    suggestion = scheduler.suggest(len(trials))
                except ValueError:  # 0.14.2 fails instead of returning None once the
                    suggestion = None  # restricted pool is used up
            if suggestion is None:
                exhausted = True
                break
            if suggestion.spawn_new_trial_id:
                tid = len(trials)
                if tid % 25 == 0:
                    print(f"  {method} {pool} seed {seed}: trial {tid}, {reports} epochs, "
                          f"{time.time() - t0:.0f} s", file=sys.stderr, flush=True)
                trials[tid] = Trial(trial_id=tid, config=suggestion.config,
                                    creation_time=datetime.now())
                row[tid], done[tid] = rows[key(suggestion.config)], 0
                scheduler.on_trial_add(trials[tid])
            else:
                tid = suggestion.checkpoint_trial_id
            running.append(tid)
        if not running:
            break
        for tid in list(running):
            done[tid] += 1
            reports += 1
            value = float(curves[row[tid], done[tid] - 1])
            last[tid] = value
            result = {"epoch": done[tid], "acc": value}
            action = scheduler.on_trial_result(trials[tid], result)
            if done[tid] >= epochs:
                scheduler.on_trial_complete(trials[tid], result)
                running.remove(tid)
            elif action == "STOP":
                running.remove(tid)
            elif action == "PAUSE":
                running.remove(tid)
                exhausted = False  # a paused trial may be resumed by the next suggestion
            if cap is not None and reports >= cap:
                break
    finals = curves[:, -1]
    chosen = row[max(last, key=last.get)]
    return {"method": method, "pool": pool, "seed": seed, "engine": "sim", "epochs": reports,
            "regret": float(finals.max() - finals[chosen]), "wall_s": round(time.time() - t0, 1),
            "trials": len(trials), "cap": cap}


def main(argv: list[str] | None = None) -> None:
    import early_stopping as es

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed-list", default="",
                        help="comma-separated orderings (overrides --seeds)")
    parser.add_argument("--tasks", default="126026,146212,167168,168330,189862")
    parser.add_argument("--methods", default="st_mobster,st_dyhpo")
    parser.add_argument("--asha", default="", help="early_stopping_runs_*.json with ASHA's rows "
                        "(DyHPO's epoch cap)")
    parser.add_argument("--dyhpo-cap", type=float, default=1.0)
    parser.add_argument("--out", default=str(es.RESULTS / "synetune"))
    args = parser.parse_args(argv)
    import syne_tune

    logging.getLogger("syne_tune").setLevel(logging.ERROR)
    print(f"syne-tune {syne_tune.__version__}")
    asha = {}
    if args.asha:
        asha = {(r["pool"], r["seed"]): r["epochs"] for r in json.loads(Path(args.asha).read_text())
                if r["method"] == "asha"}
    seeds = [int(s) for s in args.seed_list.split(",")] if args.seed_list else range(args.seeds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in seeds:
        for task in args.tasks.split(","):
            configs, curves = es.lcbench_pool(task, 200, 52)
            for method in args.methods.split(","):
                cap = None
                if method == "st_dyhpo":
                    if (f"lcbench-{task}", seed) not in asha:
                        print(f"no ASHA row for lcbench-{task} seed {seed}: DyHPO skipped")
                        continue
                    cap = int(args.dyhpo_cap * asha[(f"lcbench-{task}", seed)])
                rows.append(run(method, f"lcbench-{task}", configs, curves, seed, cap))
                print(json.dumps(rows[-1]), flush=True)
                (out / "early_stopping_runs_synetune_mb.json").write_text(
                    json.dumps(rows, indent=1))
    by = {m: [r for r in rows if r["method"] == m] for m in args.methods.split(",")}
    print(json.dumps({m: {"speedup": round(float(np.mean([10400 / r["epochs"] for r in v])), 2),
                          "mean_regret": round(float(np.mean([r["regret"] for r in v])), 3),
                          "runs": len(v)}
                      for m, v in by.items() if v}))


if __name__ == "__main__":
    main()
