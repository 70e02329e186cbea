"""Throughput of searchlab against hand-written Ray Tune, as whole processes (start-up included).

    python benchmarks/tracking_overhead.py [--trials 200] [--pairs 5] [--existing]

Each *pair* runs a hand-written Ray Tune script and then ``searchlab run`` of the same study,
back to back; the pair's ratio is Tune's wall time over searchlab's (= searchlab's throughput
over Tune's: 1.0 means as fast). ``--pairs`` pairs each way, alternating which runs first:

  tracked    ``searchlab run`` with MLflow tracking into a fresh default SQLite store (every
             metric of every trial, one child run per trial, statuses, logs);
  untracked  ``searchlab run --no-tracking``;
  existing   (``--existing``, a third way) tracked into a store that already holds a study: a
             user's second study on. A fresh store costs MLflow's schema migrations, about
             0.6 s of CPU, once per store.

The Tune script: random search, 2 trials at a time, actor reuse, no loggers, no tracking (what a
user would write without searchlab). Each trial is one report of an analytic function. Besides
wall time, each run's CPU time is measured for its whole process tree (this script becomes the
"subreaper" of what it starts, so Ray's daemons and searchlab's MLflow helper are counted when
they end). The last line is a JSON object: the median ratio each way (target >= 1.0), the wall
and CPU seconds of every run, and the machine's load when it ran.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

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


def _subreaper() -> bool:
    """Adopt every orphaned descendant (Linux), so that its CPU time reaches our children's."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _reap_orphans(timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # none left
        if pid == 0:
            time.sleep(0.1)


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - t0
    _reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{r.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--pairs", type=int, default=5, help="pairs each way (tracked, untracked)")
    p.add_argument("--rounds", type=int, help=argparse.SUPPRESS)  # the old name of --pairs
    p.add_argument("--existing", action="store_true",
                   help="a third way: tracked into an existing store (see the docstring)")
    args = p.parse_args()
    pairs = args.rounds or args.pairs
    subreaper = _subreaper()
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                     else "")
    ways = ("tracked", "untracked", "existing") if args.existing else ("tracked", "untracked")
    runs: dict[str, list[dict]] = {way: [] for way in ways}
    loads = []
    for i in range(pairs):
        for way in ways:
            with tempfile.TemporaryDirectory() as d:
                tmp = Path(d)
                (tmp / "tune.py").write_text(TUNE_SCRIPT.format(trials=args.trials))
                (tmp / "study.yaml").write_text(study(args.trials))
                if way == "existing":  # an earlier study made the default store here (untimed)
                    (tmp / "warm.yaml").write_text(study(2).replace("tracking-overhead", "warm"))
                    timed([sys.executable, "-m", "searchlab", "run", "warm.yaml", "--quiet",
                           "--storage", str(tmp / "store")], tmp, env)
                tune_cmd = [sys.executable, str(tmp / "tune.py"), str(tmp / "tune-results")]
                ours = [sys.executable, "-m", "searchlab", "run", "study.yaml", "--quiet",
                        "--storage", str(tmp / "store")]
                if way == "untracked":
                    ours.append("--no-tracking")
                order = [("tune", tune_cmd), ("searchlab", ours)]
                if i % 2:
                    order.reverse()  # drift in the machine's load hits both
                loads.append(os.getloadavg()[0])
                pair = {}
                for who, cmd in order:
                    wall, cpu = timed(cmd, tmp, env)
                    pair[who] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
                pair["ratio"] = round(pair["tune"]["wall_s"] / pair["searchlab"]["wall_s"], 3)
                runs[way].append(pair)
                print(f"pair {i + 1} {way:9s}: tune {pair['tune']['wall_s']:6.1f} s "
                      f"({pair['tune']['cpu_s']:5.1f} CPU), searchlab "
                      f"{pair['searchlab']['wall_s']:6.1f} s ({pair['searchlab']['cpu_s']:5.1f} "
                      f"CPU): ratio {pair['ratio']:.3f}", flush=True)

    def med(way: str, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[way]), 3)

    def cpu_ratio(way: str) -> float:
        return round(statistics.median(r["searchlab"]["cpu_s"] / r["tune"]["cpu_s"]
                                       for r in runs[way]), 3)

    summary = {
        "trials": args.trials, "pairs": pairs,
        "tracked_ratio": med("tracked", "ratio"), "untracked_ratio": med("untracked", "ratio"),
        "target": 1.0,
        "tracked_cpu_over_tune": cpu_ratio("tracked"),
        "untracked_cpu_over_tune": cpu_ratio("untracked"),
        **({"existing_store_ratio": med("existing", "ratio"),
            "existing_store_cpu_over_tune": cpu_ratio("existing")} if args.existing else {}),
        "cpu_counted_for_the_whole_tree": subreaper,
        "runs": runs, "load_1min": [round(x, 1) for x in loads],
        "cpus": os.cpu_count(),
    }
    print(f"median ratio (Tune's wall time / searchlab's): tracked {summary['tracked_ratio']}, "
          f"untracked {summary['untracked_ratio']} (target >= 1.0)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
