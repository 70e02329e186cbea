"""What a Deep GA study says at the end: one row per GA run, the learning curves, where the
elites are.

:func:`summarize` is the method's analysis (the run summary, ``analysis/summary.md`` on the
study's MLflow run, the dashboard's "Result" panel and the Python API's tables):

- the table ``runs``: per run its label (GA, GA-NS, or the novelty weight, with the settings
  that differ between runs), seed, ``solved``, ``final_score``, ``elite_score``, the generations
  it ran, frames, wall time and trial; ``ga_runs``: the same and every GA setting (the
  ``generations`` budget as ``max_generations``);
- the text: that table in words, the settings every run shares, and the best run's elite with
  the command that replays it (``searchlab replay <study> --trial <id>``; the seed list is the
  trial's MLflow artifact ``trial/elite.json``);
- the figure ``learning_curves``: the elite's score against frames, one line with markers per
  run (a run that stops after one generation is one marker), coloured by configuration and named
  by it and the seed, so GA and GA-NS are told apart.

The table and the figure lead (``Analysis.lead_table``, ``lead_figures``, ``headline``: the run
summary, ``searchlab show`` and the dashboard show them instead of a best-trial table that would
rank raw scores across seeds and settings).
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

from searchlab.methods.base import Analysis, TrialResult

#: the columns of the table ``runs`` (the study's result; ``ga_runs`` adds every setting)
_LEAD_COLUMNS = ("run", "seed", "solved", "final_score", "elite_score", "generations", "frames",
                 "wall_time", "trial_id")
#: trial-config keys that are no GA setting
_NOT_SETTINGS = ("seed", "path")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def mode_label(config: dict[str, Any]) -> str:
    """GA (reward only), GA-NS (novelty only) or the mix."""
    w = float(config.get("novelty_weight") or 0.0)
    return "GA" if w <= 0 else "GA-NS" if w >= 1 else f"GA+NS {w:g}"


def _varied(configs: list[dict[str, Any]]) -> list[str]:
    keys = sorted({k for c in configs for k in c if k not in _NOT_SETTINGS})
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def _label(config: dict[str, Any], varied: list[str]) -> str:
    parts = [mode_label(config)]
    parts += [f"{k}={_short(config.get(k))}" for k in varied if k != "novelty_weight"]
    return ", ".join(parts)


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_short(x) for x in v) + "]"
    return str(v)


def summarize(results: list[TrialResult], study: str | None = None) -> Analysis:
    """The study's analysis (module docstring); ``study`` is its name, for the replay command."""
    configs = [dict(r.request.config) for r in results]
    varied = _varied(configs)
    rows: list[dict[str, Any]] = []
    for r, config in zip(results, configs):
        m = r.metrics
        row = {"run": _label(config, varied), "trial_id": r.trial_id,
               "seed": config.get("seed"), "status": r.status, "env": config.get("env"),
               "solved": _bool(m.get("solved")), "final_score": m.get("final_score"),
               "elite_score": m.get("elite_score"), "best_score": m.get("best_score"),
               "threshold": m.get("threshold"), "generations": len(r.history),
               "frames": None if m.get("frames") is None else int(m["frames"]),
               "wall_time": m.get("wall_time")}
        for k in sorted(config):  # every setting; the budget `generations` as max_generations
            if k not in _NOT_SETTINGS and k != "env":
                row["max_generations" if k == "generations" else k] = config[k]
        rows.append(row)
    # the table that leads: what a reader compares, narrow enough for the dashboard's panel
    lead = [{k: row[k] for k in _LEAD_COLUMNS} for row in rows]
    analysis = Analysis(tables={"runs": lead, "ga_runs": rows}, tags={"method": "deep_ga"},
                        lead_table="runs", lead_figures=("learning_curves",))
    scored = [row for row in rows if row["elite_score"] is not None]
    if scored:
        best = min(scored, key=_rank)
        analysis.metrics["best_elite_score"] = float(max(r["elite_score"] for r in scored))
        finals = [row["final_score"] for row in rows if row["final_score"] is not None]
        if finals:
            analysis.metrics["mean_final_score"] = sum(finals) / len(finals)
        solved = [row["solved"] for row in rows if row["solved"] is not None]
        if solved:
            analysis.metrics["solved_runs"] = float(sum(solved))
        analysis.text = _text(rows, configs, varied, best, study)
        analysis.headline = _headline(rows, best, study)
    analysis.figures["learning_curves"] = learning_curves(results, configs, varied)
    return analysis


def _rank(row: dict[str, Any]) -> tuple[float, float, float, str]:
    """Best run first (the smallest key): by final score, then by elite score, then (as
    :func:`searchlab.results.best_first`) fewer generations, then the trial id."""
    final = row["final_score"]
    gens = row["generations"]
    return (-final if final is not None else math.inf, -row["elite_score"],
            float(gens) if gens is not None else math.inf, str(row["trial_id"]))


def _bool(v: Any) -> bool | None:
    return None if v is None else bool(v)


