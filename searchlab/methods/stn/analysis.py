"""STN's summary of a study: what it learned and whether it beat the plain network.

Led by one line per STN run: its best validation loss against the plain run of the same seed
(``variants: [..., plain]``: the plain network trained at the initial values, in the same code),
its compute against that run's, and the final hyperparameters; then each hyperparameter's schedule
at a few epochs. Tables (``analysis/<name>.json``): ``stn_result`` (a row per run: the lead
table), ``stn_runs`` (a row per run, every field) and ``stn_schedules`` (a row per run and
epoch); the figure ``schedules`` (``analysis/schedules.plotly.json``: a panel per hyperparameter
and one for the validation loss, a line per run, plain runs dashed). STN's analysis is the
study's result (``draws_own_analysis``): the run summary, ``searchlab show`` and the dashboard's
"Result" panel (``dashboards/lead.py``) lead with ``stn_result``, ``schedules`` and the headline.
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
    return Analysis(metrics=_metrics(runs),
                    tables={"stn_result": _result(runs, names), "stn_runs": runs,
                            "stn_schedules": schedules},
                    figures={"schedules": schedules_figure(schedules, names)},
                    tags={"method": "stn"}, text=_text(runs, schedules, names, init, title),
                    lead_table="stn_result", lead_figures=("schedules",),
                    headline=_headline(runs, names))


def _ordered(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """STN runs first (by variant, seed), the plain runs last."""
    return sorted(runs, key=lambda r: (r["variant"] == PLAIN, str(r["variant"]), str(r["seed"])))


def _result(runs: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """The lead table: per run its best validation loss, the difference to the plain run of its
    seed, the epoch, the test loss there, its CPU time (and against the plain run's), and the
    final hyperparameters (the plain run's: the initial values it was trained at)."""
    return [{"run": f"{r['variant']} seed {r['seed']}", "status": r["status"],
             "best_val_loss": r.get("best_val_loss"), "minus_plain": r.get("minus_plain"),
             "best_epoch": r.get("best_epoch"), "test_loss_at_best": r.get("test_loss_at_best"),
             "cpu_seconds": r.get("cpu_seconds"), "cpu_over_plain": r.get("cpu_over_plain"),
             **{f"final.{n}": r.get(f"final.{n}") for n in names}}
            for r in _ordered(runs)]


def _headline(runs: list[dict[str, Any]], names: list[str]) -> str:
    """One line: per tuned variant its mean best validation loss, against the plain run's, and
    its cost against the plain run's."""
    parts = []
    for variant in dict.fromkeys(r["variant"] for r in _ordered(runs)):
        mine = [r for r in runs if r["variant"] == variant and "best_val_loss" in r]
        if not mine:
            continue
        line = f"{variant} best val loss {statistics.mean(r['best_val_loss'] for r in mine):.4f}"
        paired = [r["minus_plain"] for r in mine if "minus_plain" in r]
        if paired:
            line += f" ({statistics.mean(paired):+.4f} against plain"
            cost = [r["cpu_over_plain"] for r in mine if "cpu_over_plain" in r]
            line += f", {statistics.mean(cost):.2f}x its CPU)" if cost else ")"
        if len(mine) > 1:
            line += f" over {len(mine)} seeds"
        parts.append(line)
    return "STN: " + ("; ".join(parts) if parts else "no run reported a validation loss")


def schedules_figure(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """A panel per hyperparameter and one for the validation loss; a line per run (STN runs
    solid, the plain runs dashed), from the ``stn_schedules`` rows. A Plotly figure as a dict."""
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    panels = [*names, "val_loss"]
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, subplot_titles=panels,
                        vertical_spacing=min(0.06, 0.3 / len(panels)))
    runs = list(dict.fromkeys((r["variant"], r["seed"]) for r in rows))
    runs.sort(key=lambda vs: (vs[0] == PLAIN, str(vs[0]), str(vs[1])))
    palette = qualitative.Plotly
    for i, (variant, seed) in enumerate(runs):
        mine = [r for r in rows if r["variant"] == variant and r["seed"] == seed]
        name = f"{variant} seed {seed}"
        line = {"color": palette[i % len(palette)], "dash": "dash" if variant == PLAIN else "solid"}
        for j, panel in enumerate(panels, 1):
            fig.add_scatter(x=[r["epoch"] for r in mine], y=[r.get(panel) for r in mine],
                            mode="lines", name=name, legendgroup=name, showlegend=j == 1,
                            line=line, row=j, col=1,
                            hovertemplate=f"{name}<br>epoch %{{x}}: {panel} %{{y:.4g}}"
                                          "<extra></extra>")
    fig.update_layout(title_text="STN: learned schedules and validation loss (plain runs dashed)",
                      height=180 * len(panels) + 80)
    fig.update_xaxes(title_text="epoch", row=len(panels), col=1)
    return fig.to_dict()


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
    for r in _ordered(runs):
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
