"""STN on a user's model against a 10-trial random search over the same hyperparameters.

The model is not a built-in: ``examples/stn_resnet`` (a small ResNet-style CNN with batch norm;
label smoothing, two dropouts and a shift augmentation tuned; a Fashion-MNIST subset, digits where
it is absent). Per seed, everything through searchlab as a user runs it (Ray Tune, MLflow):

- random search: a study of ``--trials`` plain training runs at hyperparameters drawn uniformly
  from the example's space (workload ``searchlab.methods.stn.method:fixed_workload`` with the
  example's settings, so the very same data, network, optimiser, schedule and evaluation), metric
  ``best_val_loss`` (the best epoch's, as STN's);
- the example's own study (``method: stn``, variants ``stn`` and ``plain``): one STN run, and the
  plain network at STN's initial values.

Target (issue 21): one STN run costing at most 2x one training run reaches a validation loss no
worse than the best of the random search's trials, on seeds STN's settings were not chosen on.
``--tune-seeds`` names the seeds they were chosen on (reported apart). Compute is the CPU seconds
of the training processes (1 torch thread each); "one training run" is the mean over the search's
trials, and the plain run is given too. Test loss (at each run's best validation epoch) says
whether a lower validation loss carries over.

    nice -n 10 python benchmarks/stn_user_model.py --seeds 0,1,2,3,4 --tune-seeds 0

Results go to ``benchmarks/results/stn_user_model[_<tag>].json`` (merged per seed, so seeds can
run in separate processes: ``--seeds 1`` and ``--seeds 2`` side by side) with the MLflow stores
beside it; ``--table`` prints the table of what was saved. The last line printed is one JSON
object with the headline figures.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "stn_resnet"
OUT = Path(__file__).resolve().parent / "results"
FIXED = "searchlab.methods.stn.method:fixed_workload"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def example_spec(overrides: dict[str, Any]) -> dict[str, Any]:
    """The example's study file as a dict, ``path`` absolute, ``overrides`` on its method."""
    spec = yaml.safe_load((EXAMPLE / "study.yaml").read_text())
    spec["method"].update({"path": str(EXAMPLE), **overrides})
    return spec


def run(study: dict[str, Any], root: Path) -> Any:
    """One searchlab study through Ray Tune (its own local cluster) into ``root``'s MLflow."""
    import searchlab

    study = {**study, "tracking": {"uri": f"sqlite:///{root / 'mlflow.db'}"},
             "storage": str(root / "studies")}
    t = time.perf_counter()
    for attempt in range(3):  # on a crowded machine a local Ray node may not start in time
        try:
            result = searchlab.run(study, quiet=True, restart=True)
            break
        except Exception as e:  # noqa: BLE001 - Ray's start-up timeout is a bare Exception
            if "timed out during startup" not in str(e) or attempt == 2:
                raise
            print(f"  Ray did not start ({str(e)[:80]}); again in 60 s", flush=True)
            time.sleep(60)
    print(f"  study {study['name']}: {time.perf_counter() - t:.0f} s wall, load {load()}",
          flush=True)
    return result


def random_search(spec: dict[str, Any], seed: int, trials: int, concurrency: int,
                  root: Path) -> dict[str, Any]:
    import mlflow

    method = {k: v for k, v in spec["method"].items() if k not in ("name", "variants", "seeds",
                                                                    "first_seed", "init")}
    study = {"name": f"stn-user-random-s{seed}",
             "workload": {"function": FIXED, "args": {"settings": method, "seed": seed * 1000}},
             "metric": {"name": "best_val_loss", "mode": "min"}, "space": spec["space"],
             "search": {"algorithm": "random", "seed": seed},
             "budget": {"trials": trials, "concurrency": concurrency,
                        "max_epochs": method["epochs"]},
             "resources": {"cpu": 1}}
    result = run(study, root)
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    rows = []
    for r in result.rows:
        m = client.get_run(r.run_id).data.metrics if r.run_id else {}
        rows.append({"trial": r.trial_id, "status": r.status,
                     "config": {k: r.config[k] for k in spec["space"]},
                     "best_val_loss": m.get("best_val_loss"), "test_loss": m.get("test_loss"),
                     "cpu_seconds": m.get("cpu_seconds")})
    done = [r for r in rows if r["status"] == "completed" and r["best_val_loss"] is not None]
    best = min(done, key=lambda r: r["best_val_loss"])
    return {"trials": rows, "completed": len(done), "best": best,
            "single_run_cpu_seconds": statistics.mean(r["cpu_seconds"] for r in done),
            "cpu_seconds": sum(r["cpu_seconds"] or 0.0 for r in rows)}


