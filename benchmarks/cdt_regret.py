"""CDT benchmark: final cumulative regret per tuner and bandit, every seed, 95% confidence
intervals.

Settings:
  paper          the paper's synthetic linear bandit (K=120, d=25, T=14,000, noise 0.5) with LinUCB
                 and LinTS; tuners: CDT (the default variant: restarts on detected shifts only),
                 cdt_paper (the paper's hard restart every H = T^(3/4)), the theoretical rate, OP
                 and TL in our definitions (op: Gaussian TS, each candidate tried once first; tl:
                 EXP3 on rewards rescaled to [0, 1]) and in the paper's authors' (op_authors:
                 Beta-Bernoulli TS on the reward clipped to [0, 1]; tl_authors: EXP3 on the raw
                 reward), and the best fixed value in hindsight (an oracle: the grid value with the
                 lowest mean regret).
  nonstationary  four phases of 3,500 rounds on fresh coordinates, alternating fixed arm vectors
                 with noise 1.0 (exploring pays) and fresh uniform contexts with noise 0.05 (the
                 best rate is near zero), so the best rate moves; CDT and cdt_paper against no
                 restarts.
  Then, on both settings, cdt_no_restart and the other variants (see
  searchlab.methods.cdt.simulate.ZOOMING_VARIANTS): cdt_detect_only (the previous default: cdt's
  restarts with the old constants), cdt_soft (soft restart every H: points and means kept, counts
  x 0.2), cdt_detect (hard restart on a detected change, the soft restart every H as fallback).
  Their rows give paired differences against CDT and against no restarts.
  --extended adds logistic rewards (UCB-GLM, GLM-TS), the two-hyperparameter LinUCB and the digits
  classification bandit.

CDT's constants are those of cdt_detect_only, the previous default; LinTS's rate is searched on
[0.001, 4] (log), chosen on seeds 100-119 (+2.7 % over the best fixed rate there, from +19.5 % with
[0.01, 4]). Constants tuned on seeds 100-119 earlier (confidence 1.0, Thompson spread x 0.8) did not
hold on seeds 0-19, so they are not the default (docs/cdt.md). The table reports seeds 0..N-1,
none of which was used for tuning.

Every seed is run and reported (no selection). Seeds give common random numbers: for one seed all
tuners see the same contexts and reward noise, so the paired differences printed are tighter than
the unpaired intervals. Runs execute in-process (multiprocessing, --workers), not through Ray.

    nice -n 10 python benchmarks/cdt_regret.py --seeds 20 --workers 2
    nice -n 15 python benchmarks/cdt_regret.py --only nonstationary --first-seed 20 --seeds 60 \
        --workers 1 --out benchmarks/results/cdt_ns   # restarts on 60 more seeds

Finished runs are appended to <out>/cdt_runs.jsonl and a rerun skips them (an interrupted
benchmark resumes; --report-only tabulates what is there). Delete that file after changing the
algorithm. The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from searchlab.methods.cdt.settings import NonStationaryEnv, SyntheticEnv  # noqa: E402
from searchlab.methods.cdt.simulate import run  # noqa: E402

PAPER_ENV = SyntheticEnv(kind="linear", arms=120, dim=25, horizon=14_000, noise=0.5).params()
NS_ENV = NonStationaryEnv(kind="nonstationary").params()  # the study-file defaults
ORACLE_GRID = {"linucb": [0.0, 0.1, 0.25, 0.5, 1.0], "lints": [0.0, 0.05, 0.1, 0.25, 0.5]}
TUNERS = ["cdt", "cdt_paper", "theoretical", "op", "op_authors", "tl", "tl_authors",
          "cdt_no_restart", "cdt_detect_only", "cdt_soft", "cdt_detect"]
CORE = ["cdt", "cdt_paper", "theoretical", "op", "op_authors", "tl", "tl_authors"]
# compared with cdt and no restarts
VARIANTS = ["cdt_paper", "cdt_detect_only", "cdt_soft", "cdt_detect"]
POINTS = 200  # points kept of each regret curve


def jobs(seeds: range, extended: bool, only: str | None = None, bandits: str | None = None
         ) -> list[tuple]:
    """Most important first: the paper setting, then the non-stationary one, then extras
    (``only``: the runs of that setting alone; ``bandits``: comma-separated, those alone)."""
    out = []
    for seed in seeds:
        for bandit in ("linucb", "lints"):
            out += [("paper", PAPER_ENV, bandit, t, None, seed) for t in CORE]
            out += [("paper", PAPER_ENV, bandit, "fixed", v, seed) for v in ORACLE_GRID[bandit]]
    for seed in seeds:
        for bandit in ("lints", "linucb"):
            out += [("nonstationary", NS_ENV, bandit, t, None, seed)
                    for t in ("cdt", "cdt_paper", "cdt_no_restart")]
    for seed in seeds:
        out += [("paper", PAPER_ENV, b, t, None, seed)
                for b in ("linucb", "lints") for t in ("cdt_no_restart", "cdt_detect_only")]
    for seed in seeds:
        for name, env in (("paper", PAPER_ENV), ("nonstationary", NS_ENV)):
            for b in ("linucb", "lints"):
                out += [(name, env, b, t, None, seed) for t in ("cdt_soft", "cdt_detect")]
        out += [("nonstationary", NS_ENV, b, "cdt_detect_only", None, seed)
                for b in ("linucb", "lints")]
    if extended and only is None:
        logistic = {**PAPER_ENV, "kind": "logistic"}
        digits = {"kind": "classification", "dataset": "digits", "pca_dim": 8, "horizon": 5000}
        for name, env, bandits in (("logistic", logistic, ("ucbglm", "glmts")),
                                   ("paper", PAPER_ENV, ("linucb_reg",)),
                                   ("digits", digits, ("linucb", "lints"))):
            for bandit in bandits:
                for tuner in TUNERS:
                    out += [(name, env, bandit, tuner, None, s) for s in seeds]
    keep = set(bandits.split(",")) if bandits else None
    return [j for j in out if (only is None or j[0] == only) and (keep is None or j[2] in keep)]


def key(job: tuple) -> str:
    setting, _, bandit, tuner, value, seed = job
    return f"{setting}|{bandit}|{tuner}|{value}|{seed}"


def work(job: tuple) -> dict:
    setting, env, bandit, tuner, value, seed = job
    fixed = None if value is None else ([value, 1.0] if bandit == "linucb_reg" else [value])
    wall = time.perf_counter()
    res = run(env, bandit, tuner, seed, fixed=fixed)
    wall = time.perf_counter() - wall
    idx = np.linspace(0, len(res.regret) - 1, POINTS).round().astype(int)
    return {"key": key(job), "setting": setting, "bandit": bandit,
            "tuner": tuner if value is None else f"fixed={value:g}", "seed": seed,
            "final": float(res.regret[-1]), "curve": res.regret[idx].tolist(),
            "rounds": (idx + 1).tolist(), "cpu": res.seconds, "wall": wall, "T": len(res.regret)}


def paired(by_seed: dict[str, dict[int, float]], a: str, b: str) -> np.ndarray:
    """Tuner a's final regret minus tuner b's, on the seeds both have."""
    seeds = sorted(set(by_seed[a]) & set(by_seed[b]))
    return np.array([by_seed[a][s] - by_seed[b][s] for s in seeds])


def ci(x: np.ndarray) -> float:
    """Half-width of the 95% t-interval of the mean."""
    if len(x) <= 1:
        return 0.0
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--only", choices=["paper", "nonstationary"],
                    help="run and report that setting alone")
    ap.add_argument("--bandits",
                    help="comma-separated: run and report these bandits alone (e.g. lints)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--extended", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--report-only", action="store_true", help="tabulate the finished runs only")
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cdt_runs.jsonl"  # one line per finished run; a rerun skips what is there
    done = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[r["key"]] = r
    todo = jobs(range(args.first_seed, args.first_seed + args.seeds), args.extended, args.only,
                args.bandits)
    missing = [j for j in todo if key(j) not in done]
    start = time.perf_counter()
    if missing and not args.report_only:
        with Pool(args.workers) as pool, cache.open("a") as f:
            for r in pool.imap(work, missing, chunksize=1):
                f.write(json.dumps(r) + "\n")
                f.flush()
                done[r["key"]] = r
    elapsed = time.perf_counter() - start
    results = [done[key(j)] for j in todo if key(j) in done]
    if len(results) < len(todo):
        print(f"PARTIAL: {len(results)} of {len(todo)} runs finished; groups below have fewer "
              "seeds")

    groups: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        groups[(r["setting"], r["bandit"])][r["tuner"]].append(r)

    headline: dict = {"seeds": args.seeds, "first_seed": args.first_seed,
                      "complete": len(results) == len(todo), "settings": {}}
    print(f"final cumulative regret, mean ± 95% CI over {args.seeds} seeds from seed "
          f"{args.first_seed} (every seed); "
          f"'CDT - x' is the paired difference (negative: CDT better); CDT is the default variant")
    for (setting, bandit), by_tuner in groups.items():
        by_seed = {t: {r["seed"]: r["final"] for r in rs} for t, rs in by_tuner.items()}
        final = {t: np.array([f for _, f in sorted(v.items())]) for t, v in by_seed.items()}

        fixed = {t: f for t, f in final.items() if t.startswith("fixed=")}
        oracle = min(fixed, key=lambda t: fixed[t].mean()) if fixed else None
        print(f"\n## {setting} / {bandit}")
        print("| tuner | seeds | final regret | over best fixed | CDT - tuner (paired) |")
        print("|---|---|---|---|---|")
        rows = [t for t in [*TUNERS] if t in final] + ([oracle] if oracle else [])
        summary = {}
        for t in rows:
            x = final[t]
            label = f"best fixed in hindsight ({oracle.split('=')[1]})" if t == oracle else t
            over = f"{100 * (x.mean() / fixed[oracle].mean() - 1):+.1f} %" if oracle else ""
            diff = paired(by_seed, "cdt", t) if "cdt" in final and t != "cdt" else None
            dtxt = f"{diff.mean():+.0f} ± {ci(diff):.0f}" if diff is not None and len(diff) else ""
            print(f"| {label} | {len(x)} | {x.mean():.0f} ± {ci(x):.0f} | {over} | {dtxt} |")
            summary["oracle" if t == oracle else t] = {"mean": round(float(x.mean()), 1),
                                                       "ci95": round(ci(x), 1), "n": len(x)}
            if oracle and t != oracle:
                summary[t]["over_oracle_pct"] = round(
                    100 * (x.mean() / fixed[oracle].mean() - 1), 1)
        if fixed:
            grid = ", ".join(f"{t.split('=')[1]}: {f.mean():.0f}" for t, f in fixed.items())
            print(f"fixed grid means: {grid}")
            summary["oracle_value"] = float(oracle.split("=")[1])
            if "cdt" in final:
                summary["cdt_over_oracle_pct"] = summary["cdt"]["over_oracle_pct"]
        for v in ["cdt", *VARIANTS]:
            for base in ("cdt", "cdt_no_restart"):
                if v != base and v in final and base in final:
                    d = paired(by_seed, v, base)
                    summary[f"{v}_minus_{base}"] = {"mean": round(float(d.mean()), 1),
                                                    "ci95": round(ci(d), 1)}
                    print(f"{v} - {base} (paired, {len(d)} seeds): {d.mean():+.0f} ± {ci(d):.0f}")
        headline["settings"][f"{setting}/{bandit}"] = summary

    paper_runs = [r for r in results if r["setting"] == "paper"
                  and r["bandit"] in ("linucb", "lints")]
    headline["runs"] = len(results)
    headline["elapsed_s"] = round(elapsed, 1)
    if paper_runs:  # --only nonstationary has none
        cpu = np.array([r["cpu"] for r in paper_runs])
        wall = np.array([r["wall"] for r in paper_runs])
        headline["seconds_per_run_cpu_median"] = round(float(np.median(cpu)), 3)
        headline["seconds_per_run_cpu_p90"] = round(float(np.quantile(cpu, 0.9)), 3)
        headline["seconds_per_run_wall_median"] = round(float(np.median(wall)), 3)
        print(f"\nseconds per paper-setting run (T=14,000, K=120, d=25): CPU median "
              f"{np.median(cpu):.3f}, p90 {np.quantile(cpu, 0.9):.3f}; wall median "
              f"{np.median(wall):.3f} ({args.workers} workers on a shared machine)")
    print(f"{len(results)} runs in {elapsed:.0f} s")

    _plot(groups, out / "cdt_regret.png")
    print(f"plot: {out / 'cdt_regret.png'}")
    print(json.dumps(headline))


def _plot(groups: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(groups)
    if not keys:
        return
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        by_tuner = groups[key]
        fixed = {t: rs for t, rs in by_tuner.items() if t.startswith("fixed=")}
        oracle = (min(fixed, key=lambda t: np.mean([r["final"] for r in fixed[t]]))
                  if fixed else None)
        for t, rs in by_tuner.items():
            if t.startswith("fixed=") and t != oracle:
                continue
            curves = np.array([r["curve"] for r in rs])
            if len(curves) < 2:
                continue
            m = curves.mean(0)
            h = stats.t.ppf(0.975, len(curves) - 1) * curves.std(0, ddof=1) / np.sqrt(len(curves))
            x = rs[0]["rounds"]
            ax.plot(x, m, label=f"best fixed ({t[6:]})" if t == oracle else t)
            ax.fill_between(x, m - h, m + h, alpha=0.2)
        ax.set_title(f"{key[0]} / {key[1]}")
        ax.set_xlabel("round")
        ax.set_ylabel("cumulative regret")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
