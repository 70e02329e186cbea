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

Protocol for the calibrated settings (``VARIANTS``): they were developed and tuned on the five
``TASKS`` only and are reported on the 29 other LCBench tasks (3 orderings, then 10); each pool's
prior is trained on curves of every *other* LCBench task (leave-one-task-out), fitted once and
cached under ``benchmarks/results/priors/``. Tables per pool and per group (development /
unseen), a Pareto PNG (speedup vs regret) and a reliability PNG (stated P(beats the reference)
vs observed frequency) are written to ``--out``. Under each table, every method against ASHA on
the same pools (``paired_vs``): regret minus ASHA's and the ratio of speedups, with 95% bootstrap
intervals over the pools (over the orderings when a group has fewer than five pools)::

    UNSEEN=$(python -c "from searchlab.workloads.lcbench import surrogate as s; print(','.join(
        t for t in s().tasks if t not in ('3945','7593','34539','126025','189909')))")
    nice -n 10 python benchmarks/early_stopping.py --engine sim --seeds 10 --no-digits \
        --tasks $UNSEEN --methods fifo,asha,hyperband,r1_me3,predictive_cal,r1_d05,r1_kt33
    nice -n 10 python benchmarks/early_stopping.py --engine sim --seeds 10 --tasks "" --fashion \
        --methods fifo,asha,hyperband,predictive_cal,predictive_cal_r3,r1_me3,r1_d05,r1_kt33

