"""10,000 trials: every one recorded, the driver's memory per trial beside hand-written Ray Tune,
and how long ``searchlab show`` and the dashboard take on that store.

    python benchmarks/scale_10k.py [--trials 10000] [--concurrency 2] [--skip-tune]
        [--keep DIR] [--store DIR]

1. ``tune``: a hand-written Ray Tune script (random search, actor reuse, no loggers, no
   checkpoints kept) runs the trivial workload (one report of an analytic function) ``--trials``
   times, ``--concurrency`` at a time, on a local Ray cluster of its own; a thread samples the
   driver's resident memory against the trials finished.
2. ``searchlab``: ``searchlab`` runs the same study (the same workload, space, searcher,
   concurrency) with MLflow tracking into a fresh SQLite store, sampled the same way.
   Memory per trial is the slope of resident memory over finished trials while trials run
   (least squares, from the first tenth of the trials on); searchlab's own share is its slope
   minus Tune's. What each driver adds after its last trial ended is reported apart. "Flat once
   trials finish": the slope over the last half of the study is reported too.
3. MLflow: every trial one FINISHED child run with its metric (read back through MLflow).
4. ``searchlab show`` and ``searchlab dashboard`` on that store, as whole processes (wall time);
   the page opened in Chromium (``/usr/bin/chromium`` through Playwright): time to its ``load``
   event, and the panels drawn.

``--store DIR`` skips 1-2 and measures 3-4 on an existing store (``DIR/mlflow.db``).
Targets (issue 22): searchlab's share <= 10 KB per trial; show < 5 s; the dashboard written in
< 30 s and opened in < 5 s. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAME = "scale-10k"

SAMPLER = '''
import os, threading, time
def _rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
SAMPLES = []
def start_sampler(done, path, every=2.0):
    def loop():
        t0 = time.time()
        while True:
            SAMPLES.append((round(time.time() - t0, 1), done(), _rss_kb()))
            with open(path, "w") as f:
                f.write(repr(SAMPLES))
            time.sleep(every)
    threading.Thread(target=loop, daemon=True).start()
'''

TUNE = SAMPLER + '''
import sys
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
import ray
from ray import tune

def objective(config):
    tune.report({{"loss": config["x1"] ** 2 + config["x2"] ** 2}})

class Count(tune.Callback):
    n = 0
    def on_trial_complete(self, iteration, trials, trial, **info):
        Count.n += 1

start_sampler(lambda: Count.n, sys.argv[2])
from searchlab.execution.ray_start import init_local
init_local({concurrency})  # a cluster of its own, as `searchlab run` starts one
tuner = tune.Tuner(
    objective,
    param_space={{"x1": tune.uniform(-5, 5), "x2": tune.uniform(-5, 5)}},
    tune_config=tune.TuneConfig(num_samples={trials}, max_concurrent_trials={concurrency},
                                reuse_actors=True, metric="loss", mode="min"),
    run_config=tune.RunConfig(storage_path=sys.argv[1], name="tune", verbose=0,
                              callbacks=[Count()],
                              checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
)
grid = tuner.fit()
assert len(grid) == {trials}, len(grid)
SAMPLES.append((SAMPLES[-1][0] + 0.1, Count.n, _rss_kb()))
with open(sys.argv[2], "w") as f:
    f.write(repr(SAMPLES))
ray.shutdown()
'''

SEARCHLAB = SAMPLER + '''
import sys
from pathlib import Path
from searchlab.runner import RunOptions, run_study
from searchlab.spec.parse import load_study

journal = Path(sys.argv[2]) / "{name}" / "method-journal.jsonl"
seen = [0, 0]  # bytes read, tells counted

def tells():
    try:
        with open(journal, "rb") as f:
            f.seek(seen[0])
            chunk = f.read()
    except OSError:
        return 0
    cut = chunk.rfind(b"\\n") + 1
    seen[0] += cut
    seen[1] += chunk[:cut].count(b'"kind": "tell"')
    return seen[1]

start_sampler(tells, sys.argv[3])
result = run_study(load_study(sys.argv[1]), RunOptions(storage=sys.argv[2], quiet=True))
assert len(result.rows) == {trials}, len(result.rows)
SAMPLES.append((SAMPLES[-1][0] + 0.1, tells(), _rss_kb()))
with open(sys.argv[3], "w") as f:
    f.write(repr(SAMPLES))
print("counts", result.counts)
'''


def study_text(trials: int, concurrency: int) -> str:
    return textwrap.dedent(f"""\
        name: {NAME}
        workload: sphere
        metric: {{name: loss, mode: min}}
        space:
          x1: {{uniform: [-5, 5]}}
          x2: {{uniform: [-5, 5]}}
        search: {{algorithm: random, seed: 0}}
        budget: {{trials: {trials}, concurrency: {concurrency}}}
        """)


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                     else "")
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    return env


def slope_kb(samples: list[tuple[float, int, int]], trials: int, start: float) -> float | None:
    """KB of resident memory per finished trial, least squares over the samples taken while
    trials ran, from ``start`` (a fraction of the trials) on. What the driver does once the last
    trial has ended (results, summary) is not growth per trial: :func:`after_run_mb` says it."""
    end = next((i for i, (_, d, _) in enumerate(samples) if d >= trials), len(samples) - 1)
    pts = [(d, r) for _, d, r in samples[:end + 1] if d >= start * trials]
    if len(pts) < 3 or pts[-1][0] == pts[0][0]:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx, 2) if sxx else None


def after_run_mb(samples: list[tuple[float, int, int]], trials: int) -> float | None:
    """MB the driver's resident memory rose from the last trial's end to its peak after it."""
    end = next((i for i, (_, d, _) in enumerate(samples) if d >= trials), None)
    if end is None:
        return None
    return round((max(r for _, _, r in samples[end:]) - samples[end][2]) / 1024, 1)


def run_driver(kind: str, tmp: Path, trials: int, concurrency: int) -> dict:
    samples_file = tmp / f"{kind}-samples.txt"
    if kind == "tune":
        script = tmp / "tune_driver.py"
        script.write_text(TUNE.format(trials=trials, concurrency=concurrency))
        cmd = [sys.executable, str(script), str(tmp / "tune-results"), str(samples_file)]
    else:
        (tmp / "study.yaml").write_text(study_text(trials, concurrency))
        script = tmp / "searchlab_driver.py"
        script.write_text(SEARCHLAB.format(trials=trials, name=NAME))
        cmd = [sys.executable, str(script), str(tmp / "study.yaml"), str(tmp / "studies"),
               str(samples_file)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=tmp, env=_env(tmp), capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{r.stderr[-3000:]}")
    import ast

    samples = ast.literal_eval(samples_file.read_text())
    done = [s for s in samples if s[1] > 0]
    print(f"{kind}: {trials} trials in {seconds:.0f} s; driver RSS "
          f"{done[0][2] / 1024 if done else 0:.0f} -> {samples[-1][2] / 1024:.0f} MiB",
          file=sys.stderr, flush=True)
    return {"seconds": round(seconds, 1), "trials_per_s": round(trials / seconds, 2),
            "rss_mb_first_trial": round(done[0][2] / 1024, 1) if done else None,
            "rss_mb_end": round(samples[-1][2] / 1024, 1),
            "rss_mb_max": round(max(s[2] for s in samples) / 1024, 1),
            "kb_per_trial": slope_kb(samples, trials, 0.1),
            "kb_per_trial_second_half": slope_kb(samples, trials, 0.5),
            "mb_after_last_trial": after_run_mb(samples, trials),
            "seconds_after_last_trial": next((round(samples[-1][0] - t, 1) for t, d, _ in samples
                                              if d >= trials), None),
            "samples": samples[:: max(1, len(samples) // 40)]}


def check_store(uri: str, trials: int) -> dict:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(NAME)
    runs, token = [], None
    while True:
        page = client.search_runs([exp.experiment_id], "tags.`searchlab.role` = 'trial'",
                                  max_results=5000, page_token=token)
        runs += page
        token = page.token
        if not token:
            break
    finished = sum(1 for r in runs if r.info.status == "FINISHED" and "loss" in r.data.metrics)
    ids = {r.data.tags.get("searchlab.trial_id") for r in runs}
    return {"child_runs": len(runs), "finished_with_metric": finished,
            "distinct_trial_ids": len(ids), "all_recorded": finished == trials == len(ids)}


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:5])} failed:\n{r.stderr[-3000:]}")
    return seconds, r.stdout


def open_in_chromium(page_file: Path) -> dict:
    chromium = Path(os.environ.get("SEARCHLAB_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.exists():
        return {"skipped": f"no Chromium at {chromium}"}
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium),
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        t0 = time.perf_counter()
        page.goto(page_file.as_uri(), wait_until="load", timeout=120_000)
        loaded = time.perf_counter() - t0
        plots = page.locator(".js-plotly-plot").count()
        browser.close()
    return {"load_s": round(loaded, 2), "plots_drawn": plots, "page_errors": errors[:3]}


def measure_store(tmp: Path, trials: int) -> dict:
    env = _env(tmp)
    uri = env["MLFLOW_TRACKING_URI"]
    out: dict = {"mlflow": check_store(uri, trials)}
    show_s, text = timed([sys.executable, "-m", "searchlab", "show", NAME], tmp, env)
    out["show_s"] = round(show_s, 2)
    out["show_counts_line"] = next((line for line in text.splitlines() if " trials (" in line), "")
    page = tmp / "report.html"
    dash_s, _ = timed([sys.executable, "-m", "searchlab", "dashboard", NAME, "-o", str(page)],
                      tmp, env)
    out["dashboard_s"] = round(dash_s, 2)
    out["dashboard_mb"] = round(page.stat().st_size / 2**20, 2)
    out["chromium"] = open_in_chromium(page)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--skip-tune", action="store_true", help="no hand-written Ray Tune run")
    ap.add_argument("--keep", help="run in this directory and keep it (default: a temp dir)")
    ap.add_argument("--store", help="measure show/dashboard on DIR/mlflow.db only")
    args = ap.parse_args()
    summary: dict = {"trials": args.trials, "concurrency": args.concurrency}
    if args.store:
        tmp = Path(args.store).resolve()
    else:
        tmp = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(
            prefix="searchlab-scale-"))
        tmp.mkdir(parents=True, exist_ok=True)
        if not args.skip_tune:
            summary["tune"] = run_driver("tune", tmp, args.trials, args.concurrency)
        summary["searchlab"] = run_driver("searchlab", tmp, args.trials, args.concurrency)
        if "tune" in summary:
            for key in ("kb_per_trial", "kb_per_trial_second_half"):
                a, b = summary["searchlab"][key], summary["tune"][key]
                summary[f"searchlab_share_{key}"] = None if a is None or b is None else \
                    round(a - b, 2)
    summary.update(measure_store(tmp, args.trials))
    summary["targets"] = {"share_kb_per_trial": 10, "show_s": 5, "dashboard_s": 30,
                          "chromium_load_s": 5}
    summary["store"] = str(tmp)
    summary["load_1min"] = round(os.getloadavg()[0], 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
