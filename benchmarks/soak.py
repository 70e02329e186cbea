"""Soak: a study of many short trials at the machine's concurrency, run to the end.

    python benchmarks/soak.py [--trials 2000] [--reports 3] [--concurrency 2]

Runs `searchlab run` in-process on a `sphere_curve` study with MLflow tracking (SQLite), and
samples every few seconds: finished trials (from Tune's results) and the driver's resident
memory. Reports trials/second over time, driver memory at start and end, and checks that
MLflow holds every child run with every metric. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil

MEMORY_GROWTH_BOUND_MB = 300  # the stated bound on driver memory growth over the soak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--reports", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--interval", type=float, default=10.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="searchlab-soak-"))
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    from searchlab.runner import RunOptions, run_study
    from searchlab.spec.parse import parse_text

    loaded = parse_text(textwrap.dedent(f"""\
        name: soak
        workload: sphere_curve
        metric: {{name: loss, mode: min}}
        space: {{x1: {{uniform: [-5, 5]}}, x2: {{uniform: [-5, 5]}}}}
        search: {{algorithm: random, seed: 0}}
        budget: {{trials: {args.trials}, concurrency: {args.concurrency}, max_epochs: {args.reports}}}
        """), "soak.yaml")  # noqa: E501 (the study file's budget line)
    proc = psutil.Process()
    samples: list[dict] = []
    store = tmp / "store" / "soak"
    stop = threading.Event()
    t0 = time.time()

    def sample() -> None:
        while not stop.wait(args.interval):
            done = sum(1 for _ in store.glob("*/result.json")) if store.exists() else 0
            samples.append({"t": round(time.time() - t0, 1), "trials_started": done,
                            "rss_mb": round(proc.memory_info().rss / 2**20, 1)})
            print(f"{samples[-1]}", file=sys.stderr, flush=True)

    threading.Thread(target=sample, daemon=True).start()
    result = run_study(loaded, RunOptions(storage=str(tmp / "store"), quiet=True),
                       out=sys.stderr)
    stop.set()
    elapsed = time.time() - t0
    rss_end = proc.memory_info().rss / 2**20
    # "start": once Ray, MLflow and the first trials are up (imports are not the study's growth)
    started = [s["rss_mb"] for s in samples if s["trials_started"] > 0]
    rss_start = started[0] if started else rss_end

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("soak")
    runs, token = [], None
    while True:
        page = client.search_runs([exp.experiment_id], "tags.`searchlab.role` = 'trial'",
                                  max_results=1000, page_token=token)
        runs += page
        token = page.token
        if not token:
            break
    complete = sum(1 for r in runs if r.info.status == "FINISHED"
                   and {"loss", "time_total_s"} <= set(r.data.metrics))
    sample_ids = [r.info.run_id for r in runs[:: max(1, len(runs) // 50)]]
    histories_ok = all(len(client.get_metric_history(rid, "loss")) == args.reports
                       for rid in sample_ids)
    rates = []
    for a, b in zip(samples, samples[1:]):
        if b["t"] > a["t"]:
            rates.append(round((b["trials_started"] - a["trials_started"]) / (b["t"] - a["t"]), 2))
    summary = {
        "trials": args.trials, "finished": len(result.rows), "seconds": round(elapsed, 1),
        "trials_per_s": round(len(result.rows) / elapsed, 2), "trials_per_s_over_time": rates,
        "driver_rss_mb": {"start": round(rss_start, 1), "end": round(rss_end, 1),
                          "max": max([s["rss_mb"] for s in samples], default=round(rss_end, 1))},
        "memory_growth_bound_mb": MEMORY_GROWTH_BOUND_MB,
        "memory_within_bound": rss_end - rss_start <= MEMORY_GROWTH_BOUND_MB,
        "mlflow_child_runs": len(runs), "mlflow_runs_complete": complete,
        "metric_histories_complete_in_sample": histories_ok,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
