"""AlgoPerf scoring: time to target, performance profiles and the normalised area under them.

The definitions follow the AlgoPerf benchmark's own scoring code (Dahl et al., "Benchmarking
Neural Network Training Algorithms", 2023; Kasimbeg et al., "Accelerating neural network training:
an analysis of the AlgoPerf competition", ICLR 2025), read from ``scoring/performance_profile.py``
and ``scoring/score_submissions.py`` in https://github.com/mlcommons/algorithmic-efficiency
(commit 2c90454, September 2025). This module is our own code and uses no pandas:

1. **Time to target of one study.** A study is one or more trials (tuning trials under the
   external ruleset, one trial under the self-tuning ruleset). For each trial, the first evaluation
   whose validation metric reaches the target (``<=`` for a minimised metric, ``>=`` for a
   maximised one; NaN never reaches it). Among the trials that reach it, the one that does so at
   the *earliest evaluation index* is chosen (AlgoPerf compares indices, not times), and the
   study's time is that trial's time at that index. A study in which no trial reaches the
   target has time ``inf``.
2. **Median over studies** (``np.median``: with ``inf`` values the median is ``inf`` once half
   or more of the studies missed; for an even count the mean of the middle two, so ``(t + inf)/2
   = inf``).
3. **Cut-off and ratios.** Per workload, an optimizer whose time exceeds **4** times the
   fastest optimizer's time is set to ``inf`` -- always 4 (:data:`CUTOFF`), whatever ``max_tau``
   the profile is drawn to: the reference writes ``df > 4 * best_scores`` next to its
   ``max_tau`` argument. Then every time is divided by the fastest time on that workload, and
   where the quotient is NaN the time itself stays (the reference divides with
   ``df.update(df.div(...))``, and ``DataFrame.update`` skips NaN). So ties share the ratio 1;
   a workload no optimizer solves keeps ``inf`` for all (``inf / inf``), a miss; and **a
   fastest time of 0 counts as reached**: its ratio stays 0 (``0 / 0``), which is ``<= tau``
   for every ``tau``, while every positive time on that workload is more than 4 x 0, so cut.
4. **Performance profile.** ``rho(tau)`` = (number of workloads with ratio ``<= tau``) /
   (number of workloads), on ``num_points`` (100) evenly spaced ``tau`` in ``[1, max_tau]``.
   The denominator is the number of workloads in the benchmark, so a workload an optimizer did
   not run counts as a miss. With ``max_tau`` above 4 the profile is flat beyond 4 (nothing is
   slower than 4x and kept); below 4, ratios between ``max_tau`` and 4 stay in the ratio table
   but are never counted.
5. **Score.** The trapezoidal area under ``rho`` over ``[1, max_tau]``, divided by the range
   ``max_tau - 1`` (``compute_leaderboard_score(normalize=True)``), so it lies in ``[0, 1]``:
   1 means fastest on every workload, 0 means no workload within ``min(4, max_tau)`` of the
   fastest.

"Time" is whatever the caller measures at each evaluation: training steps here (deterministic
on a loaded machine), where AlgoPerf uses accumulated submission time in seconds. A negative
time is an error; NaN counts as never reached.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

MAX_TAU = 4.0
NUM_POINTS = 100
#: times beyond this multiple of the fastest are cut (AlgoPerf's fixed 4, not ``max_tau``)
CUTOFF = 4.0


def reaches(value: float, target: float, mode: str) -> bool:
    """Whether one evaluation reaches the target (NaN never does)."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if value is None or math.isnan(float(value)):
        return False
    return float(value) <= target if mode == "min" else float(value) >= target


def first_reaching_index(values: Sequence[float], target: float, mode: str) -> int | None:
    """The index of the first evaluation that reaches the target, or None."""
    for i, v in enumerate(values):
        if reaches(v, target, mode):
            return i
    return None


def time_to_target(times: Sequence[float], values: Sequence[float], target: float,
                   mode: str) -> float:
    """One trial's time to target: ``times[i]`` at the first evaluation ``i`` reaching it, or
    inf."""
    if len(times) != len(values):
        raise ValueError(f"times and values differ in length ({len(times)} vs {len(values)})")
    i = first_reaching_index(values, target, mode)
    return math.inf if i is None else float(times[i])


