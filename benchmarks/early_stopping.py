"""Early-stopping benchmark: full training, median, ASHA, Hyperband and predictive stopping.

Every method runs through Ray Tune on the same pools of configurations (one Tune trial per
configuration, in an order shuffled by the seed) with two concurrent trials, limited through
resources (one CPU per trial, ``num_cpus=2``) so that Hyperband fills its brackets. Epochs are
counted as the reports Tune actually processed (a paused trial restarts from epoch 1, as the
workloads here do not hand their checkpoints to Tune).

Per method and pool it reports the total epochs, the speedup over full training, the regret of
the chosen configuration (the trial with the best last reported value; regret = final value of
the truly best configuration in the pool minus the final value of the chosen one, in accuracy
points), and per pool the cross-validated R^2 of the predictor after 25% of the curve next to a
linear fit on the value at 25% alone. The last line printed is one JSON object of headline figures.

    nice -n 10 python benchmarks/early_stopping.py --quick          # smoke run, ~1 minute
    nice -n 10 python benchmarks/early_stopping.py --seeds 10       # the full grid
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "100")

TASKS = ("3945", "7593", "34539", "126025", "189909")
METHODS = ("fifo", "median", "asha", "asha_g1", "hyperband", "predictive", "predictive_hb")
RESULTS = ROOT / "benchmarks" / "results"
DIGITS = ROOT / "benchmarks" / "data" / "digits_curves.npz"


# --- pools ------------------------------------------------------------------------------------
def lcbench_pool(task: str, n: int, epochs: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    from searchlab.workloads.lcbench import sample_configs, surrogate

    configs = sample_configs(n, seed=10_000 + int(task))  # not the pool the SVR was tuned on
    return configs, surrogate().curves(task, configs, epochs)


def digits_pool(n: int, epochs: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    from searchlab.predictive.curves import CurveSet

    curve_set = CurveSet.load(DIGITS)
    return curve_set.configs[:n], curve_set.curves["val_accuracy"][:n, :epochs] * 100.0


# --- one Tune run -------------------------------------------------------------------------------
def make_scheduler(method: str, epochs: int, seed: int) -> Any:
    from searchlab.predictive.factory import PredictiveSettings, build_scheduler
    from searchlab.stopping import SchedulerContext, get_factory

    ctx = SchedulerContext(metric="acc", mode="max", max_epochs=epochs, space=None, seed=seed,
                           study_name="benchmark")
    if method.startswith("predictive"):
        settings = PredictiveSettings(bracket="hyperband" if method.endswith("_hb") else "none",
                                      seed=seed)
        return build_scheduler(settings, metric="acc", mode="max", max_t=epochs)
    name, extra = {
        "fifo": ("fifo", {}), "median": ("median", {}), "hyperband": ("hyperband", {}),
        "asha": ("asha", {"grace_period": 4, "reduction_factor": 3}),
        "asha_g1": ("asha", {"grace_period": 1, "reduction_factor": 3}),
    }[method]
    factory = get_factory(name)
    return factory.build(factory.settings_model(**extra), ctx)


def run_tune(method: str, pool_name: str, configs: list[dict[str, Any]], curves: np.ndarray,
             seed: int, workdir: Path) -> dict[str, Any]:
    from ray import tune
    from ray.tune import Callback

    epochs = curves.shape[1]
    order = np.random.default_rng(seed).permutation(len(configs))
    lookup = {json.dumps(configs[i], sort_keys=True): int(i) for i in order}
    served = ray_curves(curves)

    reports: dict[str, int] = {}
    last: dict[str, float] = {}
    index: dict[str, int] = {}

    class Count(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):  # noqa: ANN001
            reports[trial.trial_id] = reports.get(trial.trial_id, 0) + 1
            last[trial.trial_id] = result["acc"]
            index[trial.trial_id] = result["i"]

    def trainable(config: dict[str, Any]) -> None:
        import ray

        i = lookup[json.dumps(config["hp"], sort_keys=True)]
        row = ray.get(served)[i]
        for epoch in range(1, epochs + 1):
            tune.report({"acc": float(row[epoch - 1]), "i": i, "epoch": epoch})

    scheduler = make_scheduler(method, epochs, seed)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"hp": tune.grid_search([configs[i] for i in order])},
        tune_config=tune.TuneConfig(scheduler=scheduler,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=f"{pool_name}-{method}-{seed}", storage_path=str(workdir),
                                  verbose=0, callbacks=[Count()],
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
    )
    t0 = time.time()
    tuner.fit()
    wall = time.time() - t0
    finals = curves[:, -1]
    chosen = index[max(last, key=last.get)]
    out = {"method": method, "pool": pool_name, "seed": seed,
           "epochs": int(sum(reports.values())), "regret": float(finals.max() - finals[chosen]),
           "wall_s": round(wall, 1)}
    if method.startswith("predictive"):
        out["stopped_by_rule"] = len(scheduler.stopped_by_rule)
    return out


_SERVED: dict[int, Any] = {}


def ray_curves(curves: np.ndarray) -> Any:
    import ray

    key = id(curves)
    if key not in _SERVED:
        _SERVED.clear()
        _SERVED[key] = ray.put(curves)
    return _SERVED[key]


# --- predictor quality -----------------------------------------------------------------------------
def r2_at_quarter(configs: list[dict[str, Any]], curves: np.ndarray) -> tuple[float, float]:
    """5-fold CV R^2 of the final value after 25% of the curve: the predictor, and a linear fit
    on the value at 25% alone."""
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold, cross_val_predict

    from searchlab.predictive.predictor import CurvePredictor

    epochs = curves.shape[1]
    t = max(1, round(0.25 * epochs))
    predictor = CurvePredictor(epochs, seed=0)
    for c, y in zip(configs, curves):
        predictor.add({f"hp.{k}": v for k, v in c.items()}, y)
    y = curves[:, -1]
    base = cross_val_predict(LinearRegression(), curves[:, t - 1:t], y,
                             cv=KFold(5, shuffle=True, random_state=0))
    base_r2 = 1 - float(np.sum((y - base) ** 2)) / float(np.sum((y - y.mean()) ** 2))
    return predictor.model(t).r2, base_r2


# --- report -----------------------------------------------------------------------------------
def summarise(rows: list[dict[str, Any]], fifo_epochs: dict[str, int]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        pools = sorted({r["pool"] for r in mine})
        per_pool = {p: float(np.mean([r["regret"] for r in mine if r["pool"] == p])) for p in pools}
        speed = [fifo_epochs[r["pool"]] / r["epochs"] for r in mine]
        table[method] = {
            "epochs": float(np.mean([r["epochs"] for r in mine])),
            "speedup": float(np.mean(speed)),
            "mean_regret": float(np.mean(list(per_pool.values()))),
            "worst_pool_regret": float(max(per_pool.values())),
            "worst_pool": max(per_pool, key=per_pool.get),
            "runs": len(mine),
        }
    return table


def plot(rows: list[dict[str, Any]], fifo_epochs: dict[str, int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        x = [r["epochs"] / fifo_epochs[r["pool"]] for r in mine]
        y = [r["regret"] for r in mine]
        ax.scatter(x, y, s=10, alpha=0.35)
        ax.scatter([np.mean(x)], [np.mean(y)], s=90, marker="*", label=method)
    ax.set_xscale("log")
    ax.set_xlabel("epochs consumed / epochs of full training")
    ax.set_ylabel("regret (accuracy points)")
    ax.set_title("Early stopping on LCBench and digits curves (dots: runs, stars: means)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 tasks, 40 configs, 16 epochs, 1 seed")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--configs", type=int, default=200)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--no-digits", action="store_true")
    parser.add_argument("--budget-min", type=float, default=0.0,
                        help="stop starting new seeds after this many minutes (0: no limit)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.configs, args.tasks = 1, 40, "3945,126025"
    epochs = 16 if args.quick else 52

    import ray

    from searchlab.workloads import lcbench as lc

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pools: dict[str, tuple[list[dict[str, Any]], np.ndarray]] = {}
    if lc.available():
        for task in args.tasks.split(","):
            pools[f"lcbench-{task}"] = lcbench_pool(task, args.configs, epochs)
    else:
        print(f"LCBench surrogate not found under {lc.data_dir()}; LCBench pools skipped")
    if not args.no_digits and DIGITS.exists():
        pools["digits"] = digits_pool(args.configs, epochs)

    t_start = time.time()
    r2 = {name: r2_at_quarter(*pool) for name, pool in pools.items()}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    rows: list[dict[str, Any]] = []
    methods = args.methods.split(",")
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"searchlab-bench-{os.getpid()}"
    seeds_done = 0
    for seed in range(args.seeds):
        if args.budget_min and seed > 0 and time.time() - t_start > 60 * args.budget_min:
            break
        for name, (configs, curves) in pools.items():
            for method in methods:
                if method == "fifo" and seed > 0:
                    continue  # full training is the same for every ordering: run it once
                row = run_tune(method, name, configs, curves, seed, workdir)
                rows.append(row)
                print(json.dumps(row), flush=True)
        seeds_done += 1
    ray.shutdown()
    fifo_epochs = {name: pool[1].size for name, pool in pools.items()}
    table = summarise(rows, fifo_epochs)
    elapsed = time.time() - t_start

    print(f"\n{len(pools)} pools x {args.configs} configs x {epochs} epochs, {seeds_done} seed(s), "
          f"{elapsed / 60:.1f} min")
    print(f"{'method':<15}{'epochs':>9}{'speedup':>9}{'regret':>9}{'worst':>9}  worst pool")
    for method, s in table.items():
        print(f"{method:<15}{s['epochs']:>9.0f}{s['speedup']:>8.2f}x{s['mean_regret']:>9.3f}"
              f"{s['worst_pool_regret']:>9.3f}  {s['worst_pool']}")
    print(f"\n{'pool':<20}{'R2 predictor@25%':>18}{'R2 linear@25%':>15}")
    for name, (ours, base) in r2.items():
        print(f"{name:<20}{ours:>18.3f}{base:>15.3f}")
    (out / "early_stopping_runs.json").write_text(json.dumps(rows, indent=1))
    plot(rows, fifo_epochs, out / "early_stopping_regret_vs_epochs.png")
    lc_r2 = {k: v for k, v in r2.items() if k.startswith("lcbench")}
    headline = {
        "seeds": seeds_done, "configs": args.configs, "epochs": epochs, "minutes": round(elapsed / 60, 1),
        **{f"{m}_speedup": round(s["speedup"], 2) for m, s in table.items()},
        **{f"{m}_mean_regret": round(s["mean_regret"], 3) for m, s in table.items()},
        **{f"{m}_worst_regret": round(s["worst_pool_regret"], 3) for m, s in table.items()},
        "predictor_beats_linear_r2_on_every_lcbench_task": all(a > b for a, b in lc_r2.values()),
        "r2_predictor": {k: round(a, 3) for k, (a, b) in r2.items()},
        "r2_linear": {k: round(b, 3) for k, (a, b) in r2.items()},
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