def _text(rows: list[dict[str, Any]], configs: list[dict[str, Any]], varied: list[str],
          best: dict[str, Any], study: str | None) -> str:
    envs = sorted({str(r["env"]) for r in rows})
    solved = [r["solved"] for r in rows if r["solved"] is not None]
    head = f"Deep GA on {', '.join(envs)}: {len(rows)} runs"
    if solved:
        target = next((r["threshold"] for r in rows if r["threshold"] is not None), None)
        what = f"final score >= {target:g}" if target is not None else "reached the goal"
        head += f", {sum(solved)} solved ({what})"
    lines = [head]
    width = max(len("run"), *(len(r["run"]) for r in rows))
    lines.append(f"{'run':<{width}}  {'seed':>5}  {'solved':>6}  {'final':>9}  {'elite':>9}  "
                 f"{'gens':>5}  {'frames':>12}  trial")
    for r in sorted(rows, key=lambda r: (r["run"], r["seed"] if r["seed"] is not None else 0)):
        lines.append(f"{r['run']:<{width}}  {_cell(r['seed']):>5}  "
                     f"{_yes(r['solved']):>6}  {_num(r['final_score']):>9}  "
                     f"{_num(r['elite_score']):>9}  {r['generations']:>5}  "
                     f"{_int(r['frames']):>12}  {r['trial_id']}"
                     + ("" if r["status"] in ("completed", "early_stopped")
                        else f" ({r['status']})"))
    shared = {k: configs[0].get(k) for k in sorted(configs[0])
              if k not in varied and k not in _NOT_SETTINGS and k != "env"
              and configs[0].get(k) not in (None, [], {})}
    if shared:
        lines += textwrap.wrap("settings of every run: " + ", ".join(
            f"{k} {_short(v)}" for k, v in shared.items()), 100, subsequent_indent="  ")
    score = (f"final score {best['final_score']:.4g}" if best["final_score"] is not None
             else f"elite score {best['elite_score']:.4g}")
    tid = best["trial_id"]
    lines.append(f"best run: trial {tid} ({best['run']}, seed {_cell(best['seed'])}), {score}")
    lines.append(f"its elite, a seed list: trial/elite.json (MLflow artifact of trial {tid}), "
                 f"<study folder>/{tid}/artifacts/elite.json")
    replay = f"searchlab replay {study} --trial {tid}" if study else \
        f"searchlab replay <study folder>/{tid}"
    lines.append(f"replay it: {replay}")
    return "\n".join(lines)


def _headline(rows: list[dict[str, Any]], best: dict[str, Any], study: str | None) -> str:
    """One line: the runs, how many solved, the best run and how to replay it."""
    envs = ", ".join(sorted({str(r["env"]) for r in rows}))
    solved = [r["solved"] for r in rows if r["solved"] is not None]
    out = f"Deep GA on {envs}: {len(rows)} runs"
    if solved:
        out += f", {sum(solved)} solved"
    score = (f"final score {best['final_score']:.4g}" if best["final_score"] is not None
             else f"elite score {best['elite_score']:.4g}")
    out += f"; best {best['run']} (seed {_cell(best['seed'])}), {score}"
    if study:
        out += f"; replay: searchlab replay {study} --trial {best['trial_id']}"
    return out


def _cell(v: Any) -> str:
    return "-" if v is None else str(v)


def _yes(v: bool | None) -> str:
    return "-" if v is None else "yes" if v else "no"


def _num(v: Any) -> str:
    return "-" if v is None else f"{float(v):.4g}"


def _int(v: Any) -> str:
    return "-" if v is None else f"{int(v):,}"


def learning_curves(results: list[TrialResult], configs: list[dict[str, Any]] | None = None,
                    varied: list[str] | None = None) -> dict[str, Any]:
    """Elite score against frames: a line with markers per run, one colour per configuration."""
    import plotly.graph_objects as go

    configs = configs if configs is not None else [dict(r.request.config) for r in results]
    varied = varied if varied is not None else _varied(configs)
    labels = [_label(c, varied) for c in configs]
    colours = {label: PALETTE[i % len(PALETTE)] for i, label in
               enumerate(dict.fromkeys(sorted(labels)))}
    fig = go.Figure()
    for r, config, label in sorted(zip(results, configs, labels),
                                   key=lambda t: (t[2], t[1].get("seed") or 0)):
        xs = [h.get("frames", h.get("epoch")) for h in r.history]
        ys = [h.get("elite_score") for h in r.history]
        name = f"{label} · seed {_cell(config.get('seed'))}"
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", name=name, legendgroup=label,
            line={"color": colours[label], "width": 1.5}, marker={"size": 6},
            hovertemplate=f"{name}<br>frames %{{x:,}}<br>elite score %{{y:.4g}}"
                          f"<extra>trial {r.trial_id}</extra>"))
    envs = sorted({str(c.get("env")) for c in configs})
    fig.update_layout(title=f"Deep GA on {', '.join(envs)}: elite score against frames",
                      xaxis_title="frames (environment steps)", yaxis_title="elite score",
                      legend_title_text="run")
    return fig.to_dict()
