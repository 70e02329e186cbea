"""The method's Plotly figures (as ``fig.to_dict()``, stored with the analysis)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _label(o: str, optimizers: dict[str, Any]) -> str:
    spec = optimizers.get(o)
    return spec.label if spec is not None else o


def profiles(profiles: dict[str, np.ndarray], taus: np.ndarray, optimizers: dict[str, Any],
             over: str = "") -> dict:
    """rho(tau) per submission ("optimizer:setting"): solid calibrated, dotted defaults."""
    fig = go.Figure()
    names = list(dict.fromkeys(k.rpartition(":")[0] for k in profiles))
    for key, rho in profiles.items():
        o, _, setting = key.rpartition(":")
        fig.add_trace(go.Scatter(
            x=[float(t) for t in taus], y=[float(v) for v in rho], mode="lines",
            name=f"{_label(o, optimizers)} ({setting})", line_shape="hv",
            line={"color": _color(names.index(o)),
                  "dash": "solid" if setting == "calibrated" else "dot"}))
    fig.update_layout(title="Performance profiles (time to target)" + (f", {over}" if over else ""),
                      xaxis_title="tau (ratio to the fastest)", yaxis_title="fraction of workloads",
                      yaxis_range=[0, 1.02])
    return fig.to_dict()


def time_to_target(rows: list[dict[str, Any]], workloads: list[str],
                   optimizers: dict[str, Any] | None = None) -> dict:
    """Median steps to target per workload; a missing bar is a target never reached."""
    fig = go.Figure()
    keys = list(dict.fromkeys((r["optimizer"], r["setting"]) for r in rows))
    names = list(dict.fromkeys(o for o, _ in keys))
    for o, setting in keys:
        by_w = {r["workload"]: r["median_steps"] for r in rows
                if r["optimizer"] == o and r["setting"] == setting}
        fig.add_trace(go.Bar(
            x=workloads, y=[by_w.get(w) for w in workloads],
            name=f"{_label(o, optimizers or {})} ({setting})",
            marker={"color": _color(names.index(o)),
                    "pattern": {"shape": "" if setting == "calibrated" else "/"}}))
    fig.update_layout(title="Median steps to target (no bar: never reached)", barmode="group",
                      yaxis_title="steps", xaxis_title="workload")
    return fig.to_dict()


def sensitivity(rows: list[dict[str, Any]], workload: str,
                optimizers: dict[str, Any] | None = None) -> dict:
    """Final validation metric against the learning rate (baselines), with the learning-rate-free
    optimizers' single values as horizontal lines."""
    fig = go.Figure()
    sweeps = sorted({r["optimizer"] for r in rows if r["setting"] == "sensitivity"})
    for i, o in enumerate(sweeps):
        pts = sorted((r["lr"], r["final"]) for r in rows
                     if r["optimizer"] == o and r["setting"] == "sensitivity")
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts],
                                 mode="lines+markers", name=_label(o, optimizers or {}),
                                 line={"color": _color(i)}))
    points = [r for r in rows if r["setting"] != "sensitivity" and r["final"] is not None]
    for j, r in enumerate(points):
        fig.add_hline(y=r["final"], line_dash="dash", line_color=_color(len(sweeps) + j),
                      annotation_text=_label(r["optimizer"], optimizers or {}),
                      annotation_position="right")
    fig.update_xaxes(type="log", title="learning rate")
    finals = [r["final"] for r in rows if r["final"] is not None and math.isfinite(r["final"])]
    fig.update_layout(title=f"Learning-rate sensitivity on {workload} (final validation metric)",
                      yaxis_title="final validation metric")
    if finals:
        fig.update_yaxes(type="log")
    return fig.to_dict()


def calibration(rows: list[dict[str, Any]], optimizers: dict[str, Any] | None = None) -> dict:
    """Each proposal's calibration score, per optimizer, in the order told."""
    fig = go.Figure()
    names = list(dict.fromkeys(r["optimizer"] for r in rows))
    for i, o in enumerate(names):
        ys = [r["score"] for r in rows if r["optimizer"] == o]
        fig.add_trace(go.Scatter(x=list(range(1, len(ys) + 1)), y=ys, mode="lines+markers",
                                 name=_label(o, optimizers or {}), line={"color": _color(i)}))
    fig.update_layout(title="Calibration: score of each proposal (the first is the defaults)",
                      xaxis_title="proposal", yaxis_title="calibration score")
    return fig.to_dict()
