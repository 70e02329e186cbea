"""What MLflow tracking adds to the quickstart's wall time.

    python benchmarks/quickstart_tracking.py [--repeats 2] [--study spaces/quickstart.yaml]

Runs the study with and without tracking, alternating (so drift in machine load hits both),
each through `searchlab run` as a user would (a fresh local Ray cluster each time). Prints the
wall times and, as the last line, one JSON object with the median overhead in percent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(study: str, tracking: bool, tmp: Path) -> float:
    cmd = [sys.executable, "-m", "searchlab", "run", study, "--quiet", "--restart",
           "--storage", str(tmp / "store")]
    if not tracking:
        cmd.append("--no-tracking")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, cwd=tmp)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--study", default=str(REPO / "spaces" / "quickstart.yaml"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="searchlab-qs-"))
    times: dict[str, list[float]] = {"tracking": [], "no_tracking": []}
    for i in range(args.repeats):
        for tracking in ((True, False) if i % 2 == 0 else (False, True)):
            key = "tracking" if tracking else "no_tracking"
            times[key].append(run(args.study, tracking, tmp))
            print(f"{key:12s} {times[key][-1]:7.1f} s", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in times.items()}
    overhead = 100 * (med["tracking"] / med["no_tracking"] - 1)
    print(json.dumps({"study": Path(args.study).name, "repeats": args.repeats,
                      "median_s": {k: round(v, 1) for k, v in med.items()},
                      "runs_s": {k: [round(x, 1) for x in v] for k, v in times.items()},
                      "tracking_overhead_pct": round(overhead, 1)}))


if __name__ == "__main__":
    main()
