"""The stopping rule of Baker et al. (2017), section 4.

The predicted final value is treated as Gaussian, ``N(mean, std^2)``; a trial is stopped when the
probability that its final value beats the best final value seen so far falls below ``delta``.

:func:`rank_reference` is the alternative value to beat: the ``k``-th best of the other trials'
estimated finals. It exists before any trial has finished, and with ``k > 1`` it is not the
maximum of many noisy early estimates (which overstates the best and stops too much).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def probability_beats(mean: float, std: float, best: float, mode: str = "max") -> float:
    """P(final value better than ``best``) for a final value ~ N(mean, std^2)."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
    margin = (mean - best) if mode == "max" else (best - mean)
    if std <= 0:
        return 1.0 if margin > 0 else 0.0
    return 0.5 * math.erfc(-margin / (std * math.sqrt(2.0)))


def should_stop(probability: float, delta: float) -> bool:
    """Stop when the probability of beating the best is below ``delta``."""
    return probability < delta


def rank_reference(estimates: Sequence[float], k: int, mode: str = "max") -> float:
    """The ``k``-th best of ``estimates`` (the worst when there are fewer than ``k``)."""
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
    if not estimates:
        raise ValueError("rank_reference needs at least one estimate")
    ordered = sorted(estimates, reverse=(mode == "max"))
    return float(ordered[min(k, len(ordered)) - 1])
