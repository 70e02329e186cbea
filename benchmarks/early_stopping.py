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

    nice -n 10 python benchmarks/early_stopping.py --quick                 # smoke run, ~1 minute
    nice -n 10 python benchmarks/early_stopping.py --seeds 1               # through Tune, ~25 min
    nice -n 10 python benchmarks/early_stopping.py --engine sim --seeds 10 --median-seeds 3
    python benchmarks/early_stopping.py --summarise benchmarks/results/early_stopping_runs_sim.json

``--engine sim`` drives the very same scheduler objects (Ray's and ours) with a small stand-in
for Tune's controller (two slots, one epoch per trial in turn, Tune's CONTINUE/PAUSE/STOP
handling), without Ray's per-result overhead: the full grid (10 orderings x 6 pools x 7 methods)
takes about 26 minutes on two shared cores, against several hours through Tune. On the pool
checked both ways (LCBench 3945, seed 0) the two engines agree within a few percent of epochs.
"""

from __future__ import annotations

import argparse
import json
import logging
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
#: also available: "predictive_warm", warm-started from the finished curves of an earlier,
#: disjoint pool of the same workload (LCBench: 100 other configs; digits: the 20 spare curves).
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
WARM: dict[str, tuple[list[dict[str, Any]], np.ndarray]] = {}


def warm_pool(pool_name: str, epochs: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Curves of an earlier study of the same workload: configurations not in the pool."""
    if pool_name not in WARM:
        if pool_name == "digits":
            from searchlab.predictive.curves import CurveSet

            curve_set = CurveSet.load(DIGITS)
            WARM[pool_name] = (curve_set.configs[200:],
                               curve_set.curves["val_accuracy"][200:, :epochs] * 100.0)
        else:
            from searchlab.workloads.lcbench import sample_configs, surrogate

            task = pool_name.split("-", 1)[1]
            configs = sample_configs(100, seed=20_000 + int(task))
            WARM[pool_name] = (configs, surrogate().curves(task, configs, epochs))
    return WARM[pool_name]


def make_scheduler(method: str, epochs: int, seed: int, pool_name: str = "") -> Any:
    from searchlab.predictive.factory import PredictiveSettings, build_scheduler
    from searchlab.stopping import SchedulerContext, get_factory

    ctx = SchedulerContext(metric="acc", mode="max", max_epochs=epochs, space=None, seed=seed,
                           study_name="benchmark")
    if method.startswith("predictive"):
        settings = PredictiveSettings(bracket="hyperband" if method.endswith("_hb") else "none",
                                      seed=seed)
        scheduler = build_scheduler(settings, metric="acc", mode="max", max_t=epochs)
        if method == "predictive_warm":
            for config, curve in zip(*warm_pool(pool_name, epochs)):
                scheduler.predictor.add({f"hp.{k}": v for k, v in config.items()}, curve)
        return scheduler
    name, extra = {
        "fifo": ("fifo", {}), "median": ("median", {}), "hyperband": ("hyperband", {}),
        "asha": ("asha", {"grace_period": 4, "reduction_factor": 3}),
        "asha_g1": ("asha", {"grace_period": 1, "reduction_factor": 3}),
    }[method]
    factory = get_factory(name)
    return factory.build(factory.settings_model(**extra), ctx).scheduler


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

    scheduler = make_scheduler(method, epochs, seed, pool_name)
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
    out = {"method": method, "pool": pool_name, "seed": seed, "engine": "tune",
           "epochs": int(sum(reports.values())), "regret": float(finals.max() - finals[chosen]),
           "wall_s": round(wall, 1)}
    if method.startswith("predictive"):
        out["stopped_by_rule"] = len(scheduler.stopped_by_rule)
    return out


# --- the same schedulers, driven by a small in-process stand-in for Tune's controller ------------
class SimTrial:
    """What Ray's schedulers read of a trial."""

    def __init__(self, trial_id: str, config: dict[str, Any], row: int) -> None:
        self.trial_id, self.config, self.row = trial_id, config, row
        self.status = "PENDING"
        self.is_saving = False
        self.epoch = 0
        self.last_result: dict[str, Any] = {}

    def __repr__(self) -> str:
        return self.trial_id