def stn_study(spec: dict[str, Any], seed: int, root: Path) -> dict[str, Any]:
    study = {**spec, "name": f"stn-user-stn-s{seed}",
             "method": {**spec["method"], "variants": ["stn", "plain"], "seeds": 1,
                        "first_seed": seed},
             "budget": {"concurrency": 2}}
    result = run(study, root)
    runs = {r["variant"]: r for r in result.analysis.tables["stn_runs"]}
    return {"stn": runs["stn"], "plain": runs["plain"], "summary": result.analysis.text}


def frozen_study(spec: dict[str, Any], seed: int, root: Path) -> dict[str, Any]:
    """The control: STN's training with its hyperparameters frozen at the initial values (a
    hyperparameter learning rate of 1e-9): what STN's network and perturbed training give
    without the tuning."""
    study = {**spec, "name": f"stn-user-frozen-s{seed}",
             "method": {**spec["method"], "variants": ["stn"], "seeds": 1, "first_seed": seed,
                        "hyper_lr": 1e-9},
             "budget": {"concurrency": 1}}
    result = run(study, root)
    return result.analysis.tables["stn_runs"][0]


def table(saved: dict[str, Any], seeds: list[int], tuned: list[int]) -> dict[str, Any]:
    print(f"\n{'seed':>5} {'STN val':>8} {'test':>7} {'plain val':>9} {'random best':>11} "
          f"{'its test':>8} {'STN<=best':>9} {'STN/run CPU':>11} {'STN/plain':>9}  final "
          "hyperparameters")
    out: dict[str, Any] = {}
    for label, keep in (("held_out", lambda s: s not in tuned), ("tuning", lambda s: s in tuned)):
        rows = []
        for seed in [s for s in seeds if keep(s) and str(s) in saved]:
            r = saved[str(seed)]
            stn, plain, best = r["stn"]["stn"], r["stn"]["plain"], r["random"]["best"]
            row = {"seed": seed, "stn_val": stn["best_val_loss"],
                   "stn_test": stn.get("test_loss_at_best"), "plain_val": plain["best_val_loss"],
                   "plain_test": plain.get("test_loss_at_best"),
                   "random_best_val": best["best_val_loss"], "random_best_test": best["test_loss"],
                   "random_best_config": best["config"],
                   "stn_wins": stn["best_val_loss"] <= best["best_val_loss"],
                   "stn_over_run": stn["cpu_seconds"] / r["random"]["single_run_cpu_seconds"],
                   "stn_over_plain": stn["cpu_seconds"] / plain["cpu_seconds"],
                   "stn_cpu": stn["cpu_seconds"], "search_cpu": r["random"]["cpu_seconds"],
                   "final": {k[6:]: v for k, v in stn.items() if k.startswith("final.")},
                   "frozen_val": r.get("frozen", {}).get("best_val_loss"),
                   "load": r.get("load")}
            rows.append(row)
            final = ", ".join(f"{k} {v:.3g}" for k, v in row["final"].items())
            if row["frozen_val"] is not None:
                final = f"frozen {row['frozen_val']:.4f}; {final}"
            print(f"{seed:>4}{'*' if seed in tuned else ' '} {row['stn_val']:8.4f} "
                  f"{row['stn_test']:7.4f} {row['plain_val']:9.4f} {row['random_best_val']:11.4f} "
                  f"{row['random_best_test']:8.4f} {'yes' if row['stn_wins'] else 'no':>9} "
                  f"{row['stn_over_run']:11.2f} {row['stn_over_plain']:9.2f}  {final}")
        if rows:
            mean = {k: statistics.mean(r[k] for r in rows)
                    for k in ("stn_val", "stn_test", "plain_val", "plain_test", "random_best_val",
                              "random_best_test", "stn_over_run", "stn_over_plain")}
            frozen = [r["frozen_val"] for r in rows if r["frozen_val"] is not None]
            if frozen:
                mean["frozen_val"] = statistics.mean(frozen)
            out[label] = {"seeds": [r["seed"] for r in rows],
                          "stn_wins": sum(r["stn_wins"] for r in rows), "n": len(rows),
                          "mean": mean, "rows": rows}
            print(f"{label} seeds {out[label]['seeds']}: STN <= the best of the random search in "
                  f"{out[label]['stn_wins']}/{len(rows)}; mean val STN {mean['stn_val']:.4f}, "
                  f"random best {mean['random_best_val']:.4f}, plain {mean['plain_val']:.4f}; "
                  f"test STN {mean['stn_test']:.4f}, random best {mean['random_best_test']:.4f}; "
                  f"one STN run {mean['stn_over_run']:.2f}x a training run "
                  f"({mean['stn_over_plain']:.2f}x the plain one)")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--tune-seeds", default="0", help="seeds STN's settings were chosen on")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--set", default="{}", help="JSON overrides of the example's method block "
                                                "(for both STN and the search)")
    p.add_argument("--control", action="store_true", help="also STN with its hyperparameters "
                                                           "frozen (hyper_lr 1e-9) per seed")
    p.add_argument("--table", action="store_true", help="only print the saved results")
    p.add_argument("--tag", default="", help="names the results file and MLflow stores "
                                             "(stn_user_model_<tag>.json), one per setting")
    args = p.parse_args()
    name = "stn_user_model" + (f"_{args.tag}" if args.tag else "")
    results = OUT / f"{name}.json"
    seeds = [int(s) for s in args.seeds.split(",")]
    tuned = [int(s) for s in args.tune_seeds.split(",") if s]
    overrides = json.loads(args.set)
    spec = example_spec(overrides)
    OUT.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for seed in [] if args.table else seeds:
        root = OUT / f"{name}_s{seed}"
        root.mkdir(parents=True, exist_ok=True)
        print(f"seed {seed}: {args.trials} random-search trials and STN + plain, load {load()}",
              flush=True)
        before = load()
        result = {"random": random_search(spec, seed, args.trials, args.concurrency, root),
                  "stn": stn_study(spec, seed, root), "overrides": overrides,
                  "load": f"{before} -> {load()}"}
        if args.control:
            result["frozen"] = frozen_study(spec, seed, root)
        print(result["stn"]["summary"], flush=True)
        with open(results.with_suffix(".lock"), "w") as lock:  # other processes save seeds too
            fcntl.flock(lock, fcntl.LOCK_EX)
            saved = json.loads(results.read_text()) if results.exists() else {}
            saved[str(seed)] = result
            results.write_text(json.dumps(saved, indent=1, default=float))
    saved = json.loads(results.read_text()) if results.exists() else {}
    out = table(saved, seeds, tuned)
    headline = {"setting": args.tag or "example", "overrides": overrides, "seeds": seeds,
                "tuning_seeds": tuned, "trials": args.trials,
                **{k: {kk: vv for kk, vv in v.items() if kk != "rows"} for k, v in out.items()},
                "wall_seconds": time.perf_counter() - start, "load_end": load()}
    print(json.dumps(headline, default=float))


if __name__ == "__main__":
    main()
