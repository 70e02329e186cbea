"""What checking a study file costs: ``searchlab validate <file>`` as a whole process.

Runs the command ``--runs`` times (default 5) in fresh processes and reports the median wall time
and the median peak resident memory (from the kernel's accounting of each child, ``wait4``).
The target (issue 20): under 0.5 s and 100 MB for ``spaces/quickstart.yaml``; before the
redesign it was about 2.7 s and 370 MB, as validating imported Ray Tune's Optuna searcher and
torch. Also lists the heavy packages the command imported (none should be).

    python benchmarks/validate_cost.py                      # spaces/quickstart.yaml, 5 runs
    python benchmarks/validate_cost.py --file spaces/cdt.yaml --runs 9

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("ray", "torch", "sklearn", "optuna", "mlflow", "nevergrad", "pandas", "scipy")
PROBE = """
import runpy, sys
heavy = set(sys.argv[2:])
sys.argv = ["searchlab", "validate", sys.argv[1]]
try:
    runpy.run_module("searchlab", run_name="__main__")
except SystemExit:
    pass
print("HEAVY", *sorted({m.split(".")[0] for m in sys.modules} & heavy), file=sys.stderr)
"""


def one_run(file: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system; on a loaded machine close to
    what the wall time would be on a quiet one) of one ``searchlab validate`` process."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "searchlab", "validate", file], env=env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"searchlab validate {file} failed ({proc.returncode}): {err.strip()}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # maxrss: KB (Linux)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default="spaces/quickstart.yaml")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    one_run(args.file, env)  # warm the file cache once (not counted)
    runs = [one_run(args.file, env) for _ in range(args.runs)]
    probe = subprocess.run([sys.executable, "-c", PROBE, args.file, *HEAVY], env=env, cwd=ROOT,
                           capture_output=True, text=True)
    heavy = next((line.split()[1:] for line in probe.stderr.splitlines()
                  if line.startswith("HEAVY")), ["?"])
    walls, rss, cpu = ([r[k] for r in runs] for k in range(3))
    for i, (w, m, c) in enumerate(runs, 1):
        print(f"run {i}: {w:.3f} s wall, {c:.3f} s CPU, {m:.0f} MB")
    result = {"file": args.file, "runs": args.runs,
              "median_s": round(statistics.median(walls), 3),
              "median_cpu_s": round(statistics.median(cpu), 3),
              "median_rss_mb": round(statistics.median(rss), 1),
              "heavy_imports": heavy, "target_s": 0.5, "target_mb": 100,
              "load_1min": round(os.getloadavg()[0], 2)}
    result["within_target"] = result["median_s"] < 0.5 and result["median_rss_mb"] < 100
    print(f"median {result['median_s']} s ({result['median_cpu_s']} s CPU), "
          f"{result['median_rss_mb']} MB; heavy packages "
          f"imported: {', '.join(heavy) or 'none'} (load {result['load_1min']})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
