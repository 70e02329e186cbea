"""Learning-rate-free optimizers scored the AlgoPerf way (Kasimbeg et al. 2025), on CPU.

Runs the ``lr_free`` method end to end in this process with ``run_local`` (no Ray, no MLflow;
after the Ray adapter lands, ``searchlab run spaces/lr_free.yaml`` runs the same study through
Ray Tune). Every optimizer of the registry, the five built-in workloads at ``size: small``:

- calibration on ``tabular`` and ``forecast`` (``--calibration-trials`` proposals per optimizer,
  the first being the literature defaults; Optuna TPE);
- scoring on all five workloads, literature defaults and calibrated, ``--repeats`` seeds each;
  scores are reported on all five and on the three held-out workloads (fashion_mlp, fashion_cnn,
  char_lm) that calibration never saw;
- the AdamW / NadamW learning-rate sweep on ``forecast``.

Prints the score table, time to target per workload, the paper's ordering check and the total
compute; writes the sensitivity curves and performance profiles as PNG (and the analysis as
JSON) under ``--out``. The last line is one JSON object with the headline figures.

    nice -n 10 python benchmarks/lr_free.py --repeats 3 --calibration-trials 6
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--calibration-trials", type=int, default=6)
    ap.add_argument("--optimizers", default=None, help="comma-separated subset (default: all)")
    ap.add_argument("--workloads", default=None, help="comma-separated subset (default: all five)")
    ap.add_argument("--out", default="benchmarks/results/lr_free")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from searchlab.methods.local import run_local
    from searchlab.methods.lr_free.method import LRFreeMethod
    from searchlab.methods.lr_free.optimizers import OPTIMIZERS
    from searchlab.methods.lr_free.settings import LRFreeSettings
    from searchlab.methods.lr_free.workloads import WORKLOADS
    from searchlab.spec.parse import parse_text
    from searchlab.workloads.datasets import image_classification

    optimizers = args.optimizers.split(",") if args.optimizers else list(OPTIMIZERS)
    workloads = args.workloads.split(",") if args.workloads else list(WORKLOADS)
    settings = LRFreeSettings(optimizers=optimizers, workloads=workloads,
                              calibration_workloads=["tabular", "forecast"],
                              calibration_trials=args.calibration_trials, repeats=args.repeats,
                              seed=args.seed)
    study = parse_text("name: lr-free-benchmark\nmethod: {name: lr_free}\n").study
    study = study.model_copy(update={"method": LRFreeMethod(settings)})
    total = study.method.start(study).total
    load_before = os.getloadavg()
    print(f"lr_free benchmark: {len(optimizers)} optimizers, workloads {workloads}, "
          f"images={image_classification().name}, {total} trials, load {load_before[0]:.1f}",
          flush=True)
    t0 = time.time()
    out = run_local(study, seed=args.seed)
    wall = time.time() - t0
    load_after = os.getloadavg()
    a = out.analysis
    failed = [r for r in out.results if r.status != "completed"]

    print()
    print(a.text)
    print()
    print("median steps to target (- never), defaults / calibrated:")
    ttt = {(r["optimizer"], r["setting"], r["workload"]): r["median_steps"]
           for r in a.tables["time_to_target"]}
    wls = a.tables["workloads"]["scored"]
    print(f"{'optimizer':20s}" + "".join(f"{w:>16s}" for w in wls))
    for o in optimizers:
        cells = []
        for w in wls:
            d, c = ttt.get((o, "defaults", w)), ttt.get((o, "calibrated", w))
            cells.append(f"{'-' if d is None else int(d)}/{'-' if c is None else int(c)}")
        print(f"{o:20s}" + "".join(f"{x:>16s}" for x in cells))
    print("\ncalibrated hyperparameters:")
    for o, h in a.tables["calibrated_hparams"].items():
        print(f"  {o}: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in h.items()))
    print(f"\nwall {wall:.0f} s; load average {load_before[0]:.1f} before, {load_after[0]:.1f} "
          f"after; {len(failed)} trials not completed")

    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "analysis.json").write_text(json.dumps(
        {"tables": a.tables, "metrics": a.metrics, "figures": a.figures}, default=str))
    _plots(a, outdir)

    scores = {r["optimizer"]: {k: r.get(k) for k in ("defaults", "calibrated", "defaults_held_out",
                                                       "calibrated_held_out")}
              for r in a.tables["scores"]}
    print(json.dumps({"benchmark": "lr_free", "scores": scores, "ordering": a.tables["ordering"],
                      "trials": len(out.results), "failed": len(failed),
                      "train_seconds": round(a.metrics["compute.train_seconds"], 1),
                      "steps": a.metrics["compute.steps"], "wall_s": round(wall, 1),
                      "load_before": round(load_before[0], 1),
                      "load_after": round(load_after[0], 1),
                      "repeats": args.repeats, "calibration_trials": args.calibration_trials,
                      "calibrated_on": a.tables["workloads"]["calibration"],
                      "held_out": a.tables["workloads"]["held_out"], "size": "small",
                      "images": image_classification().name}, default=str))


def _plots(a, outdir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = a.tables["sensitivity"]
    if rows:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for o in sorted({r["optimizer"] for r in rows if r["setting"] == "sensitivity"}):
            pts = sorted((r["lr"], r["final"]) for r in rows
                         if r["optimizer"] == o and r["setting"] == "sensitivity"
                         and r["final"] is not None)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{o} (lr sweep)")
        for r in rows:
            if r["setting"] != "sensitivity" and r["final"] is not None:
                ax.axhline(r["final"], ls="--", lw=1, alpha=0.8, color=None)
                ax.annotate(r["optimizer"], (1.0, r["final"]), xycoords=("axes fraction", "data"),
                            fontsize=7, ha="right", va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("final validation MSE (forecast)")
        ax.set_title("Learning-rate sensitivity (dashed: the other optimizers at their defaults)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(outdir / "lr_sensitivity.png", dpi=120)
        plt.close(fig)
    prof = a.figures.get("performance_profiles")
    if prof:
        fig, ax = plt.subplots(figsize=(10, 5))
        for tr in prof["data"]:
            ax.step(tr["x"], tr["y"], where="post", label=tr["name"], color=tr["line"]["color"],
                    ls="-" if "calibrated" in tr["name"] else ":", lw=1.8)
        ax.set_xlabel("tau")
        ax.set_ylabel("fraction of workloads")
        ax.set_title("AlgoPerf performance profiles (solid: calibrated, dotted: defaults)")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        fig.savefig(outdir / "performance_profiles.png", dpi=120)
        plt.close(fig)


if __name__ == "__main__":
    main()
