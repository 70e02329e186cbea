"""One run of (environment, bandit, tuner, seed): the double-layer loop and its regret curve.

Each round: the tuner proposes hyperparameters, the bandit picks an arm with them, the realised
reward of that arm updates both. The first ``tuner.warmup`` rounds pull random arms (CDT's
warm-up; the tuner is not consulted). Randomness comes from three generators derived from the
seed -- environment, bandit, tuner -- so all tuners meet the same contexts and noise for a seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from searchlab.methods.cdt.bandits import BANDITS, Bandit, HyperParam
from searchlab.methods.cdt.environments import (
    ClassificationBandit,
    DataBandit,
    Environment,
    NonStationaryBandit,
    SyntheticBandit,
)
from searchlab.methods.cdt.tuners import (
    BetaOPTuner,
    FixedTuner,
    OPTuner,
    TheoreticalTuner,
    TLTuner,
    Tuner,
    ZoomingTS,
    candidate_grid,
)

TUNERS = ("cdt", "cdt_paper", "cdt_no_restart", "cdt_soft", "cdt_detect", "cdt_detect_only",
          "theoretical", "op", "op_authors", "tl", "tl_authors", "fixed")

#: Zooming TS variants: the settings each named CDT tuner adds to ``zooming`` (where not set there);
#: ``periodic``: restart every H = T^((p+2)/(p+3)) unless ``restart_period`` is given.
#: 'cdt' (the default): hard restarts on detected shifts only (periodic ones only if
#: ``restart_period`` is given). 'cdt_paper': the paper's schedule, a hard restart every H.
#: 'cdt_no_restart': never restarts. 'cdt_soft': a soft restart every H (keeps the points and their
#: means, counts x 0.2). 'cdt_detect': a hard restart whenever change detection on the residuals
#: signals a shift, and the soft restart every H as a fallback. 'cdt_detect_only': the same as 'cdt'
#: (its name before it became the default).
ZOOMING_VARIANTS: dict[str, dict[str, Any]] = {
    "cdt": {"periodic": False, "detect_window": 200, "detect_threshold": 5.0},
    "cdt_paper": {"periodic": True},
    "cdt_no_restart": {"periodic": False},
    "cdt_soft": {"periodic": True, "restart_discount": 0.2},
    "cdt_detect": {"periodic": True, "restart_discount": 0.2, "detect_window": 200,
                   "detect_threshold": 5.0},
    "cdt_detect_only": {"periodic": False, "detect_window": 200, "detect_threshold": 5.0},
}

#: the paper's candidate sets for OP and TL, per hyperparameter name
DEFAULT_CANDIDATES: dict[str, list[float]] = {"alpha": [0.5, 1, 3, 5, 7], "v": [0.5, 1, 3, 5, 7],
                                              "lam": [0.1, 1, 10]}


@dataclass(frozen=True)
class RunResult:
    regret: np.ndarray  # (T,) cumulative regret after each round
    hyper: np.ndarray  # (T, p) hyperparameters used each round (NaN during warm-up)
    names: tuple[str, ...]  # the hyperparameters' names
    seconds: float  # CPU time of the loop (process time: robust to other load on the machine)
    info: dict[str, float]  # tuner diagnostics (restarts, active points)


def default_restart_period(horizon: int, dims: int) -> int:
    """H = T^((p+2)/(p+3)), the epoch length the paper's regret analysis balances."""
    return math.ceil(horizon ** ((dims + 2) / (dims + 3)))


def make_environment(params: Mapping[str, Any], rng: np.random.Generator) -> Environment:
    """An environment from its settings: ``kind`` plus that kind's keyword arguments."""
    p = dict(params)
    kind = p.pop("kind")
    p.pop("name", None)
    if kind in ("linear", "logistic"):
        return SyntheticBandit(rng, model=kind, **p)
    if kind == "nonstationary":
        p = {k: tuple(v) if isinstance(v, list) else v for k, v in p.items()}  # JSON gives lists
        return NonStationaryBandit(rng, **p)
    if kind == "classification":
        return ClassificationBandit(rng, **p)
    if kind == "data":
        return DataBandit(rng, **p)
    raise ValueError(f"unknown environment kind '{kind}'")


def make_bandit(bandit: str | Mapping[str, Any], env: Environment, seed: int,
                lam: float = 1.0) -> Bandit:
    """A built-in bandit by name, or a user's bandit from its spec: ``{"label", "class"
    ("package.module:Class"), "path" (an absolute directory or None), "args",
    "hyperparameters": {name: {"low", "high", "scale"}}}`` (``UserBanditSettings.spec()``)."""
    if isinstance(bandit, str):
        if bandit not in BANDITS:
            raise ValueError(f"unknown bandit '{bandit}'; use one of {', '.join(BANDITS)}")
        return BANDITS[bandit](env.d, lam)
    from searchlab.methods.cdt.user import UserBandit
    from searchlab.refs import import_ref

    cls = import_ref(bandit["class"], bandit.get("path"))
    space = [HyperParam(name, float(r["low"]), float(r["high"]), r.get("scale", "log"))
             for name, r in bandit["hyperparameters"].items()]
    return UserBandit(cls, bandit["label"], space, env.d, env.K, np.random.default_rng([seed, 3]),
                      bandit.get("args"))


