"""The study's result, from every trial: the AlgoPerf table and performance profiles first.

:func:`summarize` builds the :class:`~searchlab.methods.base.Analysis` the run stores on the
study's parent run. What leads -- in the run's closing summary, ``searchlab show`` and the
dashboard -- is the AlgoPerf score table and the performance profiles (all scored workloads and
the held-out ones): trials of different workloads report ``val_metric`` on different scales, so
a best-trial table ranking them together means nothing: the analysis names its lead table and
figures (``Analysis.lead_table``, ``lead_figures``), which the runner tags on the parent run
(``searchlab.lead``, see :data:`searchlab.methods.base.LEAD_TAG`).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

from searchlab.methods.base import Analysis, TrialResult
from searchlab.methods.lr_free import scoring
from searchlab.methods.lr_free.method import (
    METRIC,
    SETTINGS,
    label,
    trial_time_to_target,
)
from searchlab.methods.lr_free.optimizers import BASELINES, OptimizerSpec
from searchlab.methods.lr_free.settings import LRFreeSettings

#: tau values at which the text summary prints the profiles
PROFILE_TAUS = (1.0, 1.5, 2.0, 3.0, 4.0)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def submission(optimizer: str, setting: str) -> str:
    """The key of one AlgoPerf "submission": an optimizer with one setting."""
    return f"{optimizer}:{setting}"


def split_submission(key: str) -> tuple[str, str]:
    """``submission``'s inverse (an optimizer given by reference has a colon of its own)."""
    optimizer, _, setting = key.rpartition(":")
    return optimizer, setting


