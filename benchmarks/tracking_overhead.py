"""What tracking costs a user, timed as whole processes (start-up included).

    python benchmarks/tracking_overhead.py [--trials 200] [--rounds 3]

Back to back, alternating, `--rounds` times each:
  tune      a hand-written Ray Tune script: random search, 2 trials at a time, actor reuse, no
            loggers, no tracking (what a user would write without searchlab);
  searchlab `searchlab run` of the same study with MLflow tracking into a fresh default SQLite
            store (every metric of every trial, one child run per trial, statuses, logs);
  plain     `searchlab run --no-tracking`.
Each trial is one report of an analytic function (no compute). Prints the median wall time of
each and, as the last line, a JSON object with the ratio tune/searchlab (1.0 = tracking for free).
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

TUNE_SCRIPT = """
import os, sys
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
import ray
from ray import tune

from searchlab.execution.ray_start import init_local

def objective(config):
    tune.report({{"loss": config["x1"] ** 2 + config["x2"] ** 2}})

init_local(2)  # a cluster of its own, as `searchlab run` starts one
tuner = tune.Tuner(
    objective,
    param_space={{"x1": tune.uniform(-5, 5), "x2": tune.uniform(-5, 5)}},
    tune_config=tune.TuneConfig(num_samples={trials}, max_concurrent_trials=2, reuse_actors=True,
                                metric="loss", mode="min"),
    run_config=tune.RunConfig(storage_path=sys.argv[1], name="tune", verbose=0,
                              checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
)
grid = tuner.fit()
assert len(grid) == {trials}
ray.shutdown()
"""


def study(trials: int) -> str:
    return textwrap.dedent(f"""\
        name: tracking-overhead
        workload: sphere
        metric: {{name: loss, mode: min}}
        space:
          x1: {{uniform: [-5, 5]}}
          x2: {{uniform: [-5, 5]}}
        search: {{algorithm: random, seed: 0}}
        budget: {{trials: {trials}, concurrency: 2}}
        """)


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{r.stderr[-3000:]}")
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    times: dict[str, list[float]] = {"tune": [], "searchlab": [], "plain": []}
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            (tmp / "tune.py").write_text(TUNE_SCRIPT.format(trials=args.trials))
            (tmp / "study.yaml").write_text(study(args.trials))
            order = ["tune", "searchlab", "plain"] if i % 2 == 0 else ["plain", "searchlab", "tune"]
            for way in order:
                if way == "tune":
                    cmd = [sys.executable, str(tmp / "tune.py"), str(tmp / "tune-results")]
                else:
                    cmd = [sys.executable, "-m", "searchlab", "run", "study.yaml", "--quiet",
                           "--storage", str(tmp / f"store-{way}"), "--restart"]
                    if way == "plain":
                        cmd.append("--no-tracking")
                times[way].append(timed(cmd, tmp, env))
                print(f"round {i + 1}: {way:9s} {times[way][-1]:6.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nmedian over {args.rounds} rounds ({args.trials} trials, 1 report each, 2 at a time):")
    for k, v in med.items():
        print(f"  {k:9s} {v:6.1f} s")
    ratio = med["tune"] / med["searchlab"]
    print(f"  hand-written Ray Tune / searchlab with tracking = {ratio:.2f} (target >= 0.85)")
    print(json.dumps({"trials": args.trials, "rounds": args.rounds,
                      "median_s": {k: round(v, 2) for k, v in med.items()},
                      "tune_over_searchlab_tracked": round(ratio, 3),
                      "tune_over_searchlab_untracked": round(med["tune"] / med["plain"], 3),
                      "load_1min": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    main()
