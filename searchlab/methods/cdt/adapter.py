"""CDT as a searchlab method: settings -> one trial per (environment, bandit, tuner, seed).

This module is the method's glue (Ray-free, like the rest of the package; the one Tune adapter
in ``searchlab.execution`` drives it): the :class:`CDTMethod` binding, the fixed list of trials,
the trial's workload and the study's analysis.

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

from searchlab.methods.base import (
    Analysis,
    FixedTrials,
    Method,
    MethodSettings,
    MethodTraits,
    Objective,
    TrialRequest,
    TrialResult,
)
from searchlab.methods.cdt.analysis import summarize
from searchlab.methods.cdt.settings import CDTSettings, check_bandits_play, plan
from searchlab.methods.cdt.simulate import run

if TYPE_CHECKING:
    from searchlab.spec.models import Study
    from searchlab.workloads.api import Context


def env_labels(s: CDTSettings) -> list[str]:
    """One distinct label per environment: its name, else its kind and size, with the horizon
    added where two would otherwise read the same."""
    labels = [env.label for env in s.environments]
    labels = [f"{lab}-T{env.horizon}" if labels.count(lab) > 1 and env.name is None else lab
              for lab, env in zip(labels, s.environments)]
    return [f"{lab}-{i}" if labels.count(lab) > 1 else lab for i, lab in enumerate(labels)]


def trial_configs(s: CDTSettings) -> list[dict[str, Any]]:
    """Every (environment, bandit, tuner, seed) combination as a flat, JSON-able config
    (a user's bandit adds ``bandit_spec``: its class, directory, args and ranges)."""
    zooming = s.zooming.model_dump(exclude_none=True)
    configs = []
    for (label, env), bandit, tuner in itertools.product(zip(env_labels(s), s.environments),
                                                         s.bandits, s.tuners):
        if tuner == "oracle":
            names = [h.name for h in s.bandit_space(bandit)]
            grid = s.oracle_values(bandit)
            variants = [("fixed", dict(zip(names, v)))
                        for v in itertools.product(*(grid[n] for n in names))]
        else:
            variants = [(tuner, {})]
        user = {} if isinstance(bandit, str) else {"bandit_spec": json.dumps(bandit.spec())}
        candidates = s.candidates if isinstance(bandit, str) else \
            {**s.candidates, **s.candidate_values(bandit)}
        for name, fixed in variants:
            for seed in range(s.first_seed, s.first_seed + s.seeds):
                configs.append({
                    "environment": label, "bandit": s.bandit_label(bandit), "tuner": name,
                    "seed": seed, "fixed": ",".join(f"{k}={v:g}" for k, v in fixed.items()) or "-",
                    "env": json.dumps(env.params()), "zooming": json.dumps(zooming),
                    "candidates": json.dumps(candidates), "regularization": s.regularization,
                    "chunks": s.chunks, **user,
                })
    return configs


WORKLOAD = "searchlab.methods.cdt.adapter:cdt_workload"


def cdt_workload(config: dict[str, Any], ctx: Context) -> Iterator[dict[str, float]]:
    """Simulate one run, then report its regret curve and chosen hyperparameters in chunks."""
    fixed = None
    if config["tuner"] == "fixed":
        fixed = [float(kv.split("=")[1]) for kv in config["fixed"].split(",")]
    bandit = json.loads(config["bandit_spec"]) if "bandit_spec" in config else config["bandit"]
    res = run(json.loads(config["env"]), bandit, config["tuner"], int(config["seed"]),
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


#: rounds a timing sample plays (:func:`trial_seconds`)
SAMPLE_ROUNDS = 500
#: what Ray Tune and tracking (its ``chunks`` reports to MLflow) add to a trial, in seconds: issue
#: 23 saw spaces/cdt.yaml take 12 min one trial at a time, 560 trials whose simulation takes about
#: 0.4 s each; benchmarks/cdt_expected_length.py measures the estimate against a real run
TRIAL_OVERHEAD_S = 0.9


def trial_seconds(s: CDTSettings) -> float:
    """The seconds all trials of ``s`` take on one core of this machine: for each environment
    and bandit, the first ``SAMPLE_ROUNDS`` rounds of one trial (its first tuner) timed and
    scaled to the trials' rounds; plus what Tune and tracking add (``TRIAL_OVERHEAD_S``)."""
    import time

    per_round: dict[tuple[str, str], float] = {}
    total = 0.0
    for c in trial_configs(s):
        key = (c["environment"], c["bandit"])
        env = json.loads(c["env"])
        if key not in per_round:
            fixed = [float(kv.split("=")[1]) for kv in c["fixed"].split(",")] \
                if c["tuner"] == "fixed" else None
            bandit = json.loads(c["bandit_spec"]) if "bandit_spec" in c else c["bandit"]
            rounds = min(SAMPLE_ROUNDS, int(env["horizon"]))
            began = time.perf_counter()
            res = run(env, bandit, c["tuner"], int(c["seed"]), zooming=json.loads(c["zooming"]),
                      candidates=json.loads(c["candidates"]), fixed=fixed,
                      lam=float(c["regularization"]), limit=rounds)
            per_round[key] = (time.perf_counter() - began) / max(1, len(res.regret))
        total += per_round[key] * int(env["horizon"]) + TRIAL_OVERHEAD_S
    return total


class CDTRun(FixedTrials):
    """Every (environment, bandit, tuner, seed) trial, asked in a fixed order."""

    def __init__(self, settings: CDTSettings) -> None:
        super().__init__([
            TrialRequest(config=c, length=_chunks(settings, c), workload=WORKLOAD,
                         tags={"method": "cdt"})
            for c in trial_configs(settings)])

    def summarize(self, results: list[TrialResult]) -> Analysis:
        return summarize(results)


def _chunks(s: CDTSettings, config: dict[str, Any]) -> int:
    horizon = dict(zip(env_labels(s), (env.rounds for env in s.environments)))
    return min(s.chunks, horizon[config["environment"]])


class CDTMethod(Method[CDTSettings]):
    name: ClassVar[str] = "cdt"
    settings_model: ClassVar[type[MethodSettings]] = CDTSettings
    TRAITS: ClassVar[MethodTraits] = MethodTraits(draws_own_analysis=True,
                                                  independent_trials=True,
                                                  budget_settings=("seeds",))

    def objective(self, study: Study) -> Objective:
        return Objective("cum_regret", "min")

    def start(self, study: Study) -> CDTRun:
        return CDTRun(self.settings)

    def preflight(self, study: Study) -> None:
        from searchlab.preflight import missing

        data_sets = any(env.kind == "classification" for env in self.settings.environments)
        why = missing("sklearn") if data_sets else None
        if why:
            raise ValueError(f"classification environments: {why}")
        check_bandits_play(self.settings)  # your bandits play one round on every environment

    def trial_seconds(self, study: Study) -> float | None:
        try:
            return trial_seconds(self.settings)
        except Exception:  # noqa: BLE001 - a user's bandit failing later on: no estimate;
            return None  # the trial that meets it reports it

    def describe(self, study: Study) -> list[str]:
        return [f"trials     {len(trial_configs(self.settings))} (environments x bandits x "
                f"tuners x seeds), {study.concurrency_text}", *plan(self.settings)]