def summarize(s: LRFreeSettings, results: list[TrialResult], calibration: list[dict[str, Any]],
              calibrated: dict[str, dict[str, Any]]) -> Analysis:
    """Score table, profiles, time to target and sensitivity from every trial's result."""
    from searchlab.methods.lr_free import figures

    specs = s.specs()
    names = s.names
    scored = [r for r in results if r.request.tags.get("lr_free.phase") == "scoring"]
    workloads = [label(w) for w in s.workloads]
    held_out = [label(w) for w in s.workloads if w not in s.calibration_workloads]
    per_seed: dict[tuple[str, str, str], list[float]] = {}
    for r in scored:
        c = r.request.config
        per_seed.setdefault((c["optimizer"], c["setting"], c["workload"]), []).append(
            trial_time_to_target(r))
    times: dict[str, dict[str, float]] = {submission(o, st): {} for o in names for st in SETTINGS}
    for (o, st, w), ts in per_seed.items():
        times.setdefault(submission(o, st), {})[w] = scoring.median_time(ts)

    def score_all(ws: list[str]) -> tuple[dict[str, float], dict[str, np.ndarray], np.ndarray,
                                          dict[str, dict[str, float]]]:
        if not ws or not scored:
            return {}, {}, np.array([]), {}
        return scoring.algoperf_scores(times, ws, max_tau=s.max_tau)

    scores, profiles, taus, ratios = score_all(workloads)
    scores_held, profiles_held, taus_held, _ = score_all(held_out)
    table = []
    for o in names:
        sp = specs[o]
        row: dict[str, Any] = {"label": sp.label, "lr_free": sp.lr_free, "yours": sp.user}
        for st in SETTINGS:
            row[st] = scores.get(submission(o, st))
        for st in SETTINGS if held_out else ():
            row[f"{st}_held_out"] = scores_held.get(submission(o, st))
        row["optimizer"] = o
        table.append(row)
    order = {o: i for i, o in enumerate(names)}
    ttt_rows = [{"optimizer": o, "setting": st, "workload": w,
                 "median_steps": _finite(scoring.median_time(ts)),
                 "per_seed": [_finite(t) for t in ts]}
                for (o, st, w), ts in sorted(per_seed.items(), key=lambda kv: (
                    order.get(kv[0][0], len(order)), SETTINGS.index(kv[0][1])
                    if kv[0][1] in SETTINGS else 9, kv[0][2]))]
    profile_rows = [{"optimizer": o, "setting": st,
                     **{f"tau={t:g}": _rho(ratios.get(submission(o, st), {}), workloads, t)
                        for t in PROFILE_TAUS if t <= s.max_tau}}
                    for o in names for st in SETTINGS] if ratios else []

    sens_rows = []
    sens_w = label(s.sensitivity_workload) if s.sensitivity_workload else None
    for r in results:
        c, tags = r.request.config, r.request.tags
        is_sweep = tags.get("lr_free.phase") == "sensitivity"
        is_point = (tags.get("lr_free.phase") == "scoring" and c["setting"] == "defaults"
                    and c["workload"] == sens_w and int(c["seed"]) == 0
                    and c["optimizer"] not in BASELINES)
        if (is_sweep or is_point) and r.history:
            sens_rows.append({"optimizer": c["optimizer"], "lr": c.get("lr"),
                              "setting": c["setting"],
                              "final": _finite(float(r.history[-1].get(METRIC, math.inf)))})

    metrics: dict[str, float] = {}
    for row in table:
        for st in SETTINGS:
            if row[st] is not None:
                metrics[f"score.{row['optimizer']}.{st}"] = row[st]
    ordering = ordering_check(table)
    metrics.update({f"ordering.{k}": float(v) for k, v in ordering.items() if v is not None})
    seconds = sum(float(r.history[-1].get("seconds", 0.0)) for r in results if r.history)
    steps = sum(float(r.history[-1].get("step", 0.0)) for r in results if r.history)
    metrics.update({"compute.trials": float(len(results)), "compute.train_seconds": seconds,
                    "compute.steps": steps})

    figs = {}
    if profiles:
        figs["performance_profiles"] = figures.profiles(
            profiles, taus, specs, f"all {len(workloads)} scored workloads")
        if held_out and profiles_held:
            figs["performance_profiles_held_out"] = figures.profiles(
                profiles_held, taus_held, specs,
                f"the {len(held_out)} held-out workloads ({', '.join(held_out)})")
        figs["time_to_target"] = figures.time_to_target(ttt_rows, workloads, specs)
    if sens_rows:
        figs["lr_sensitivity"] = figures.sensitivity(sens_rows, sens_w or "", specs)
    if calibration:
        figs["calibration"] = figures.calibration(calibration, specs)
    budgets: dict[str, int] = {}  # steps each scored workload ran (its budget)
    for r in scored:
        if r.history:
            w = str(r.request.config["workload"])
            budgets[w] = max(budgets.get(w, 0), int(float(r.history[-1].get("step", 0))))
    return Analysis(
        metrics=metrics,
        tables={"scores": table, "profiles": profile_rows, "time_to_target": ttt_rows,
                "calibration": calibration, "calibrated_hparams": calibrated,
                "sensitivity": sens_rows,
                "workloads": {"calibration": [label(w) for w in s.calibration_workloads],
                              "scored": workloads, "held_out": held_out},
                "ordering": ordering},
        figures=figs,
        tags={"lr_free.size": s.size},
        lead_table="scores", lead_figures=("performance_profiles", "performance_profiles_held_out"),
        text=report(table, ordering, workloads, held_out, metrics, profile_rows, ttt_rows,
                    specs, s, budgets),
    )


def _rho(ratios: dict[str, float], workloads: list[str], tau: float) -> float:
    """The profile at ``tau``: the fraction of ``workloads`` with a ratio ``<= tau``."""
    return sum(1 for w in workloads if ratios.get(w, math.inf) <= tau) / len(workloads)


def ordering_check(table: list[dict[str, Any]]) -> dict[str, Any]:
    """The paper's ordering: defaults < calibrated (mean over the built-in learning-rate-free
    optimizers; yours are left out), and the best calibrated one <= calibrated NadamW."""
    lr_free = [r for r in table if r["lr_free"] and not r.get("yours")
               and r["defaults"] is not None and r["calibrated"] is not None]
    nadamw = next((r for r in table if r["optimizer"] == "nadamw"), None)
    out: dict[str, Any] = {"mean_lr_free_defaults": None, "mean_lr_free_calibrated": None,
                           "nadamw_calibrated": None, "defaults_below_calibrated": None,
                           "lr_free_at_most_nadamw": None}
    if lr_free:
        d = statistics.fmean(r["defaults"] for r in lr_free)
        c = statistics.fmean(r["calibrated"] for r in lr_free)
        out.update(mean_lr_free_defaults=d, mean_lr_free_calibrated=c,
                   defaults_below_calibrated=d < c)
        if nadamw is not None and nadamw["calibrated"] is not None:
            best = max(r["calibrated"] for r in lr_free)
            out.update(nadamw_calibrated=nadamw["calibrated"],
                       best_lr_free_calibrated=best,
                       lr_free_at_most_nadamw=best <= nadamw["calibrated"])
    return out