class SimController:
    """Runs trials ``slots`` at a time, one epoch each in turn, as Tune does with two CPUs.

    It implements the parts of ``TuneController`` schedulers call (``get_trials``,
    ``get_live_trials``, ``stop_trial``) and Tune's handling of CONTINUE / PAUSE / STOP: a paused
    trial gives up its slot and restarts from epoch 1 (no checkpoint), a stopped one ends. Tune's
    own overhead is absent, so a 200-trial study takes a second instead of minutes.
    """

    def __init__(self, scheduler: Any, trials: list[SimTrial], slots: int = 2) -> None:
        self.scheduler, self.trials, self.slots = scheduler, trials, slots
        self.running: list[SimTrial] = []
        self.reports = 0

    def get_trials(self) -> list[SimTrial]:
        return self.trials

    def get_live_trials(self) -> list[SimTrial]:
        return [t for t in self.trials if t.status not in ("TERMINATED", "ERROR")]

    def stop_trial(self, trial: SimTrial) -> None:
        if trial.status in ("TERMINATED", "ERROR"):
            return
        if trial.status in ("PENDING", "PAUSED"):
            self.scheduler.on_trial_remove(self, trial)
        else:
            self.scheduler.on_trial_complete(self, trial, trial.last_result)
            self.running.remove(trial)
        trial.status = "TERMINATED"

    def run(self, curves: np.ndarray) -> tuple[int, dict[str, float]]:
        epochs_max = curves.shape[1]
        for t in self.trials:
            self.scheduler.on_trial_add(self, t)
        last = {}
        while True:
            while len(self.running) < self.slots:
                trial = self.scheduler.choose_trial_to_run(self)
                if trial is None:
                    break
                trial.status, trial.epoch = "RUNNING", 0
                self.running.append(trial)
            if not self.running:
                break
            for trial in list(self.running):
                if trial.status != "RUNNING":
                    continue
                trial.epoch += 1
                self.reports += 1
                value = float(curves[trial.row, trial.epoch - 1])
                result = {"training_iteration": trial.epoch, "acc": value, "trial_id": trial.trial_id}
                trial.last_result = result
                last[trial.trial_id] = value
                action = self.scheduler.on_trial_result(self, trial, result)
                if action == "STOP" or (action == "CONTINUE" and trial.epoch >= epochs_max):
                    self.stop_trial(trial)
                elif action == "PAUSE":
                    trial.status = "PAUSED"
                    self.running.remove(trial)
        return self.reports, last


def run_sim(method: str, pool_name: str, configs: list[dict[str, Any]], curves: np.ndarray,
            seed: int) -> dict[str, Any]:
    order = np.random.default_rng(seed).permutation(len(configs))
    trials = [SimTrial(f"t{k:04d}", {"hp": configs[i]}, int(i)) for k, i in enumerate(order)]
    scheduler = make_scheduler(method, curves.shape[1], seed, pool_name)
    t0 = time.time()
    controller = SimController(scheduler, trials)
    first_stop: list[int] = []
    if method.startswith("predictive"):
        scheduler.on_decision = lambda d: first_stop.append(controller.reports) if d.stop else None
    reports, last = controller.run(curves)
    rows = {t.trial_id: t.row for t in trials}
    finals = curves[:, -1]
    chosen = rows[max(last, key=last.get)]
    out = {"method": method, "pool": pool_name, "seed": seed, "engine": "sim", "epochs": reports,
           "regret": float(finals.max() - finals[chosen]), "wall_s": round(time.time() - t0, 1),
           "unfinished": sum(t.status != "TERMINATED" for t in trials)}
    if method.startswith("predictive"):
        out["stopped_by_rule"] = len(scheduler.stopped_by_rule)
        out["epochs_before_first_stop"] = first_stop[0] if first_stop else None
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
        first = [r["epochs_before_first_stop"] for r in mine if r.get("epochs_before_first_stop")]
        if first:
            table[method]["epochs_before_first_stop"] = float(np.mean(first))
    return table


def print_tables(rows: list[dict[str, Any]], fifo_epochs: dict[str, int]) -> dict[str, dict[str, float]]:
    """Print the table over all pools, LCBench only and own curves only; return the first."""
    groups = {"all pools": rows,
              "LCBench only": [r for r in rows if r["pool"].startswith("lcbench")],
              "own curves (digits) only": [r for r in rows if r["pool"] == "digits"]}
    for title, subset in groups.items():
        if not subset:
            continue
        print(f"\n{title}\n{'method':<16}{'epochs':>9}{'speedup':>9}{'regret':>9}{'worst':>9}"
              f"{'runs':>6}  worst pool")
        for method, s in summarise(subset, fifo_epochs).items():
            first = s.get("epochs_before_first_stop")
            print(f"{method:<16}{s['epochs']:>9.0f}{s['speedup']:>8.2f}x{s['mean_regret']:>9.3f}"
                  f"{s['worst_pool_regret']:>9.3f}{s['runs']:>6}  {s['worst_pool']}"
                  + (f"  (first stop after {first:.0f} epochs)" if first else ""))
    return summarise(rows, fifo_epochs)


