"""CDT settings sweep: the default CDT against Zooming TS variants and fixed rates, paired by seed.

For tuning CDT on seeds that the reported table (``cdt_regret.py``, seeds 0-79) never uses: each
variant is the default ``cdt`` tuner with ``zooming`` overrides (any ``ZoomingTS`` argument:
``confidence``, ``posterior_scale``, ``warmup``, ``ranges``, ...), run on the paper's setting
(K=120, d=25, T=14,000, noise 0.5) for every seed given. Prints each variant's mean final regret
(95% interval), its paired difference from the default and its excess over the best fixed rate
(fixed rates: ``--fixed``); the last line is one JSON object with those figures.

    nice -n 10 python benchmarks/cdt_sweep.py --bandit lints --first-seed 100 --seeds 100 \\
        --variants '{"c05": {"confidence": 0.5}, "p08": {"posterior_scale": 0.8}}'

(100 tuning seeds, LinTS, six variants: about 2 minutes on two cores.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from cdt_regret import PAPER_ENV  # noqa: E402  (the setting and interval of the CDT benchmark)
from cdt_regret import ci as half_width  # noqa: E402

from searchlab.methods.cdt.simulate import run  # noqa: E402


def one(job: tuple) -> tuple[str, int, float]:
    name, bandit, seed, zooming, fixed = job
    if fixed is not None:
        res = run(PAPER_ENV, bandit, "fixed", seed, fixed=[fixed])
    else:
        res = run(PAPER_ENV, bandit, "cdt", seed, zooming=zooming)
    return name, seed, float(res.regret[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bandit", default="lints", choices=["lints", "linucb"])
    ap.add_argument("--first-seed", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--variants", default="{}", help='JSON: name -> zooming overrides')
    ap.add_argument("--fixed", default="0,0.05,0.1,0.25,0.5", help="fixed rates (the oracle grid)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    try:
        variants = {"cdt": {}, **json.loads(args.variants)}
    except json.JSONDecodeError as e:
        raise SystemExit(f"cdt_sweep: --variants is not JSON: {e}") from None
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    fixed = [float(v) for v in args.fixed.split(",") if v]
    jobs = [(n, args.bandit, s, z, None) for s in seeds for n, z in variants.items()]
    jobs += [(f"fixed={v:g}", args.bandit, s, None, v) for s in seeds for v in fixed]
    start = time.time()
    with Pool(args.workers) as pool:
        out = pool.map(one, jobs, chunksize=1)
    final: dict[str, dict[int, float]] = {}
    for name, seed, value in out:
        final.setdefault(name, {})[seed] = value
    arr = {n: np.array([final[n][s] for s in seeds]) for n in final}
    best = min((n for n in arr if n.startswith("fixed=")), key=lambda n: arr[n].mean(),
               default=None)
    print(f"{args.bandit}, paper setting, seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}); "
          f"best fixed in hindsight: {best}")
    print(f"{'variant':24s} {'final regret':>16s} {'- cdt (paired)':>16s} {'over best fixed':>16s}")
    summary = {}
    for n, v in arr.items():
        d = v - arr["cdt"]
        over = 100 * (v.mean() / arr[best].mean() - 1) if best else float("nan")
        paired = f"{d.mean():+.1f} ± {half_width(d):.1f}" if n != "cdt" else ""
        print(f"{n:24s} {v.mean():8.1f} ± {half_width(v):5.1f} {paired:>16s} {over:+15.1f}%")
        summary[n] = {"mean": round(float(v.mean()), 1), "ci": round(half_width(v), 1),
                      "minus_cdt": round(float(d.mean()), 1),
                      "minus_cdt_ci": round(half_width(d), 1),
                      "over_best_fixed_pct": round(over, 1)}
    print(f"{len(jobs)} runs in {time.time() - start:.0f} s")
    print(json.dumps({"benchmark": "cdt_sweep", "bandit": args.bandit,
                      "seeds": [seeds[0], seeds[-1]],
                      "best_fixed": best, "variants": summary}))


if __name__ == "__main__":
    main()
