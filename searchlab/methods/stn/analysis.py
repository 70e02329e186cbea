"""STN's summary of a study: what it learned and whether it beat the plain network.

Led by one line per STN run: its best validation loss against the plain run of the same seed
(``variants: [..., plain]``: the plain network trained at the initial values, in the same code),
its compute against that run's, and the final hyperparameters; then each hyperparameter's schedule
at a few epochs. Tables (``analysis/<name>.json``): ``stn_runs`` (one row per run) and
``stn_schedules`` (one row per run and epoch), which the dashboard's STN panel
(``dashboards/stn.py``) draws: the runs against the plain run, and the schedules.
"""

from __future__ import annotations

import statistics
from typing import Any

from searchlab.methods.base import Analysis, TrialResult

PLAIN = "plain"
SCHEDULE_POINTS = 5  # epochs shown per schedule in the text


def summarize(results: list[TrialResult], names: list[str],
              init: dict[str, float] | None = None, title: str = "") -> Analysis:
    """The analysis of an STN study from its trials (``names``: the tuned hyperparameters,
    ``init``: their starting values, ``title``: what was trained)."""
    runs = [_run(r, names) for r in results]
    plain = {r["seed"]: r for r in runs if r["variant"] == PLAIN and "best_val_loss" in r}
    for r in runs:
        base = plain.get(r["seed"])
        if r["variant"] != PLAIN and base is not None and "best_val_loss" in r:
            r["plain_best_val_loss"] = base["best_val_loss"]
            r["minus_plain"] = r["best_val_loss"] - base["best_val_loss"]
            if r.get("cpu_seconds") and base.get("cpu_seconds"):
                r["cpu_over_plain"] = r["cpu_seconds"] / base["cpu_seconds"]
    schedules = [{"variant": r.request.config.get("variant"), "seed": r.request.config.get("seed"),
                  "epoch": int(h["epoch"]), "val_loss": h["val_loss"],
                  **{n: h.get(n) for n in names}}
                 for r in results for h in r.history if "val_loss" in h]
    return Analysis(metrics=_metrics(runs), tables={"stn_runs": runs, "stn_schedules": schedules},
                    tags={"method": "stn"}, text=_text(runs, schedules, names, init, title))


def _run(r: TrialResult, names: list[str]) -> dict[str, Any]:
    variant, seed = r.request.config.get("variant"), r.request.config.get("seed")
    row: dict[str, Any] = {"trial": r.trial_id, "variant": variant, "seed": seed,
                           "status": r.status}
    hist = [h for h in r.history if "val_loss" in h]
    if not hist:
        return row
    best = min(hist, key=lambda h: h["val_loss"])
    row.update({"best_val_loss": best["val_loss"], "best_epoch": int(best["epoch"]),
                "epochs": int(hist[-1]["epoch"]), "test_loss_at_best": best.get("test_loss"),
                "test_accuracy_at_best": best.get("test_accuracy"),
                "seconds": hist[-1].get("seconds"), "cpu_seconds": hist[-1].get("cpu_seconds"),
                **{f"final.{n}": hist[-1].get(n) for n in names}})
    return row


def _metrics(runs: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for variant in dict.fromkeys(r["variant"] for r in runs):
        mine = [r for r in runs if r["variant"] == variant and "best_val_loss" in r]
        if not mine:
            continue
        out[f"{variant}.best_val_loss_mean"] = statistics.mean(r["best_val_loss"] for r in mine)
        paired = [r["minus_plain"] for r in mine if "minus_plain" in r]
        if paired:
            out[f"{variant}.minus_plain_mean"] = statistics.mean(paired)
        cost = [r["cpu_over_plain"] for r in mine if "cpu_over_plain" in r]
        if cost:
            out[f"{variant}.cpu_over_plain_mean"] = statistics.mean(cost)
    return out


def _fmt(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def _text(runs: list[dict[str, Any]], schedules: list[dict[str, Any]], names: list[str],
          init: dict[str, float] | None, title: str) -> str:
    lines = [f"STN{': ' + title if title else ''}"]
    if init:
        lines.append("initial values: " + ", ".join(f"{n} {_fmt(init.get(n))}" for n in names))
    for r in sorted(runs, key=lambda r: (r["variant"] == PLAIN, str(r["variant"]),
                                         str(r["seed"]))):
        head = f"- {r['variant']} seed {r['seed']}:"
        if "best_val_loss" not in r:
            lines.append(f"{head} {r['status']}, no validation loss")
            continue
        line = f"{head} best val loss {r['best_val_loss']:.4f} (epoch {r['best_epoch']})"
        if "minus_plain" in r:
            word = "below" if r["minus_plain"] < 0 else "above" if r["minus_plain"] > 0 else "at"
            line += f", {abs(r['minus_plain']):.4f} {word} plain ({r['plain_best_val_loss']:.4f})"
        if r.get("cpu_seconds"):
            line += f"; {r['cpu_seconds']:.3g} CPU s"
            if "cpu_over_plain" in r:
                line += f" ({r['cpu_over_plain']:.2f}x plain)"
        if r["variant"] != PLAIN:
            line += "; final " + ", ".join(f"{n} {_fmt(r.get(f'final.{n}'))}" for n in names)
        elif init:
            line += "; hyperparameters fixed at the initial values"
        if r["status"] != "completed":
            line += f" [{r['status']}]"
        lines.append(line)
    tuned = [r for r in runs if r["variant"] != PLAIN and "best_val_loss" in r]
    if tuned:
        lines.append("schedules (value at the end of epoch):")
    for r in tuned:
        rows = [s for s in schedules if s["variant"] == r["variant"] and s["seed"] == r["seed"]]
        picks = _spread(len(rows), SCHEDULE_POINTS)
        for n in names:
            points = " -> ".join(f"{_fmt(rows[i].get(n))} (ep {rows[i]['epoch']})" for i in picks)
            lines.append(f"  {r['variant']} seed {r['seed']} {n}: {points}")
    return "\n".join(lines)


def _spread(n: int, k: int) -> list[int]:
    """Up to ``k`` indices spread evenly over ``range(n)``, first and last included."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
