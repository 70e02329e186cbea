"""Orchestration overhead: the same 200-trial analytic study run several ways, in one process.

    python benchmarks/overhead.py [--trials 200] [--reports 5] [--concurrency 2]

Ways: searchlab without tracking; searchlab with MLflow tracking (SQLite); hand-tuned Ray Tune
(actor reuse, no loggers, no checkpoints); Ray Tune with default settings; Ray Tune with its own
MLflowLoggerCallback (SQLite); Optuna in-process (the floor of what orchestration costs).
Each trial is `sphere_curve`: no compute, `--reports` metric reports. All Ray variants share one
local Ray cluster with `--concurrency` CPUs, started before timing. Prints a table and, as the
last line, one JSON object with trials/second for each way.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")


def study_text(name: str, trials: int, reports: int, concurrency: int, tracking: bool) -> str:
    return textwrap.dedent(f"""\
        name: {name}
        workload: sphere_curve
        metric: {{name: loss, mode: min}}
        space:
          x1: {{uniform: [-5, 5]}}
          x2: {{uniform: [-5, 5]}}
        search: {{algorithm: random, seed: 0}}
        budget: {{trials: {trials}, concurrency: {concurrency}, max_epochs: {reports}}}
        tracking: {{enabled: {str(tracking).lower()}}}
        """)


def run_searchlab(tmp: Path, trials: int, reports: int, concurrency: int, tracking: bool) -> float:
    from searchlab.runner import RunOptions, run_study
    from searchlab.spec.parse import parse_text

    name = f"overhead-{'mlflow' if tracking else 'plain'}"
    loaded = parse_text(study_text(name, trials, reports, concurrency, tracking), f"{name}.yaml")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'searchlab-mlflow.db'}"
    t0 = time.perf_counter()
    result = run_study(loaded, RunOptions(storage=str(tmp / "searchlab"), quiet=True, restart=True),
                       out=open(os.devnull, "w"))
    elapsed = time.perf_counter() - t0
    assert len(result.rows) == trials, len(result.rows)
    return elapsed


def _objective(config):
    from ray import tune

    base = config["x1"] ** 2 + config["x2"] ** 2
    for epoch in range(1, config["reports"] + 1):
        tune.report({"loss": base * (1 + 1 / epoch)})


def run_ray(tmp: Path, trials: int, reports: int, concurrency: int, variant: str) -> float:
    from ray import tune

    space = {"x1": tune.uniform(-5, 5), "x2": tune.uniform(-5, 5), "reports": reports}
    callbacks = []
    if variant == "tuned":
        os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
        tune_config = tune.TuneConfig(num_samples=trials, max_concurrent_trials=concurrency,
                                      reuse_actors=True, metric="loss", mode="min")
    else:
        os.environ.pop("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", None)
        tune_config = tune.TuneConfig(num_samples=trials, metric="loss", mode="min")
    if variant == "mlflow":
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        callbacks.append(MLflowLoggerCallback(tracking_uri=f"sqlite:///{tmp / 'ray-mlflow.db'}",
                                              experiment_name="ray-mlflow-callback"))
    run_config = tune.RunConfig(name=f"ray-{variant}", storage_path=str(tmp / "ray"), verbose=0,
                                callbacks=callbacks)
    tuner = tune.Tuner(_objective, param_space=space, tune_config=tune_config,
                       run_config=run_config)
    t0 = time.perf_counter()
    grid = tuner.fit()
    elapsed = time.perf_counter() - t0
    assert len(grid) == trials
    return elapsed


def run_optuna(trials: int, reports: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        x1, x2 = trial.suggest_float("x1", -5, 5), trial.suggest_float("x2", -5, 5)
        base = x1 * x1 + x2 * x2
        for epoch in range(1, reports + 1):
            trial.report(base * (1 + 1 / epoch), epoch)
        return base * (1 + 1 / reports)

    t0 = time.perf_counter()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=trials)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--reports", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--skip", nargs="*", default=[], help="ways to skip (e.g. ray-tune-default)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the Ray-based ways, alternating order; the median is reported")
    args = ap.parse_args()

    import ray

    logging.getLogger("ray").setLevel(logging.ERROR)
    from searchlab.execution.ray_start import init_local

    init_local(args.concurrency)
    tmp = Path(tempfile.mkdtemp(prefix="searchlab-overhead-"))
    n, r, c = args.trials, args.reports, args.concurrency
    ways = {
        "optuna-in-process": lambda: run_optuna(n, r),
        "ray-tune-tuned": lambda: run_ray(tmp, n, r, c, "tuned"),
        "searchlab": lambda: run_searchlab(tmp, n, r, c, tracking=False),
        "searchlab+mlflow": lambda: run_searchlab(tmp, n, r, c, tracking=True),
        "ray-tune-default": lambda: run_ray(tmp, n, r, c, "default"),
        "ray-tune+MLflowLoggerCallback": lambda: run_ray(tmp, n, r, c, "mlflow"),
    }
    import statistics

    runs: dict[str, list[float]] = {}
    names = [k for k in ways if k not in args.skip]
    for rnd in range(args.rounds):
        for name in (names if rnd % 2 == 0 else names[::-1]):  # machine drift hits every way
            runs.setdefault(name, []).append(ways[name]())
            print(f"{name:32s} {runs[name][-1]:8.2f} s  {n / runs[name][-1]:8.2f} trials/s",
                  file=sys.stderr, flush=True)
    seconds = {k: statistics.median(v) for k, v in runs.items()}
    ray.shutdown()
    tps = {k: round(n / v, 3) for k, v in seconds.items()}
    tuned = tps.get("ray-tune-tuned")
    summary = {"trials": n, "reports_per_trial": r, "concurrency": c, "trials_per_s": tps,
               "seconds": {k: round(v, 2) for k, v in seconds.items()}}
    if tuned:
        summary["searchlab_vs_tuned"] = round(tps.get("searchlab", 0) / tuned, 3)
        summary["searchlab_mlflow_vs_tuned"] = round(tps.get("searchlab+mlflow", 0) / tuned, 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
