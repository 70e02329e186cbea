"""Syne Tune's multi-fidelity stopping schedulers on the early-stopping benchmark's pools.

Runs Syne Tune's ``AsynchronousSuccessiveHalving`` (stopping type, grace period 4 and 1,
reduction factor 3) and its median stopping rule on exactly the pools and orderings of
``benchmarks/early_stopping.py`` (200 LCBench configurations x 52 epochs per task, two slots,
one epoch per trial in turn), and writes rows that ``early_stopping.py --summarise`` pools with
its own. Syne Tune pins its own dependencies, so it runs from a separate virtual environment::

    python -m venv /work/venvs/synetune --system-site-packages
    /work/venvs/synetune/bin/pip install "syne-tune[basic]" "torch==2.13.0"
    nice -n 10 /work/venvs/synetune/bin/python benchmarks/synetune_es.py --seeds 3 \\
        --tasks 126026,146212 --out benchmarks/results/synetune

Syne Tune 0.16 ships ASHA, the median rule and model-based searchers (BOHB, ASHA-BORE/CQR)
that *choose* configurations; with a fixed pool order only the stopping decisions are compared.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def make(method: str, epochs: int, seed: int) -> Any:
    from syne_tune.optimizer.schedulers.asha import AsynchronousSuccessiveHalving
    from syne_tune.optimizer.schedulers.median_stopping_rule import MedianStoppingRule

    grace = {"st_asha_g1": 1, "st_median": epochs}.get(method, 4)  # the median rule's inner
    asha = AsynchronousSuccessiveHalving(  # scheduler never stops (grace = max_t)
        config_space={}, metric="acc", do_minimize=False, max_t=epochs,
        grace_period=grace, reduction_factor=3, random_seed=seed)
    if method == "st_median":
        return MedianStoppingRule(asha, time_attr="training_iteration", metric="acc", grace_time=4,
                                  random_seed=seed,
                                  do_minimize=False)
    return asha


def run(method: str, pool: str, curves: np.ndarray, seed: int) -> dict[str, Any]:
    from syne_tune.backend.trial_status import Trial

    epochs = curves.shape[1]
    order = np.random.default_rng(seed).permutation(len(curves))
    scheduler = make(method, epochs, seed)
    t0 = time.time()
    pending = [Trial(trial_id=k, config={}, creation_time=datetime.now())
               for k in range(len(order))]
    row = {t.trial_id: int(order[t.trial_id]) for t in pending}
    pending.reverse()
    running: list[tuple[Any, int]] = []
    last: dict[int, float] = {}
    reports = 0
    while pending or running:
        while pending and len(running) < 2:
            trial = pending.pop()
            getattr(scheduler, "scheduler", scheduler).on_trial_add(trial)  # median: inner
            running.append((trial, 0))
        for trial, epoch in list(running):
            epoch += 1
            reports += 1
            value = float(curves[row[trial.trial_id], epoch - 1])
            last[trial.trial_id] = value
            result = {"training_iteration": epoch, "acc": value}
            action = scheduler.on_trial_result(trial, result)
            if action == "STOP" or epoch >= epochs:
                if epoch >= epochs and hasattr(scheduler, "trial_info"):
                    scheduler.on_trial_complete(trial, result)
                running = [(t, e) for t, e in running if t.trial_id != trial.trial_id]
            else:
                running = [(t, epoch if t.trial_id == trial.trial_id else e) for t, e in running]
    finals = curves[:, -1]
    chosen = row[max(last, key=last.get)]
    return {"method": method, "pool": pool, "seed": seed, "engine": "sim", "epochs": reports,
            "regret": float(finals.max() - finals[chosen]), "wall_s": round(time.time() - t0, 1),
            "unfinished": 0}


def main(argv: list[str] | None = None) -> None:
    import early_stopping as es

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tasks", default=",".join(es.TASKS))
    parser.add_argument("--methods", default="st_asha,st_asha_g1,st_median")
    parser.add_argument("--out", default=str(es.RESULTS / "synetune"))
    args = parser.parse_args(argv)
    import syne_tune

    print(f"syne-tune {syne_tune.__version__}")
    rows = []
    for seed in range(args.seeds):
        for task in args.tasks.split(","):
            _, curves = es.lcbench_pool(task, 200, 52)
            for method in args.methods.split(","):
                rows.append(run(method, f"lcbench-{task}", curves, seed))
                print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "early_stopping_runs_synetune.json").write_text(json.dumps(rows, indent=1))
    by = {m: [r for r in rows if r["method"] == m] for m in args.methods.split(",")}
    print(json.dumps({m: {"speedup": round(float(np.mean([10400 / r["epochs"] for r in v])), 2),
                          "mean_regret": round(float(np.mean([r["regret"] for r in v])), 3)}
                      for m, v in by.items()}))


if __name__ == "__main__":
    main()