def plot(rows: list[dict[str, Any]], fifo_epochs: dict[str, int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, method in enumerate(dict.fromkeys(r["method"] for r in rows)):
        mine = [r for r in rows if r["method"] == method]
        x = [r["epochs"] / fifo_epochs[r["pool"]] for r in mine]
        y = [r["regret"] for r in mine]
        ax.scatter(x, y, s=10, alpha=0.35, color=f"C{k}")
        ax.scatter([np.mean(x)], [np.mean(y)], s=120, marker="*", color=f"C{k}",
                   edgecolors="black", linewidths=0.5, label=method)
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
    parser.add_argument("--median-seeds", type=int, default=None,
                        help="run the median rule on the first N seeds only (Ray's rule is "
                        "quadratic in the number of reports: about a minute per run)")
    parser.add_argument("--budget-min", type=float, default=0.0,
                        help="stop starting new seeds after this many minutes (0: no limit)")
    parser.add_argument("--engine", choices=("tune", "sim"), default="tune",
                        help="tune: real Ray Tune runs; sim: the same schedulers driven in process")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--summarise", metavar="RUNS_JSON",
                        help="only print the tables of a saved early_stopping_runs_*.json")
    args = parser.parse_args(argv)
    if args.summarise:
        saved = json.loads(Path(args.summarise).read_text())
        fifo = {r["pool"]: r["epochs"] for r in saved if r["method"] == "fifo"}
        print_tables(saved, fifo)
        plot(saved, fifo, Path(args.summarise).with_suffix(".png"))
        return
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

    logging.getLogger("ray.tune.schedulers").setLevel(logging.WARNING)
    t_start = time.time()
    r2 = {name: r2_at_quarter(*pool) for name, pool in pools.items()}
    if args.engine == "tune":
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
                if method == "median" and args.median_seeds is not None and seed >= args.median_seeds:
                    continue
                if args.engine == "tune":
                    row = run_tune(method, name, configs, curves, seed, workdir)
                else:
                    row = run_sim(method, name, configs, curves, seed)
                rows.append(row)
                print(json.dumps(row), flush=True)
        seeds_done += 1
    if args.engine == "tune":
        ray.shutdown()
    fifo_epochs = {name: pool[1].size for name, pool in pools.items()}
    elapsed = time.time() - t_start
    print(f"\nengine {args.engine}: {len(pools)} pools x {args.configs} configs x {epochs} epochs, "
          f"{seeds_done} seed(s), {elapsed / 60:.1f} min")
    table = print_tables(rows, fifo_epochs)
    print(f"\n{'pool':<20}{'R2 predictor@25%':>18}{'R2 linear@25%':>15}")
    for name, (ours, base) in r2.items():
        print(f"{name:<20}{ours:>18.3f}{base:>15.3f}")
    (out / f"early_stopping_runs_{args.engine}.json").write_text(json.dumps(rows, indent=1))
    plot(rows, fifo_epochs, out / f"early_stopping_regret_vs_epochs_{args.engine}.png")
    lc_r2 = {k: v for k, v in r2.items() if k.startswith("lcbench")}
    headline = {
        "engine": args.engine, "seeds": seeds_done, "configs": args.configs, "epochs": epochs, "minutes": round(elapsed / 60, 1),
        **{f"{m}_speedup": round(s["speedup"], 2) for m, s in table.items()},
        **{f"{m}_mean_regret": round(s["mean_regret"], 3) for m, s in table.items()},
        **{f"{m}_worst_regret": round(s["worst_pool_regret"], 3) for m, s in table.items()},
        **{f"{m}_epochs_before_first_stop": round(s["epochs_before_first_stop"])
           for m, s in table.items() if "epochs_before_first_stop" in s},
        "predictor_beats_linear_r2_on_every_lcbench_task": all(a > b for a, b in lc_r2.values()),
        "r2_predictor": {k: round(a, 3) for k, (a, b) in r2.items()},
        "r2_linear": {k: round(b, 3) for k, (a, b) in r2.items()},
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
