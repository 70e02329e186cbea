"""The expected length `searchlab run` says at the start of a CDT study, against the study's
measured wall time: runs a small CDT study (2 bandits x 2 tuners x SEEDS seeds, the paper's
linear environment, trials as many at once as the cores allow, tracking on) in a temporary
directory and compares.

    python3 benchmarks/cdt_expected_length.py [--seeds 5]

Last line: {"trials", "at_once", "expected_s", "measured_s", "ratio"} (ratio = measured /
expected; 1 is a perfect estimate)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STUDY = """name: cdt-expected-length
method:
  name: cdt
  environments:
    - {{kind: linear, arms: 120, dim: 25, horizon: 14000, noise: 0.5}}
  bandits: [linucb, lints]
  tuners: [cdt, theoretical]
  seeds: {seeds}
resources: {{cpu: 1}}
"""


def seconds(text: str) -> float:
    value, unit = re.match(r"([\d.]+) (s|min|h)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"s": 1, "min": 60, "h": 3600}[unit]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "study.yaml").write_text(STUDY.format(seeds=args.seeds))
        env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
        began = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "searchlab", "run", "study.yaml"], cwd=tmp,
                           env=env, capture_output=True, text=True, check=True)
        wall = time.monotonic() - began
    m = re.search(r"searchlab: (\d+) trials, (\d+) at a time.*expected about ([\d.]+ \w+)",
                  r.stderr)
    assert m, r.stderr
    trials, at_once, expected = int(m[1]), int(m[2]), seconds(m[3])
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"machine load (1 min) {load}")
    print(json.dumps({"trials": trials, "at_once": at_once, "expected_s": expected,
                      "measured_s": round(wall, 1), "ratio": round(wall / expected, 2)}))


if __name__ == "__main__":
    main()
