"""CDT's summary of a study: the regret table per (environment, bandit), every seed counted.

Each trial is one run of (environment, bandit, tuner, seed); a single run's regret says little,
so nothing here ranks runs. Per (environment, bandit) and tuner: the mean final cumulative
regret over the seeds with its 95 % t-interval, its excess over the best fixed value in
hindsight (the oracle's grid value, or combination of values, with the lowest mean), and the
paired difference from the default CDT on the seeds both ran (common random numbers: the same
seed gives every tuner the same contexts and noise, so the pairs are tighter than the intervals).
The summary text leads with these tables; ``searchlab show``, the run's closing summary and the
dashboard show them instead of a best-trial table (the ``searchlab.headline`` tag).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from searchlab.methods.base import Analysis, TrialResult

LEAD = "cdt"  # the tuner the paired differences are taken against (else the first cdt_* one)
FINISHED = ("completed", "early_stopped")


def interval(values: np.ndarray) -> float:
    """Half-width of the 95 % t-interval of the mean (0 for fewer than two values)."""
    n = len(values)
    if n < 2:
        return 0.0
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))


def final_regrets(results: list[TrialResult]) -> dict[tuple[str, str], dict[str, dict[int, float]]]:
    """(environment, bandit) -> tuner (``fixed <values>`` for the oracle's runs) -> seed ->
    final cumulative regret, from the finished trials."""
    cells: dict[tuple[str, str], dict[str, dict[int, float]]] = defaultdict(dict)
    for r in results:
        if r.status not in FINISHED or "cum_regret" not in r.metrics:
            continue
        c = r.request.config
        tuner = c["tuner"] if c["tuner"] != "fixed" else f"fixed {c['fixed']}"
        value = float(r.metrics["cum_regret"])
        if math.isfinite(value):
            cells[(str(c["environment"]), str(c["bandit"]))].setdefault(tuner, {})[
                int(c["seed"])] = value
    return cells


def summarize(results: list[TrialResult]) -> Analysis:
    """Tables ``final_regret`` (one row per environment, bandit and tuner, the oracle's fixed
    values included) and ``best_fixed`` (one row per environment and bandit), headline metrics
    ``vs_best_fixed.<env>.<bandit>.<tuner>`` and the text report that leads with the tables."""
    rows: list[dict[str, Any]] = []
    best_rows: list[dict[str, Any]] = []
    metrics: dict[str, float] = {}
    blocks: list[str] = []
    headline: list[str] = []
    for (env, bandit), by_tuner in sorted(final_regrets(results).items()):
        finals = {t: np.array(list(v.values())) for t, v in by_tuner.items()}
        fixed = {t: x for t, x in finals.items() if t.startswith("fixed ")}
        best = min(fixed, key=lambda t: (finals[t].mean(), t)) if fixed else None
        worst = max(fixed, key=lambda t: (finals[t].mean(), t)) if fixed else None
        ref = float(finals[best].mean()) if best else None
        if best is not None:
            best_rows.append({"environment": env, "bandit": bandit, "fixed": best[len("fixed "):],
                              "final_regret": ref, "ci95": interval(finals[best]),
                              "seeds": len(finals[best]), "grid_size": len(fixed)})
        lead_name = lead_of(by_tuner)
        tuners = sorted((t for t in finals if not t.startswith("fixed ")),
                        key=lambda t: (t != lead_name, t))
        for t in tuners + sorted(fixed, key=lambda t: finals[t].mean()):
            x = finals[t]
            row: dict[str, Any] = {
                "environment": env, "bandit": bandit, "tuner": t, "seeds": len(x),
                "final_regret": float(x.mean()), "ci95": interval(x),
                "kind": "fixed" if t.startswith("fixed ") else "tuner"}
            if ref is not None and ref > 0:
                row["vs_best_fixed"] = float(x.mean()) / ref - 1
                if row["kind"] == "tuner":
                    metrics[f"vs_best_fixed.{env}.{bandit}.{t}"] = row["vs_best_fixed"]
            if t == best:
                row["best_fixed"] = True
            if lead_name is not None and t != lead_name:
                d = _paired(by_tuner[lead_name], by_tuner[t])
                if len(d):
                    row["paired_against"] = lead_name
                    row["cdt_minus"] = float(d.mean())
                    row["cdt_minus_ci95"] = interval(d)
            rows.append(row)
        here = [r for r in rows if (r["environment"], r["bandit"]) == (env, bandit)]
        blocks.append(_block(env, bandit, here, best, worst, len(fixed), lead_name))
        lead = next((r for r in here if r["tuner"] == lead_name), None)
        if lead is not None and "vs_best_fixed" in lead:
            headline.append(f"{env}/{bandit}: {lead_name} {100 * lead['vs_best_fixed']:+.1f} % "
                            f"over best fixed ({best[len('fixed '):] if best else '-'})")
    text = "\n\n".join([_INTRO, *blocks]) if blocks else "no finished CDT runs"
    return Analysis(metrics=metrics, tables={"final_regret": rows, "best_fixed": best_rows},
                    text=text, lead_table="final_regret",
                    headline="; ".join(headline) or "CDT regret table (analysis/summary.md)")


_INTRO = ("CDT: final cumulative regret, mean ± 95 % t-interval over seeds (every finished run). "
          "'over best fixed': against the fixed value with the lowest mean in hindsight (the "
          "oracle); 'cdt − tuner': paired by seed, negative where CDT (the default cdt, else the "
          "first cdt_* tuner of the study) is better.")


def lead_of(by_tuner: dict[str, Any]) -> str | None:
    """The CDT variant the paired differences are taken against: ``cdt`` where it ran, else the
    first (by name) ``cdt_*`` tuner, else none."""
    if LEAD in by_tuner:
        return LEAD
    return min((t for t in by_tuner if t.startswith("cdt_")), default=None)


def _paired(a: dict[int, float], b: dict[int, float]) -> np.ndarray:
    seeds = sorted(set(a) & set(b))
    return np.array([a[s] - b[s] for s in seeds])


def _block(env: str, bandit: str, rows: list[dict[str, Any]], best: str | None,
           worst: str | None, grid: int, lead: str | None) -> str:
    """One (environment, bandit) table: the tuners, then the best and the worst fixed value."""
    shown = [r for r in rows if r["kind"] == "tuner" or r["tuner"] in (best, worst)]
    cells = [("tuner", "seeds", "final regret", "over best fixed", f"{lead or 'cdt'} − tuner")]
    for r in shown:
        name = r["tuner"]
        if name == best:
            name = f"best fixed: {name[len('fixed '):]}"
        elif name == worst and worst != best:
            name = f"worst fixed: {name[len('fixed '):]}"
        over = f"{100 * r['vs_best_fixed']:+.1f} %" if "vs_best_fixed" in r else ""
        paired = f"{r['cdt_minus']:+.1f} ± {r['cdt_minus_ci95']:.1f}" if "cdt_minus" in r else ""
        cells.append((name, str(r["seeds"]), f"{r['final_regret']:.1f} ± {r['ci95']:.1f}", over,
                      paired))
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    lines = [f"{env} / {bandit}" + (f" (oracle: {grid} fixed values)" if grid else "")]
    for c in cells:
        lines.append("  " + "  ".join(
            c[i].ljust(widths[i]) if i == 0 else c[i].rjust(widths[i]) for i in range(5)).rstrip())
    return "\n".join(lines)