def _f(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}"


def _markdown(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *["| " + " | ".join(r) + " |" for r in rows]]


def report(table: list[dict[str, Any]], ordering: dict[str, Any], workloads: list[str],
           held_out: list[str], metrics: dict[str, float], profile_rows: list[dict[str, Any]],
           ttt_rows: list[dict[str, Any]], specs: dict[str, OptimizerSpec], s: LRFreeSettings,
           budgets: dict[str, int]) -> str:
    """The closing summary (markdown): the AlgoPerf table, the profiles at a few tau, median
    steps to target per workload, the paper's ordering, the compute."""
    def yes(x: Any) -> str:
        return "-" if x is None else ("yes" if x else "no")

    def who(o: str) -> str:
        return specs[o].label + (" (yours)" if specs[o].user else "")

    lines = [f"AlgoPerf scores: area under the performance profile, tau in [1, {s.max_tau:g}]; "
             "1 = fastest on every workload, 0 = never within 4x of the fastest",
             f"times to target in steps, median over {s.repeats} seed(s); scored on "
             f"{', '.join(workloads)}; held out (never calibrated on): "
             f"{', '.join(held_out) or 'none'}", ""]
    head = ["optimizer", "lr-free", "defaults", "calibrated"]
    if held_out:
        head += ["defaults (held-out)", "calibrated (held-out)"]
    rows = []
    for r in table:
        row = [who(r["optimizer"]), yes(r["lr_free"]), _f(r["defaults"]), _f(r["calibrated"])]
        if held_out:
            row += [_f(r.get("defaults_held_out")), _f(r.get("calibrated_held_out"))]
        rows.append(row)
    lines += _markdown(head, rows)
    if profile_rows:
        taus = [k for k in profile_rows[0] if k.startswith("tau=")]
        lines += ["", f"performance profiles: fraction of the {len(workloads)} workloads reached "
                      "within tau x the fastest", ""]
        lines += _markdown(["optimizer, setting", *taus],
                           [[f"{specs[p['optimizer']].label}, {p['setting']}",
                             *[f"{p[t]:.2f}" for t in taus]] for p in profile_rows])
    if ttt_rows:
        medians = {(r["optimizer"], r["setting"], r["workload"]): r["median_steps"]
                   for r in ttt_rows}
        keys = list(dict.fromkeys((r["optimizer"], r["setting"]) for r in ttt_rows))
        budget = ", ".join(f"{w} {budgets[w]}" for w in workloads if w in budgets)
        lines += ["", "median steps to target (- : not reached"
                      + (f"; steps run: {budget}" if budget else "") + ")", ""]
        lines += _markdown(["optimizer, setting", *workloads],
                           [[f"{specs[o].label}, {st}",
                             *[("-" if medians.get((o, st, w)) is None
                                else f"{medians[(o, st, w)]:g}") for w in workloads]]
                            for o, st in keys])
    lines += ["", "the paper's ordering (AlgoPerf scores, higher is better):",
              f"  calibration raises the lr-free optimizers' mean score: "
              f"{yes(ordering.get('defaults_below_calibrated'))} "
              f"({_f(ordering.get('mean_lr_free_defaults'))} defaults -> "
              f"{_f(ordering.get('mean_lr_free_calibrated'))} calibrated)",
              f"  no calibrated lr-free optimizer beats calibrated NadamW: "
              f"{yes(ordering.get('lr_free_at_most_nadamw'))} "
              f"(best lr-free {_f(ordering.get('best_lr_free_calibrated'))}, NadamW "
              f"{_f(ordering.get('nadamw_calibrated'))})",
              "",
              f"compute: {metrics['compute.trials']:.0f} trials, "
              f"{metrics['compute.steps']:.0f} steps, "
              f"{metrics['compute.train_seconds']:.0f} s of training"]
    return "\n".join(lines)
