"""Self-Tuning Networks against fixed-value search (MacKay et al. 2019; Delta-STN: Bae & Grosse 2020).

Two parts:

``reference``: the reference MLP setting at full size (784-1200-1200-10, Fashion-MNIST 51k/9k,
15 epochs, 5 warm-up, SGD 0.01/0.9, RMSprop 0.01, 5 weight steps per hyperparameter step):
plain training at dropout 0.05 and an STN run, back to back (``--repeats`` rounds, alternating,
so the STN/plain cost ratio is robust to the machine's load), optionally Delta-STN.

``compare``: per workload (mlp, cnn, lstm; reduced sizes, printed) and seed: one STN run; random
search and Optuna TPE over the same hyperparameters as fixed values (``--trials`` full training
runs each), the best fixed configuration of each retrained with a fresh seed. The searches run
in-process with Optuna's RandomSampler and TPESampler (not through Ray Tune: the ask/tell adapter
has not landed in this tree). Reports best validation and test loss/accuracy and total compute,
and plots the learned schedules (PNG). Nothing was tuned on these cases: every setting is the
reference MLP's, except the reduced sizes and the LSTM's learning rate (chosen before any STN run).

    nice -n 10 python benchmarks/stn_vs_search.py reference --epochs 3 --repeats 1
    nice -n 10 python benchmarks/stn_vs_search.py reference --runs stn --delta
    nice -n 10 python benchmarks/stn_vs_search.py compare --workloads mlp,cnn,lstm --seeds 3

The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from searchlab.methods.stn.hyper import HyperSpec
from searchlab.methods.stn.settings import STNSettings
from searchlab.methods.stn.train import Split, hypertrain, load_split, train_fixed

OUT = Path(__file__).resolve().parent / "results"

DROPOUTS = [HyperSpec(n, "uniform", 0.0, 0.95, 0.05) for n in ("dropout_in", "dropout1", "dropout2")]

#: workload -> (settings, tuned hyperparameters): reduced sizes so that 3 seeds x 23 runs finish
#: on a loaded 2-core machine; batch 32 and 2 weight steps per hyperparameter step so that the
#: short runs still take ~90 hyperparameter steps (chosen before any run, not tuned)
WORKLOADS: dict[str, tuple[STNSettings, list[HyperSpec]]] = {
    "mlp": (STNSettings(model="mlp", train_size=1000, val_size=500, test_size=1000, epochs=8,
                        warmup_epochs=2, batch_size=32, train_steps=2, hyper_lr=0.03, rank=32),
            DROPOUTS),
    "cnn": (STNSettings(model="cnn", train_size=500, val_size=500, test_size=1000, epochs=8,
                        warmup_epochs=2, batch_size=32, train_steps=2, hyper_lr=0.03),
            [HyperSpec("noise", "uniform", 0.0, 1.0, 0.05),
             HyperSpec("shift", "uniform", 0.0, 4.0, 0.2),
             HyperSpec("cutout_length", "uniform", 0.0, 14.0, 0.7),
             HyperSpec("cutout_holes", "int", 0, 3, 0),
             HyperSpec("cutmix_prob", "uniform", 0.0, 1.0, 0.05),
             HyperSpec("dropout_fc", "uniform", 0.0, 0.9, 0.05),
             HyperSpec("weight_decay", "loguniform", 1e-6, 1e-2, 1.6e-6)]),
    "lstm": (STNSettings(model="lstm", corpus_chars=40_000, seq_len=32, train_size=500,
                         val_size=100, epochs=8, warmup_epochs=2, lr=0.5, clip=1.0, batch_size=32,
                         train_steps=2, hyper_lr=0.03),
             [HyperSpec(n, "uniform", 0.0, 0.95, 0.05)
              for n in ("dropout_in", "dropout_hidden", "dropout_out")]),
}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def best(history: list[dict[str, float]]) -> dict[str, float]:
    row = min(history, key=lambda h: h["val_loss"])  # test metrics are those at this epoch
    return {"val_loss": row["val_loss"], "val_accuracy": row["val_accuracy"],
            "test_loss": row["test_loss"], "test_accuracy": row["test_accuracy"],
            "seconds": history[-1]["seconds"]}


def run_stn(s: STNSettings, specs: list[HyperSpec], split: Split, seed: int, delta: bool = False
            ) -> tuple[dict[str, float], list[dict[str, float]], list[dict[str, float]]]:
    trace: list[dict[str, float]] = []
    hist = list(hypertrain(s, specs, delta=delta, seed=seed, split=split, trace=trace))
    return best(hist), hist, trace


def run_fixed(s: STNSettings, values: dict[str, float], split: Split, seed: int) -> dict[str, float]:
    return best(list(train_fixed(s, values, seed=seed, split=split)))


def search(s: STNSettings, specs: list[HyperSpec], split: Split, seed: int, sampler: str,
           trials: int) -> dict[str, Any]:
    """``trials`` fixed-value runs chosen by Optuna, then the best config retrained (seed + 1000)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # TPE: a third of the budget random start-up (at least 2), from its own seed, so that it
    # does not replay random search's first trials
    smp = (optuna.samplers.RandomSampler(seed=seed) if sampler == "random"
           else optuna.samplers.TPESampler(seed=seed + 7919, n_startup_trials=max(2, trials // 3)))
    study = optuna.create_study(direction="minimize", sampler=smp)
    seconds = 0.0

    def objective(trial: optuna.Trial) -> float:
        nonlocal seconds
        values = {}
        for h in specs:
            if h.discrete:
                values[h.name] = trial.suggest_int(h.name, int(h.low), int(h.high))
            else:
                values[h.name] = trial.suggest_float(h.name, h.low, h.high,
                                                     log=h.kind == "loguniform")
        r = run_fixed(s, values, split, seed * 1000 + trial.number)
        seconds += r["seconds"]
        return r["val_loss"]

    study.optimize(objective, n_trials=trials)
    retrain = run_fixed(s, study.best_params, split, seed + 1000)
    return {"search_best_val_loss": study.best_value, "best_params": study.best_params,
            "retrained": retrain, "seconds": seconds + retrain["seconds"],
            "single_run_seconds": seconds / trials}


def reference(args: argparse.Namespace) -> dict[str, Any]:
    s = STNSettings(epochs=args.epochs, warmup_epochs=min(5, args.epochs // 3))
    split = load_split(s)
    rows: list[dict[str, Any]] = []
    print(f"reference MLP on {split.name}: {len(split.x_train)} train / {len(split.x_val)} val, "
          f"{s.epochs} epochs ({s.warmup_epochs} warm-up), threads {torch.get_num_threads()}, "
          f"load before {load()}")
    schedules = {}
    kinds = args.runs.split(",")
    for rep in range(args.repeats):
        for kind in kinds + (["delta_stn"] if args.delta and rep == args.repeats - 1 else []):
            before, cpu = load(), time.process_time()
            if kind == "plain":
                r = run_fixed(s, {h.name: 0.05 for h in DROPOUTS}, split, rep)
            else:
                r, hist, trace = run_stn(s, DROPOUTS, split, rep, delta=kind == "delta_stn")
                schedules[kind] = trace
                r.update({f"final.{h.name}": hist[-1][h.name] for h in DROPOUTS})
            r["cpu_seconds"] = time.process_time() - cpu
            rows.append({"round": rep, "run": kind, **r, "load_before": before, "load_after": load()})
            print(f"  round {rep} {kind:9s} {r['seconds']:7.1f} s ({r['cpu_seconds']:6.1f} s CPU)"
                  f"  best val loss {r['val_loss']:.4f}  val acc {r['val_accuracy']:.4f}  test loss "
                  f"{r['test_loss']:.4f}  load {before} -> {load()}  "
                  + " ".join(f"{k}={v:.3f}" for k, v in r.items() if k.startswith("final.")),
                  flush=True)
            if schedules:
                plot_schedules(schedules, [h.name for h in DROPOUTS],
                               OUT / f"stn_reference_{s.epochs}ep_schedules.png",
                               f"Reference MLP ({s.epochs} epochs): learned dropout schedules")
                (OUT / f"stn_reference_{s.epochs}ep_trace.json").write_text(json.dumps(schedules))
    plain = [r for r in rows if r["run"] == "plain"]
    stn = [r for r in rows if r["run"] == "stn"]
    wall = [b["seconds"] / a["seconds"] for a, b in zip(plain, stn)]
    cpu = [b["cpu_seconds"] / a["cpu_seconds"] for a, b in zip(plain, stn)]
    out = {"part": "reference", "epochs": s.epochs, "rows": rows, "stn_over_plain_wall": wall,
           "stn_over_plain_cpu": cpu}
    if wall:
        print(f"STN / plain, back to back: wall {', '.join(f'{x:.2f}' for x in wall)}; "
              f"CPU {', '.join(f'{x:.2f}' for x in cpu)}")
    return out


def compare(args: argparse.Namespace) -> dict[str, Any]:
    summary: dict[str, Any] = {"part": "compare", "workloads": {}}
    for name in args.workloads.split(","):
        s, specs = WORKLOADS[name]
        split = load_split(s)
        print(f"\n{name}: {split.name}, {len(split.x_train)} train / {len(split.x_val)} val / "
              f"{len(split.x_test)} test, {s.epochs} epochs ({s.warmup_epochs} warm-up), "
              f"{args.trials} trials per search, load {load()}", flush=True)
        print(f"  {'seed':>4} {'method':10s} {'val loss':>9} {'val acc':>8} {'test loss':>9} "
              f"{'test acc':>8} {'compute s':>9}")
        per: dict[str, list[dict[str, float]]] = {"stn": [], "random": [], "tpe": []}
        traces, single = {}, []
        for seed in range(args.seeds):
            r, hist, trace = run_stn(s, specs, split, seed)
            traces[f"seed {seed}"] = trace
            per["stn"].append({**r, "compute": r["seconds"]})
            for sampler in ("random", "tpe"):
                res = search(s, specs, split, seed, sampler, args.trials)
                single.append(res["single_run_seconds"])
                per[sampler].append({**res["retrained"], "compute": res["seconds"],
                                     "search_best_val_loss": res["search_best_val_loss"]})
            for m in ("stn", "random", "tpe"):
                x = per[m][-1]
                print(f"  {seed:>4} {m:10s} {x['val_loss']:9.4f} {x['val_accuracy']:8.4f} "
                      f"{x['test_loss']:9.4f} {x['test_accuracy']:8.4f} {x['compute']:9.1f}",
                      flush=True)
            plot_schedules(traces, [h.name for h in specs], OUT / f"stn_{name}_schedules.png",
                           f"{name}: learned schedules (STN, {seed + 1} seeds)")
            (OUT / f"stn_{name}_partial.json").write_text(json.dumps(per, default=float))
        mean = {m: {k: statistics.mean(x[k] for x in rows) for k in rows[0]}
                for m, rows in per.items()}
        stn_cost = mean["stn"]["compute"] / statistics.mean(single)
        wins = sum(per["stn"][i]["val_loss"] <= min(per["random"][i]["search_best_val_loss"],
                                                   per["tpe"][i]["search_best_val_loss"])
                   for i in range(args.seeds))
        print("  mean: " + "; ".join(f"{m} val {v['val_loss']:.4f} test {v['test_loss']:.4f} "
                                      f"compute {v['compute']:.0f}s" for m, v in mean.items()))
        print(f"  one STN run costs {stn_cost:.2f}x a single training run; STN's best val loss "
              f"<= the best of both searches in {wins}/{args.seeds} seeds; load {load()}")
        summary["workloads"][name] = {"mean": mean, "stn_cost_over_single_run": stn_cost,
                                      "stn_wins": wins, "seeds": args.seeds, "per_seed": per}
    return summary


def plot_schedules(traces: dict[str, list[dict[str, float]]], names: list[str], path: Path,
                   title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), squeeze=False)
    for ax, n in zip(axes[0], names):
        for label, trace in traces.items():
            if trace:
                ax.plot([t["epoch"] for t in trace], [t[n] for t in trace], label=label, lw=1)
        ax.set_title(n, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("part", choices=["reference", "compare"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=15, help="reference: epochs")
    p.add_argument("--repeats", type=int, default=1, help="reference: rounds of --runs")
    p.add_argument("--runs", default="plain,stn", help="reference: what each round runs, in order")
    p.add_argument("--delta", action="store_true", help="reference: also one Delta-STN run")
    p.add_argument("--workloads", default="mlp,cnn,lstm")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--trials", type=int, default=10, help="full training runs per search")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    out = reference(args) if args.part == "reference" else compare(args)
    out.update({"wall_seconds": time.perf_counter() - start, "load_end": load(),
                "threads": args.threads})
    tag = (f"reference_{args.epochs}ep" if args.part == "reference"
           else f"compare_{args.workloads.replace(',', '_')}")
    (OUT / f"stn_{tag}.json").write_text(json.dumps(out, indent=1, default=float))
    print(json.dumps(out, default=float))


if __name__ == "__main__":
    main()
