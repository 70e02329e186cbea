"""The Ray-facing part of CDT: settings -> one trial per (environment, bandit, tuner, seed).

The 'oracle' tuner expands into one 'fixed' trial per grid value; the best fixed value in
hindsight is the grid value with the lowest mean final regret, read off afterwards.
Each trial simulates its whole run (about a second), then reports the regret curve in
``chunks`` steps: ``cum_regret`` (the headline metric, minimised), ``round`` and the mean
hyperparameter value(s) chosen during the chunk.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from searchlab.methods.base import Method, MethodSettings, TrialPlan
from searchlab.methods.cdt.bandits import BANDITS
from searchlab.methods.cdt.settings import CDTSettings
from searchlab.methods.cdt.simulate import run

if TYPE_CHECKING:
    from searchlab.spec.models import Study
    from searchlab.workloads.api import Context


def trial_configs(s: CDTSettings) -> list[dict[str, Any]]:
    """Every (environment, bandit, tuner, seed) combination as a flat, JSON-able config."""
    zooming = s.zooming.model_dump(exclude_none=True)
    configs = []
    for env, bandit, tuner in itertools.product(s.environments, s.bandits, s.tuners):
        if tuner == "oracle":
            names = [h.name for h in BANDITS[bandit].hyperparams]
            variants = [("fixed", dict(zip(names, v)))
                        for v in itertools.product(*(s.oracle_grid[n] for n in names))]
        else:
            variants = [(tuner, {})]
        for name, fixed in variants:
            for seed in range(s.first_seed, s.first_seed + s.seeds):
                configs.append({
                    "environment": env.label, "bandit": bandit, "tuner": name, "seed": seed,
                    "fixed": ",".join(f"{k}={v:g}" for k, v in fixed.items()) or "-",
                    "env": json.dumps(env.params()), "zooming": json.dumps(zooming),
                    "candidates": json.dumps(s.candidates), "regularization": s.regularization,
                    "chunks": s.chunks,
                })
    return configs


def cdt_workload(config: dict[str, Any], ctx: Context) -> Iterator[dict[str, float]]:
    """Simulate one run, then report its regret curve and chosen hyperparameters in chunks."""
    fixed = None
    if config["tuner"] == "fixed":
        fixed = [float(kv.split("=")[1]) for kv in config["fixed"].split(",")]
    res = run(json.loads(config["env"]), config["bandit"], config["tuner"], int(config["seed"]),
              zooming=json.loads(config["zooming"]), candidates=json.loads(config["candidates"]),
              fixed=fixed, lam=float(config["regularization"]))
    T = len(res.regret)
    ends = np.unique(np.linspace(0, T, min(int(config["chunks"]), T) + 1).round().astype(int))[1:]
    start = 0
    for end in ends:
        metrics = {"cum_regret": float(res.regret[end - 1]), "round": float(end)}
        chunk = res.hyper[start:end]
        for j, name in enumerate(res.names):
            col = chunk[:, j]
            if not np.isnan(col).all():
                metrics[name] = float(np.nanmean(col))
        if end == T:
            metrics["seconds"] = res.seconds
            metrics.update({k: float(v) for k, v in res.info.items()})
        start = end
        yield metrics


class CDTMethod(Method):
    name: ClassVar[str] = "cdt"
    settings_model: ClassVar[type[MethodSettings]] = CDTSettings

    def plan(self, settings: MethodSettings, study: Study) -> TrialPlan:
        if not isinstance(settings, CDTSettings):
            raise TypeError(f"expected CDTSettings, got {type(settings).__name__}")
        configs = trial_configs(settings)
        epochs = max(min(settings.chunks, env.horizon) for env in settings.environments)
        return TrialPlan(workload=cdt_workload, configs=configs, metric="cum_regret", mode="min",
                         max_epochs=epochs, tags={"method": "cdt"})
