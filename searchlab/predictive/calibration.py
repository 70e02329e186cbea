"""Calibrated stopping probabilities: conformal residual quantiles and a reliability check.

The Gaussian rule of Baker et al. (2017) turns a point prediction and one spread into
``P(final beats best)``. On a task the predictor was not tuned on the residuals are neither
Gaussian nor of the spread seen in training, and the stated probabilities become overconfident.
Split-conformal prediction (Vovk, Gammerman & Shafer 2005; Lei et al., "Distribution-free
predictive inference for regression", JASA 2018) replaces the Gaussian tail by the empirical
distribution of held-out residuals: with residuals ``r_1..r_n = y - ŷ`` of predictions made on
curves the model did not see (cross-validation folds, or whole tasks left out), the probability
that the final value of a new trial exceeds ``threshold`` is estimated as

    P(ŷ + R > threshold) = (1 + #{i : ŷ + r_i > threshold}) / (n + 1)

which never states a probability below ``1 / (n + 1)``: a stop at ``delta`` needs at least
``1 / delta - 1`` residuals. Residuals are kept per number of observed epochs ``t`` (the error
shrinks as more of the curve is seen).

:func:`reliability` bins stated probabilities and compares each bin's mean with the observed
frequency of the event, the check behind a reliability diagram (DeGroot & Fienberg 1983).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def conformal_probability(mean: float, residuals: np.ndarray, threshold: float,
                          mode: str = "max") -> float:
    """P(final better than ``threshold``) for a final value ``mean + R``, R ~ the residuals.

    ``mode="max"``: better means above; ``"min"``: below. The ``+1`` terms make the estimate
    conservative (a valid conformal p-value), so a handful of residuals never yields 0.
    """
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
    r = np.asarray(residuals, dtype=float)
    values = mean + r
    better = int(np.sum(values > threshold)) if mode == "max" else int(np.sum(values < threshold))
    return (1 + better) / (len(r) + 1)


@dataclass(frozen=True)
class Reliability:
    """One bin of a reliability diagram."""

    low: float
    high: float
    stated: float  # mean stated probability in the bin
    observed: float  # frequency of the event in the bin
    count: int


def reliability(stated: Sequence[float], outcome: Sequence[bool],
                edges: Sequence[float] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
                ) -> list[Reliability]:
    """Stated probabilities against the observed frequency of the event, per bin (empty bins
    left out). A calibrated predictor has ``observed ≈ stated`` in every bin."""
    p = np.asarray(stated, dtype=float)
    y = np.asarray(outcome, dtype=bool)
    if p.shape != y.shape:
        raise ValueError(f"stated and outcome differ in length: {p.shape} vs {y.shape}")
    out = []
    for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        inside = (p >= lo) & ((p < hi) if k < len(edges) - 2 else (p <= hi))
        if inside.any():
            out.append(Reliability(lo, hi, float(p[inside].mean()), float(y[inside].mean()),
                                   int(inside.sum())))
    return out


def expected_calibration_error(bins: Sequence[Reliability]) -> float:
    """Count-weighted mean of ``|observed - stated|`` over the bins."""
    total = sum(b.count for b in bins)
    if not total:
        return float("nan")
    return sum(b.count * abs(b.observed - b.stated) for b in bins) / total


def plot_reliability(curves: dict[str, list[Reliability]], path: str, title: str = "") -> None:
    """A reliability diagram (stated against observed, log-scaled) with one line per label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    lo = 1e-3
    ax.plot([lo, 1], [lo, 1], color="grey", lw=1, ls="--", label="calibrated")
    for k, (label, bins) in enumerate(curves.items()):
        x = [max(b.stated, lo) for b in bins]
        y = [max(b.observed, lo) for b in bins]
        ax.plot(x, y, marker="o", color=f"C{k}", label=f"{label} (ECE "
                f"{expected_calibration_error(bins):.3f})")
        for xi, yi, b in zip(x, y, bins):
            ax.annotate(str(b.count), (xi, yi), fontsize=6, color=f"C{k}",
                        xytext=(3, -8), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, 1.05)
    ax.set_ylim(lo, 1.05)
    ax.set_xlabel("stated P(final beats the reference)")
    ax.set_ylabel("observed frequency")
    ax.set_title(title or "Reliability of stopping probabilities", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