def make_tuner(name: str, bandit: Bandit, env: Environment, rng: np.random.Generator, *,
               zooming: Mapping[str, Any] | None = None,
               candidates: Mapping[str, Sequence[float]] | None = None,
               fixed: Sequence[float] | None = None) -> Tuner:
    space = bandit.hyperparams
    if name in ZOOMING_VARIANTS:
        z = {**ZOOMING_VARIANTS[name],
             **{k: v for k, v in (zooming or {}).items() if v is not None}}
        if "ranges" in z:
            ranges = z.pop("ranges") or {}
            # a range without a scale is log, as in the study file's settings (RangeSettings)
            space = tuple(HyperParam(hp.name, **{"scale": "log", **ranges[hp.name]})
                          if hp.name in ranges
                          else hp for hp in space)
        periodic = z.pop("periodic")
        period = z.pop("restart_period", None)
        if name == "cdt_no_restart":
            period = None
            z["detect_window"] = None
        elif period is None and periodic:
            period = default_restart_period(env.T, len(space))
        return ZoomingTS(space, env.T, rng, restart_period=period, **z)
    if name == "theoretical":
        return TheoreticalTuner(bandit, env.sigma, env.theta_norm)
    if name in ("op", "op_authors", "tl", "tl_authors"):
        grid = candidate_grid(space, {**DEFAULT_CANDIDATES, **(candidates or {})})
        if name == "op":
            return OPTuner(grid, rng)
        if name == "op_authors":
            return BetaOPTuner(grid, rng)
        return TLTuner(grid, env.T, env.reward_range if name == "tl" else None, rng)
    if name == "fixed":
        if fixed is None or len(fixed) != len(space):
            raise ValueError(f"tuner 'fixed' needs {len(space)} value(s) for "
                             f"{[h.name for h in space]}")
        return FixedTuner(fixed)
    raise ValueError(f"unknown tuner '{name}'; use one of {', '.join(TUNERS)}")


def simulate(env: Environment, bandit: Bandit, tuner: Tuner, seed: int,
             env_rng: np.random.Generator | None = None, block: int = 100,
             limit: int | None = None) -> RunResult:
    """Play ``env.T`` rounds (where ``limit`` is given, only the whole blocks that reach it: a
    timing sample); the environment must be fresh (its draws come from ``env_rng``)."""
    env_rng = env_rng or np.random.default_rng([seed, 0])
    b_rng = np.random.default_rng([seed, 1])
    T, p = env.T, len(bandit.hyperparams)
    arms = np.empty(T, dtype=np.int64)
    regret = np.empty(T)
    hyper = np.full((T, p), np.nan)
    warm = tuner.warmup
    propose, learn, select, update = tuner.propose, tuner.update, bandit.select, bandit.update
    start = time.process_time()
    t = 0
    for blk in env.blocks(env_rng, block):
        if limit is not None and t >= limit:
            break
        n = len(blk.means)
        Z = b_rng.standard_normal((n, env.d))
        random_arms = b_rng.integers(env.K, size=n)
        C, R = blk.contexts, blk.rewards
        for i in range(n):
            X = C[i]
            if t < warm:
                a = int(random_arms[i])
                update(X[a], R[i, a], a)
            else:
                h = propose(t)
                a = select(X, h, Z[i])
                r = R[i, a]
                update(X[a], r, a)
                learn(r)
                hyper[t] = h
            arms[t] = a
            t += 1
        chosen = arms[t - n: t]
        regret[t - n: t] = blk.means.max(1) - blk.means[np.arange(n), chosen]
    seconds = time.process_time() - start
    info: dict[str, float] = {}
    if isinstance(tuner, ZoomingTS):
        info = {"restarts": tuner.restarts, "detections": tuner.detections,
                "active_points_end": tuner.n_active}
    return RunResult(np.cumsum(regret[:t]), hyper[:t], tuple(h.name for h in bandit.hyperparams),
                     seconds, info)


def run(environment: Mapping[str, Any], bandit: str | Mapping[str, Any], tuner: str, seed: int,
        *, zooming: Mapping[str, Any] | None = None,
        candidates: Mapping[str, Sequence[float]] | None = None,
        fixed: Sequence[float] | None = None, lam: float = 1.0,
        limit: int | None = None) -> RunResult:
    """Build everything from plain settings and simulate one seed (``bandit``: a built-in
    name or a user bandit's spec, see :func:`make_bandit`)."""
    env_rng = np.random.default_rng([seed, 0])
    env = make_environment(environment, env_rng)
    b = make_bandit(bandit, env, seed, lam)
    tun = make_tuner(tuner, b, env, np.random.default_rng([seed, 2]), zooming=zooming,
                     candidates=candidates, fixed=fixed)
    return simulate(env, b, tun, seed, env_rng, limit=limit)