def study_time_to_target(trials: Sequence[tuple[Sequence[float], Sequence[float]]],
                         target: float, mode: str) -> float:
    """One study's time to target from its trials, each ``(times, values)``: the trial that
    reaches the target at the earliest evaluation index wins (the first such trial on a tie of
    indices), and its time at that index is the study's; inf when no trial reaches it."""
    best_index, best_time = None, math.inf
    for times, values in trials:
        i = first_reaching_index(values, target, mode)
        if i is not None and (best_index is None or i < best_index):
            best_index, best_time = i, float(times[i])
    return best_time


def median_time(study_times: Sequence[float]) -> float:
    """The median over repeated studies (inf if none)."""
    if not study_times:
        return math.inf
    return float(np.median(np.asarray(study_times, dtype=float)))


def performance_ratios(times: Mapping[str, Mapping[str, float]], workloads: Sequence[str]
                       ) -> dict[str, dict[str, float]]:
    """``times[optimizer][workload]`` (a missing entry or NaN is a miss) -> ratio to the fastest
    per workload, with times beyond :data:`CUTOFF` (4) x the fastest set to inf first; where
    the quotient is NaN (``0/0``, ``inf/inf``) the time itself stays, as in the reference."""
    out: dict[str, dict[str, float]] = {o: {} for o in times}
    for w in workloads:
        column = {o: float(times[o].get(w, math.inf)) for o in times}
        column = {o: (math.inf if math.isnan(t) else t) for o, t in column.items()}
        negative = [o for o, t in column.items() if t < 0]
        if negative:
            raise ValueError(f"time to target of {negative[0]} on {w} is negative "
                             f"({column[negative[0]]})")
        best = min(column.values(), default=math.inf)
        for o, t in column.items():
            if t > CUTOFF * best:
                t = math.inf
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = float(np.float64(t) / np.float64(best))
            out[o][w] = t if math.isnan(ratio) else ratio
    return out


def tau_grid(max_tau: float = MAX_TAU, num_points: int = NUM_POINTS,
             min_tau: float = 1.0) -> np.ndarray:
    """The evenly spaced ``tau`` values of the profile (AlgoPerf: 100 points on [1, 4])."""
    if not (math.isfinite(max_tau) and math.isfinite(min_tau) and max_tau > min_tau) \
            or num_points < 2:
        raise ValueError(f"need a finite max_tau > {min_tau} and num_points >= 2")
    return np.linspace(min_tau, max_tau, num=num_points)


def performance_profile(ratios: Mapping[str, Mapping[str, float]], num_workloads: int,
                        taus: np.ndarray) -> dict[str, np.ndarray]:
    """``rho(tau)`` per optimizer: the fraction of the ``num_workloads`` workloads whose ratio is
    ``<= tau`` (inf and nan never are)."""
    if num_workloads < 1:
        raise ValueError("num_workloads must be at least 1")
    out = {}
    for o, per_workload in ratios.items():
        r = np.asarray(list(per_workload.values()), dtype=float)
        with np.errstate(invalid="ignore"):
            out[o] = np.array([(r <= tau).sum() / num_workloads for tau in taus])
    return out


def profile_score(rho: np.ndarray, taus: np.ndarray) -> float:
    """The trapezoidal area under ``rho`` divided by the range of ``tau``."""
    return float(np.trapezoid(rho, x=taus) / (taus.max() - taus.min()))


def algoperf_scores(times: Mapping[str, Mapping[str, float]], workloads: Sequence[str], *,
                    max_tau: float = MAX_TAU, num_points: int = NUM_POINTS
                    ) -> tuple[dict[str, float], dict[str, np.ndarray], np.ndarray,
                               dict[str, dict[str, float]]]:
    """Scores, profiles, the tau grid and the ratios from median times to target
    ``times[optimizer][workload]`` over the benchmark's ``workloads``; ``max_tau`` is the end of
    the profile's tau range (the cut-off stays at 4x, see the module docstring)."""
    if not workloads:
        raise ValueError("no workloads to score")
    ratios = performance_ratios(times, workloads)
    taus = tau_grid(max_tau, num_points)
    profiles = performance_profile(ratios, len(workloads), taus)
    scores = {o: profile_score(rho, taus) for o, rho in profiles.items()}
    return scores, profiles, taus, ratios
