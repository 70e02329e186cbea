"""Our AlgoPerf scoring (``searchlab.methods.lr_free.scoring``) against the reference code itself.

Runs AlgoPerf's own ``compute_performance_profiles`` and ``compute_leaderboard_score`` (from
``scoring/performance_profile.py`` of a checkout of mlcommons/algorithmic-efficiency, given by
path; nothing of it is copied here) on random benchmarks -- ties, misses, times of 0, several
studies with several trials, ``max_tau`` below, at and above 4 -- and compares the profiles and
scores with ours. The reference's imports that only label or log (``absl``, ``tabulate``,
AlgoPerf's workload registry) are stubbed; pandas and matplotlib must be installed.

    git -C <mirror> show HEAD:scoring/performance_profile.py > /tmp/performance_profile.py
    python benchmarks/lr_free_algoperf_crosscheck.py --reference /tmp/performance_profile.py

Last line: one JSON object (cases, mismatches, the largest score difference).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import tempfile
import types
import warnings
from pathlib import Path

import numpy as np


def _stub_modules(workloads: list[str]) -> None:
    absl = types.ModuleType("absl")
    absl.logging = types.SimpleNamespace(info=lambda *a, **k: None,  # type: ignore[attr-defined]
                                         warning=lambda *a, **k: None)
    sys.modules.setdefault("absl", absl)
    tab = types.ModuleType("tabulate")
    tab.tabulate = lambda *a, **k: ""  # type: ignore[attr-defined]
    sys.modules.setdefault("tabulate", tab)
    algoperf = types.ModuleType("algoperf")
    wl_pkg = types.ModuleType("algoperf.workloads")
    registry = types.ModuleType("algoperf.workloads.workloads")
    registry.WORKLOADS = {w: {} for w in workloads}  # type: ignore[attr-defined]
    registry.BASE_WORKLOADS = list(workloads)  # type: ignore[attr-defined]
    registry.get_base_workload_name = lambda w: w  # type: ignore[attr-defined]
    sys.modules.update({"algoperf": algoperf, "algoperf.workloads": wl_pkg,
                        "algoperf.workloads.workloads": registry})
    scoring_pkg = types.ModuleType("scoring")
    utils = types.ModuleType("scoring.scoring_utils")
    utils.get_workload_metrics_and_targets = (  # type: ignore[attr-defined]
        lambda workload, split="validation": ("validation/error_rate", 0.5))
    scoring_pkg.scoring_utils = utils  # type: ignore[attr-defined]
    sys.modules.update({"scoring": scoring_pkg, "scoring.scoring_utils": utils})
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid  # type: ignore[attr-defined]


def _load_reference(path: Path, workloads: list[str]) -> types.ModuleType:
    _stub_modules(workloads)
    import matplotlib

    matplotlib.use("Agg")
    spec = importlib.util.spec_from_file_location("algoperf_performance_profile", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.NUM_BASE_WORKLOADS = len(workloads)
    module.BASE_WORKLOADS = list(workloads)
    module.HELDOUT_WORKLOADS = None
    return module


def _case(rng: np.random.Generator, n_sub: int, workloads: list[str], n_studies: int,
          n_trials: int, n_evals: int) -> dict[str, list[dict]]:
    """Per submission, trials (rows): workload, study, times (global_step) and error rates.
    Times start at 0 sometimes and often share values (ties); some trials never reach 0.5."""
    subs: dict[str, list[dict]] = {}
    for s in range(n_sub):
        rows = []
        for w in workloads:
            for study in range(n_studies):
                for _ in range(n_trials):
                    start = int(rng.choice([0, 10, 10, 20]))
                    step = int(rng.choice([10, 10, 20, 50]))
                    times = start + step * np.arange(n_evals)
                    rate = rng.choice([0.0, 0.05, 0.2, 0.5, 1.0])
                    errors = np.exp(-rate * np.arange(n_evals)) * rng.uniform(0.4, 1.2)
                    if rng.random() < 0.1:
                        errors[rng.integers(n_evals)] = np.nan
                    rows.append({"workload": w, "study": study, "global_step": times.astype(float),
                                 "validation/error_rate": errors})
        subs[f"s{s}"] = rows
    return subs


def _ours(subs: dict[str, list[dict]], workloads: list[str], max_tau: float
          ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    from searchlab.methods.lr_free import scoring

    times: dict[str, dict[str, float]] = {}
    for name, rows in subs.items():
        times[name] = {}
        for w in workloads:
            studies = sorted({r["study"] for r in rows if r["workload"] == w})
            per_study = []
            for st in studies:
                trials = [(r["global_step"], r["validation/error_rate"]) for r in rows
                          if r["workload"] == w and r["study"] == st]
                per_study.append(scoring.study_time_to_target(trials, 0.5, "min"))
            times[name][w] = scoring.median_time(per_study)
    scores, profiles, _, _ = scoring.algoperf_scores(times, workloads, max_tau=max_tau)
    return scores, profiles


def _reference(ref: types.ModuleType, subs: dict[str, list[dict]], max_tau: float,
               out_dir: str) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    import pandas as pd

    frames = {name: pd.DataFrame.from_records(rows) for name, rows in subs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        perf = ref.compute_performance_profiles(frames, time_col="global_step", min_tau=1.0,
                                                max_tau=max_tau, num_points=100,
                                                self_tuning_ruleset=True, output_dir=out_dir)
        board = ref.compute_leaderboard_score(perf, normalize=True)
    return ({str(k): float(v) for k, v in board["score"].items()},
            {str(k): perf.loc[k].to_numpy(dtype=float) for k in perf.index})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", required=True, type=Path,
                    help="the reference's scoring/performance_profile.py")
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    workloads = ["w0", "w1", "w2", "w3"]
    ref = _load_reference(args.reference, workloads)
    rng = np.random.default_rng(args.seed)
    mismatches, worst, zero_fastest = 0, 0.0, 0
    with tempfile.TemporaryDirectory() as out_dir:
        for i in range(args.cases):
            max_tau = float(rng.choice([1.5, 2.0, 4.0, 6.0, 10.0]))
            subs = _case(rng, int(rng.integers(2, 6)), workloads, int(rng.integers(1, 4)),
                         int(rng.integers(1, 3)), int(rng.integers(3, 8)))
            ours, our_profiles = _ours(subs, workloads, max_tau)
            theirs, their_profiles = _reference(ref, subs, max_tau, out_dir)
            diff = max(abs(ours[k] - theirs[k]) for k in theirs)
            same_profiles = all(np.array_equal(our_profiles[k], their_profiles[k])
                                for k in theirs)
            worst = max(worst, diff)
            if diff > 1e-12 or not same_profiles:
                mismatches += 1
                print(f"case {i}: max_tau {max_tau}: ours {ours} reference {theirs}")
            zero_fastest += any(r["global_step"][0] == 0 for rows in subs.values()
                                for r in rows)
    print(f"{args.cases} cases, {mismatches} mismatches, largest score difference {worst:.2e}")
    print(json.dumps({"cases": args.cases, "mismatches": mismatches,
                      "max_abs_score_difference": worst if math.isfinite(worst) else None,
                      "cases_with_a_time_0_evaluation": zero_fastest}))


if __name__ == "__main__":
    main()