``--engine sim`` drives the very same scheduler objects (Ray's and ours) with a small stand-in
for Tune's controller (two slots, one epoch per trial in turn, Tune's CONTINUE/PAUSE/STOP
handling), without Ray's per-result overhead: the full grid (10 orderings x 6 pools x 7 methods)
takes about 26 minutes on two shared cores, against several hours through Tune. Checked both
ways on five unseen tasks x 3 orderings (docs/predictive.md): the same regret in 58 of 60 runs,
ASHA's epochs within 1%, the predictive settings' 2-9% more through Tune (the order of decisions
differs: Tune's trials do not run in lockstep).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import pickle
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
FASHION = ROOT / "benchmarks" / "data" / "fashion_curves.npz"
CHARLM = ROOT / "benchmarks" / "data" / "charlm_curves.npz"


# --- pools ------------------------------------------------------------------------------------
def lcbench_pool(task: str, n: int, epochs: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    from searchlab.workloads.lcbench import sample_configs, surrogate

    configs = sample_configs(n, seed=10_000 + int(task))  # not the pool the SVR was tuned on
    return configs, surrogate().curves(task, configs, epochs)


def digits_pool(n: int, epochs: int) -> tuple[list[dict[str, Any]], np.ndarray]:
    from searchlab.predictive.curves import CurveSet

    curve_set = CurveSet.load(DIGITS)
    return curve_set.configs[:n], curve_set.curves["val_accuracy"][:n, :epochs] * 100.0


def fashion_pool(n: int, epochs: int, path: Path = FASHION) -> tuple[list[dict[str, Any]],
                                                                     np.ndarray]:
    from searchlab.predictive.curves import CurveSet

    curve_set = CurveSet.load(path)
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


#: predictive settings beyond the paper's (``--variants`` adds or overrides entries). A ``prior``
#: setting is completed per pool: leave-one-task-out over LCBench for an LCBench pool (the
#: pool's own task excluded), LCBench curves without hyperparameters for the others.
_CALIBRATED = {"calibration": "conformal", "reference": "rank", "min_seen": 3,
               "rungs": "geometric", "min_epoch": 2, "delta": 0.1, "prior": {"takeover": 1000}}
VARIANTS: dict[str, dict[str, Any]] = {
    # chosen on the five development tasks (TASKS) only, 3 orderings (docs/predictive.md)
    "predictive_cal": {**_CALIBRATED, "rank": 1},
    "predictive_cal_r3": {**_CALIBRATED, "rank": 3},  # more careful, slower
    # added after the unseen-task results of the two above were known (not a held-out choice)
    "predictive_cal_r2": {**_CALIBRATED, "rank": 2},
    # second round, tuned on the five development tasks only (10 orderings; r = rank, me = min
    # epoch, d = delta, kt = keep_top): r1_me3 is the one chosen there (docs/predictive.md)
    "r1_me3": {**_CALIBRATED, "rank": 1, "min_epoch": 3},
    "r1_me4": {**_CALIBRATED, "rank": 1, "min_epoch": 4},
    "r1_d05": {**_CALIBRATED, "rank": 1, "delta": 0.05},
    "r1_kt33": {**_CALIBRATED, "rank": 1, "keep_top": 0.33},
    # after the unseen-task results of the second round were known (not held-out choices)
    "r1_me3_kt33": {**_CALIBRATED, "rank": 1, "min_epoch": 3, "keep_top": 0.33},
    "r1_me3_d07": {**_CALIBRATED, "rank": 1, "min_epoch": 3, "delta": 0.07},
}
#: the learning-curve PFN (model: pfn, the shipped weights; docs/predictive.md): settings tried
#: on the five development tasks only (r = rank, d = delta); r1_d05, r1_d02, r1_d01 and r3_d05
#: were run (orderings 0-1), none met the targets there, and pfn_r3_d05 is the fall-back choice
#: reported on the unseen tasks
_PFN = {"model": "pfn", "reference": "rank", "min_seen": 3, "rungs": "geometric"}
VARIANTS.update({f"pfn_r{r}_d{d:02d}": {**_PFN, "rank": r, "min_seen": max(3, r),
                                        "delta": d / 100, "min_epoch": 2}
                 for r in (1, 3, 5) for d in (5, 2, 1)})
PRIOR_PER_TASK = 20


def is_predictive(method: str) -> bool:
    return method.startswith("predictive") or method in VARIANTS
PRIORS: dict[str, Any] = {}  # (pool, prior settings) -> PriorPredictor, fitted lazily, reused


def pool_prior(pool_name: str, prior: dict[str, Any], epochs: int) -> Any:
    """The leave-one-task-out prior of a pool (cached: its models are reused across orderings)."""
    from searchlab.predictive.factory import PriorSettings
    from searchlab.predictive.prior import PriorPredictor, TaskCurves, lcbench_corpus

    settings = PriorSettings(**prior)
    key = json.dumps([pool_name, settings.use_config, epochs])
    if key not in PRIORS:
        if "corpus" not in PRIORS:
            PRIORS["corpus"] = lcbench_corpus(PRIOR_PER_TASK, 52, prefix="hp.")
        corpus: TaskCurves = PRIORS["corpus"]
        use_config = settings.use_config
        if pool_name.startswith("lcbench-"):
            corpus = corpus.without([pool_name.split("-", 1)[1]])
        else:
            use_config = False  # other hyperparameters than LCBench's
            if pool_name == "fashion" and DIGITS.exists():  # an earlier study of another workload
                corpus = corpus + digits_corpus(epochs)
        cache = RESULTS / "priors" / (hashlib.sha1(
            f"{key}{PRIOR_PER_TASK}".encode()).hexdigest()[:16] + ".pkl")
        if cache.exists():
            PRIORS[key] = pickle.loads(cache.read_bytes())
            PRIORS[key]._keys = {}  # the key mapping is per study: not reused
        else:
            from searchlab.predictive.factory import GEOMETRIC_RUNGS

            prior_model = PriorPredictor(corpus, epochs, use_config=use_config,
                                         normalized=settings.normalized)
            for t in GEOMETRIC_RUNGS:  # fit the models the geometric rungs need, once
                if t < epochs:
                    prior_model.model(t)
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(pickle.dumps(prior_model))
            PRIORS[key] = prior_model
    PRIORS[key].normalized = settings.normalized  # both kinds of residuals are fitted
    return PRIORS[key]


def digits_corpus(epochs: int) -> Any:
    from searchlab.predictive.curves import CurveSet
    from searchlab.predictive.prior import TaskCurves

    curve_set = CurveSet.load(DIGITS)
    curves = curve_set.curves["val_accuracy"][:, :epochs] * 100.0
    return TaskCurves(curve_set.configs, curves, ["digits"] * len(curves))


def make_scheduler(method: str, epochs: int, seed: int, pool_name: str = "",
                   on_decision: Any = None) -> Any:
    from searchlab.predictive.factory import PredictiveSettings, build_scheduler
    from searchlab.spec.parse import parse_text
    from searchlab.stopping import SchedulerContext

    if method in VARIANTS:
        variant = dict(VARIANTS[method])
        settings = PredictiveSettings(seed=seed, **variant)
        # the prior is built once per pool (see pool_prior); its takeover is the settings'
        prior = pool_prior(pool_name, variant["prior"], epochs) if "prior" in variant else None
        return build_scheduler(settings, metric="acc", mode="max", max_t=epochs, prior=prior,
                               on_decision=on_decision)
    if method.startswith("predictive"):
        settings = PredictiveSettings(bracket="hyperband" if method.endswith("_hb") else "none",
                                      seed=seed)
        scheduler = build_scheduler(settings, metric="acc", mode="max", max_t=epochs,
                                    on_decision=on_decision)
        if method == "predictive_warm":
            for config, curve in zip(*warm_pool(pool_name, epochs)):
                scheduler.rule.predictor.add({f"hp.{k}": v for k, v in config.items()}, curve)
        return scheduler
    name, extra = {
        "fifo": ("fifo", ""), "median": ("median", ""), "hyperband": ("hyperband", ""),
        "asha": ("asha", ", grace_period: 4, reduction_factor: 3"),
        "asha_g1": ("asha", ", grace_period: 1, reduction_factor: 3"),
    }[method]
    study = parse_text(f"name: b\nworkload: sphere\nmetric: {{name: acc, mode: max}}\n"
                       f"space: {{x: {{uniform: [0, 1]}}}}\nbudget: {{trials: 1}}\n"
                       f"stopping: {{scheduler: {name}{extra}}}\n").study
    return study.stopping.build(SchedulerContext(metric="acc", mode="max", max_epochs=epochs,
                                                 space=None))


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
    if is_predictive(method):
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
                result = {"training_iteration": trial.epoch, "acc": value,
                          "trial_id": trial.trial_id}
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
    first_stop: list[int] = []
    decisions: list[Any] = []

    def on_decision(d: Any) -> None:
        decisions.append(d)
        if d.stop and not first_stop:
            first_stop.append(controller.reports)

    scheduler = make_scheduler(method, curves.shape[1], seed, pool_name, on_decision)
    t0, cpu0 = time.time(), time.process_time()
    controller = SimController(scheduler, trials)
    reports, last = controller.run(curves)
    rows = {t.trial_id: t.row for t in trials}
    finals = curves[:, -1]
    chosen = rows[max(last, key=last.get)]
    out = {"method": method, "pool": pool_name, "seed": seed, "engine": "sim", "epochs": reports,
           "regret": float(finals.max() - finals[chosen]), "wall_s": round(time.time() - t0, 1),
           "cpu_s": round(time.process_time() - cpu0, 2),
           "unfinished": sum(t.status != "TERMINATED" for t in trials)}
    if is_predictive(method):
        out["stopped_by_rule"] = len(scheduler.stopped_by_rule)
        out["epochs_before_first_stop"] = first_stop[0] if first_stop else None
        out["decisions"] = len(decisions)  # cpu_s / decisions: the cost of one decision
        # stated P(final beats the reference) against whether it did: one [sum p, hits, n] per bin
        stated = [d.p_beat_best for d in decisions]
        hit = [bool(finals[rows[d.trial_id]] > d.best) for d in decisions]
        out["reliability"] = reliability_counts(stated, hit)
    return out


RELIABILITY_EDGES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)


def reliability_counts(stated: list[float], hit: list[bool]) -> list[list[float]]:
    p, y = np.asarray(stated, dtype=float), np.asarray(hit, dtype=bool)
    bins = np.clip(np.searchsorted(RELIABILITY_EDGES, p, side="right") - 1, 0,
                   len(RELIABILITY_EDGES) - 2)
    return [[float(p[bins == b].sum()), float(y[bins == b].sum()), int((bins == b).sum())]
            for b in range(len(RELIABILITY_EDGES) - 1)]


_SERVED: dict[int, Any] = {}


def ray_curves(curves: np.ndarray) -> Any:
    import ray

    key = id(curves)
    if key not in _SERVED:
        _SERVED.clear()
        _SERVED[key] = ray.put(curves)
    return _SERVED[key]


# --- predictor quality ------------------------------------------------------------------------
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
def summarise(rows: list[dict[str, Any]],
              fifo_epochs: dict[str, int]) -> dict[str, dict[str, float]]:
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
        decided = [r for r in mine if r.get("decisions") and r.get("engine") == "sim"]
        if decided:  # the scheduler's whole time (fits included) per decision, sim engine
            table[method]["ms_per_decision"] = (1000 * sum(r["wall_s"] for r in decided)
                                                / sum(r["decisions"] for r in decided))
            timed = [r for r in decided if "cpu_s" in r]  # CPU time: does not depend on load
            if timed:
                table[method]["cpu_ms_per_decision"] = (
                    1000 * sum(r["cpu_s"] for r in timed) / sum(r["decisions"] for r in timed))
    return table


def paired_vs(rows: list[dict[str, Any]], fifo_epochs: dict[str, int], base: str = "asha",
              n_boot: int = 10_000) -> dict[str, dict[str, Any]]:
    """Every method against ``base`` on the same cases, with 95% bootstrap intervals.

    A case is a pool (its regret and speedup averaged over its orderings) when there are at least
    five pools, else one (pool, ordering) run, paired by ordering (full training, run once per
    pool, is then left out). Per method: the mean over cases
    of (regret - base's regret), the ratio of mean speedups, each with the 2.5 / 97.5 percentiles
    of 10,000 resamples of the cases, and the number of cases it does better / worse on regret.
    """
    by_pool = len({r["pool"] for r in rows}) >= 5
    cells: dict[str, dict[Any, list[tuple[float, float]]]] = {}
    for r in rows:
        case = r["pool"] if by_pool else (r["pool"], r["seed"])
        cells.setdefault(r["method"], {}).setdefault(case, []).append(
            (r["regret"], fifo_epochs[r["pool"]] / r["epochs"]))
    if base not in cells:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for method, mine in cells.items():
        cases = sorted(set(mine) & set(cells[base]), key=str)
        if method == base or len(cases) < 2 or (method == "fifo" and not by_pool):
            continue
        m = np.array([np.mean(mine[c], axis=0) for c in cases])  # columns: regret, speedup
        b = np.array([np.mean(cells[base][c], axis=0) for c in cases])
        diff = m[:, 0] - b[:, 0]
        idx = np.random.default_rng(0).integers(0, len(cases), size=(n_boot, len(cases)))
        ratio = m[idx, 1].mean(axis=1) / b[idx, 1].mean(axis=1)
        out[method] = {
            "regret_diff": float(diff.mean()),
            "regret_diff_ci": [float(v) for v in
                               np.percentile(diff[idx].mean(axis=1), [2.5, 97.5])],
            "speedup_ratio": float(m[:, 1].mean() / b[:, 1].mean()),
            "speedup_ratio_ci": [float(v) for v in np.percentile(ratio, [2.5, 97.5])],
            "better": int(np.sum(diff < -1e-9)), "worse": int(np.sum(diff > 1e-9)),
            "cases": len(cases), "case": "pool" if by_pool else "run",
        }
    return out


def print_paired(rows: list[dict[str, Any]], fifo_epochs: dict[str, int]) -> None:
    paired = paired_vs(rows, fifo_epochs)
    if not paired:
        return
    case = next(iter(paired.values()))["case"]
    print(f"  against ASHA, paired by {case} (95% bootstrap CI over {case}s):")
    for method, p in paired.items():
        lo, hi = p["regret_diff_ci"]
        rlo, rhi = p["speedup_ratio_ci"]
        print(f"  {method:<14} regret - ASHA's {p['regret_diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
              f"  speedup / ASHA's {p['speedup_ratio']:.2f}x [{rlo:.2f}, {rhi:.2f}]"
              f"  better/worse on {p['better']}/{p['worse']} of {p['cases']}")


def print_tables(rows: list[dict[str, Any]],
                 fifo_epochs: dict[str, int]) -> dict[str, dict[str, float]]:
    """Print the table over all pools, LCBench only and own curves only; return the first."""
    dev = {f"lcbench-{t}" for t in TASKS}
    groups = {"all pools": rows,
              "LCBench only": [r for r in rows if r["pool"].startswith("lcbench")],
              "LCBench development tasks (tuned on)": [r for r in rows if r["pool"] in dev],
              "LCBench unseen tasks (reported)": [
                  r for r in rows if r["pool"].startswith("lcbench") and r["pool"] not in dev],
              "own curves (digits) only": [r for r in rows if r["pool"] == "digits"],
              "own curves (Fashion-MNIST) only": [r for r in rows if r["pool"] == "fashion"],
              "own curves (character LM) only": [r for r in rows if r["pool"] == "charlm"]}
    printed: list[set[int]] = []
    for title, subset in groups.items():
        ids = {id(r) for r in subset}
        if not subset or ids in printed:  # empty, or the same rows as a group above
            continue
        printed.append(ids)
        print(f"\n{title}\n{'method':<16}{'epochs':>9}{'speedup':>9}{'regret':>9}{'worst':>9}"
              f"{'runs':>6}  worst pool")
        for method, s in summarise(subset, fifo_epochs).items():
            first = s.get("epochs_before_first_stop")
            print(f"{method:<16}{s['epochs']:>9.0f}{s['speedup']:>8.2f}x{s['mean_regret']:>9.3f}"
                  f"{s['worst_pool_regret']:>9.3f}{s['runs']:>6}  {s['worst_pool']}"
                  + (f"  (first stop after {first:.0f} epochs)" if first else "")
                  + (f" {s['ms_per_decision']:.1f} ms/decision" if "ms_per_decision" in s
                     else "")
                  + (f" ({s['cpu_ms_per_decision']:.1f} ms CPU)" if "cpu_ms_per_decision" in s
                     else ""))
        print_paired(subset, fifo_epochs)
    print_per_pool(rows, fifo_epochs)
    return summarise(rows, fifo_epochs)


def print_per_pool(rows: list[dict[str, Any]], fifo_epochs: dict[str, int]) -> None:
    """Mean regret and speedup of every method on every pool (over its orderings)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    pools = sorted({r["pool"] for r in rows})
    if len(pools) < 2:
        return
    print("\nper pool: mean regret / speedup over the orderings")
    print(f"{'pool':<16}" + "".join(f"{m[:15]:>16}" for m in methods))
    for pool in pools:
        cells = []
        for m in methods:
            mine = [r for r in rows if r["method"] == m and r["pool"] == pool]
            if not mine:
                cells.append(f"{'-':>16}")
                continue
            regret = np.mean([r["regret"] for r in mine])
            speed = np.mean([fifo_epochs[pool] / r["epochs"] for r in mine])
            cells.append(f"{regret:>8.2f}/{speed:>5.1f}x ")
        print(f"{pool:<16}" + "".join(cells))


def plot_pareto(rows: list[dict[str, Any]], fifo_epochs: dict[str, int], path: Path,
                title: str) -> None:
    """Speedup against mean regret, one point per method (setting), with the targets marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summarise(rows, fifo_epochs)
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for k, (method, s) in enumerate(table.items()):
        ax.scatter([s["speedup"]], [s["mean_regret"]], s=70,
                   color=plt.cm.tab20((2 * k + k // 10) % 20),
                   marker="o" if is_predictive(method) else "s", label=method)
        ax.annotate(f"worst {s['worst_pool_regret']:.2f}", (s["speedup"], s["mean_regret"]),
                    fontsize=6, xytext=(4, 3), textcoords="offset points")
    if "asha" in table:
        asha = table["asha"]
        ax.axvline(1.5 * asha["speedup"], color="grey", ls=":", lw=1)
        ax.axhline(min(0.2, asha["mean_regret"]), color="grey", ls=":", lw=1)
        ax.text(1.5 * asha["speedup"], ax.get_ylim()[1] * 0.95, " target: 1.5x ASHA's speedup,"
                "\n regret <= min(0.2, ASHA's)", fontsize=7, va="top")
    ax.set_xscale("log")
    times = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x")
    ax.xaxis.set_major_formatter(times)
    ax.xaxis.set_minor_formatter(times)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("speedup over full training (mean over runs)")
    ax.set_ylabel("mean regret over tasks (accuracy points)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_reliability_of(rows: list[dict[str, Any]], path: Path, title: str) -> dict[str, float]:
    """Reliability diagram of every predictive method's stated probabilities; returns ECEs."""
    from searchlab.predictive.calibration import (
        Reliability,
        expected_calibration_error,
        plot_reliability,
    )

    curves: dict[str, list[Reliability]] = {}
    for method in dict.fromkeys(r["method"] for r in rows if "reliability" in r):
        sums = np.sum([r["reliability"] for r in rows if r["method"] == method
                       and "reliability" in r], axis=0)
        curves[method] = [Reliability(RELIABILITY_EDGES[b], RELIABILITY_EDGES[b + 1],
                                      p / n, hits / n, int(n))
                          for b, (p, hits, n) in enumerate(sums) if n > 0]
    if curves:
        plot_reliability(curves, str(path), title)
    return {m: expected_calibration_error(b) for m, b in curves.items()}


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


def report_figures(rows: list[dict[str, Any]], fifo_epochs: dict[str, int], out: Path,
                   table: dict[str, dict[str, float]], extra: dict[str, Any]) -> dict[str, Any]:
    """The Pareto and reliability PNGs of the unseen tasks (else of all pools); headline figures
    of the unseen tasks when there are any."""
    dev = {f"lcbench-{t}" for t in TASKS}
    unseen = [r for r in rows if r["pool"].startswith("lcbench") and r["pool"] not in dev]
    subset, label = (unseen, "LCBench tasks not tuned on") if unseen else (rows, "all pools")
    n_pools = len({r["pool"] for r in subset})
    n_orderings = len({r["seed"] for r in subset})
    plot_pareto(subset, fifo_epochs, out / "early_stopping_pareto.png",
                f"Speedup vs regret, {label} ({n_pools} pools x {n_orderings} orderings)")
    ece = plot_reliability_of(subset, out / "early_stopping_reliability.png",
                              f"Stated P(final beats reference) vs observed, {label}")
    figures = dict(extra)
    figures["ece"] = {m: round(v, 4) for m, v in ece.items()}
    if unseen:
        s = summarise(unseen, fifo_epochs)
        figures["unseen_pools"] = n_pools
        figures["unseen"] = {m: {"speedup": round(v["speedup"], 2),
                                 "mean_regret": round(v["mean_regret"], 3),
                                 "worst_regret": round(v["worst_pool_regret"], 3),
                                 "worst_pool": v["worst_pool"]} for m, v in s.items()}
    figures["vs_asha"] = {m: {k: [round(x, 3) for x in v] if isinstance(v, list)
                              else round(v, 3) if isinstance(v, float) else v
                              for k, v in p.items()}
                          for m, p in paired_vs(subset, fifo_epochs).items()}
    if extra:  # --summarise: print the headline here
        print(json.dumps(figures))
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="2 tasks, 40 configs, 16 epochs, 1 seed")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="orderings first-seed .. first-seed + seeds - 1")
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
                        help="only print the tables of saved early_stopping_runs_*.json files "
                        "(comma-separated; their rows are pooled)")
    parser.add_argument("--variants", default="",
                        help='JSON {"name": {predictive settings}} added to VARIANTS')
    parser.add_argument("--fashion", action="store_true",
                        help="also the Fashion-MNIST curves (benchmarks/data/fashion_curves.npz)")
    parser.add_argument("--charlm", action="store_true",
                        help="also the character-level LM curves (benchmarks/data/"
                        "charlm_curves.npz)")
    args = parser.parse_args(argv)
    if args.variants:
        VARIANTS.update(json.loads(args.variants))
    if args.summarise:
        saved = [r for f in args.summarise.split(",") for r in json.loads(Path(f).read_text())]
        fifo = {r["pool"]: r["epochs"] for r in saved if r["method"] == "fifo"}
        saved = [r for r in saved if r["pool"] in fifo]
        table = print_tables(saved, fifo)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        plot(saved, fifo, out / "early_stopping_regret_vs_epochs.png")
        report_figures(saved, fifo, out, table, {"files": args.summarise})
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
        for task in filter(None, args.tasks.split(",")):  # --tasks "": own curves only
            pools[f"lcbench-{task}"] = lcbench_pool(task, args.configs, epochs)
    else:
        print(f"LCBench surrogate not found under {lc.data_dir()}; LCBench pools skipped")
    if not args.no_digits and DIGITS.exists():
        pools["digits"] = digits_pool(args.configs, epochs)
    if args.fashion and FASHION.exists():
        pools["fashion"] = fashion_pool(args.configs, epochs)
    if args.charlm and CHARLM.exists():
        pools["charlm"] = fashion_pool(args.configs, epochs, CHARLM)

    logging.getLogger("ray.tune.schedulers").setLevel(logging.WARNING)
    t_start = time.time()
    r2 = {name: r2_at_quarter(*pool) for name, pool in pools.items()}
    if args.engine == "tune":
        from searchlab.execution.ray_start import init_local

        init_local(2)
    rows: list[dict[str, Any]] = []
    methods = args.methods.split(",")
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"searchlab-bench-{os.getpid()}"
    seeds_done = 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        if (args.budget_min and seed > args.first_seed
                and time.time() - t_start > 60 * args.budget_min):
            break
        for name, (configs, curves) in pools.items():
            for method in methods:
                if method == "fifo" and seed > args.first_seed:
                    continue  # full training is the same for every ordering: run it once
                if (method == "median" and args.median_seeds is not None
                        and seed >= args.first_seed + args.median_seeds):
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
    extra = report_figures(rows, fifo_epochs, out, table, {})
    headline = {
        **extra,
        "engine": args.engine, "seeds": seeds_done, "configs": args.configs, "epochs": epochs,
        "minutes": round(elapsed / 60, 1),
        **{f"{m}_speedup": round(s["speedup"], 2) for m, s in table.items()},
        **{f"{m}_mean_regret": round(s["mean_regret"], 3) for m, s in table.items()},
        **{f"{m}_worst_regret": round(s["worst_pool_regret"], 3) for m, s in table.items()},
        **{f"{m}_cpu_ms_per_decision": round(s["cpu_ms_per_decision"], 2)
           for m, s in table.items() if "cpu_ms_per_decision" in s},
        **{f"{m}_epochs_before_first_stop": round(s["epochs_before_first_stop"])
           for m, s in table.items() if "epochs_before_first_stop" in s},
        "predictor_beats_linear_r2_on_every_lcbench_task": all(a > b for a, b in lc_r2.values()),
        "r2_predictor": {k: round(a, 3) for k, (a, b) in r2.items()},
        "r2_linear": {k: round(b, 3) for k, (a, b) in r2.items()},
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
