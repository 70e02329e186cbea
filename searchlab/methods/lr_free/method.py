"""Learning-rate-free optimizers scored the AlgoPerf way: a method of two phases.

Reference: Kasimbeg, Roulet, Agarwal, Medapati, Pedregosa, Agarwala & Dahl, "How far away are truly
hyperparameter-free learning algorithms?" (2025). Learning-rate-free optimizers with their
literature defaults score poorly across workloads; calibrating their remaining hyperparameters
once for all workloads helps a lot, yet they still lag a NadamW baseline calibrated the same way.

1. **Calibration.** Per optimizer an Optuna study (ask/tell, Ray-free; TPE or random, seeded)
   proposes ``calibration_trials`` configurations of the optimizer's hyperparameters (for
   learning-rate-free methods everything but the learning rate; for the baselines and Lion and
   schedule-free AdamW the learning rate too, see :mod:`.optimizers`). The first proposal is the
   literature defaults. Each proposal runs on every calibration workload as a separate trial;
   once all have ended, its value is an AlgoPerf-style aggregate (:func:`calibration_score`).
   The best proposal is the optimizer's *calibrated* configuration.
2. **Scoring.** Once every calibration trial has been told, the run asks for workloads x
   optimizers x {defaults, calibrated} x ``repeats`` trials (repeat ``r`` uses seed ``r`` for
   every optimizer). Times to target (steps), medians over repeats, ratios, performance profiles
   and scores follow :mod:`.scoring`; all 2 x optimizers "submissions" share one profile, so
   a defaults score and a calibrated score can be compared. Scores are reported on all scored
   workloads and on the held-out ones (scored but not calibrated on).
3. **Learning-rate sensitivity** (Wortsman et al., "Small-scale proxies for large-scale
   Transformer training instabilities", 2023): the baselines (AdamW, NadamW) at their other
   defaults over ``sensitivity_lrs`` on one workload (final validation metric against the
   learning rate), beside the learning-rate-free methods' single points at their defaults.
   These trials are asked whenever calibration waits on results, so they fill idle slots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from searchlab.methods.base import (
    Analysis,
    Method,
    MethodRun,
    MethodSettings,
    MethodTraits,
    Objective,
    TrialRequest,
    TrialResult,
)
from searchlab.methods.lr_free import scoring
from searchlab.methods.lr_free.settings import BASELINES, BUDGETS, WORKLOADS, LRFreeSettings
from searchlab.methods.lr_free.settings import OPTIMIZERS as BUILT_IN

# The optimizers and workloads import torch: the run imports them (``searchlab validate`` reads
# only this module's Method class, which must not).


def evaluations(workload: str, size: str) -> int:
    """A built-in workload's length in evaluations (imports the workloads, so torch)."""
    from searchlab.methods.lr_free.workloads import evaluations as of

    return of(workload, size)

if TYPE_CHECKING:
    from searchlab.spec.models import Study

METRIC = "val_metric"
SETTINGS = ("defaults", "calibrated")
TIE_BREAK = 0.01


def reference(workload: str) -> str:
    """A workload's function reference (built-in names are this package's workloads)."""
    return WORKLOADS.get(workload, workload)


def label(workload: str) -> str:
    return workload if workload in WORKLOADS else workload.rsplit(":", 1)[-1]


def _steps_values(history: list[dict[str, float]]) -> tuple[list[float], list[float]]:
    return ([float(r.get("step", i + 1)) for i, r in enumerate(history)],
            [float(r.get(METRIC, math.nan)) for r in history])


def trial_time_to_target(result: TrialResult) -> float:
    """Steps until the trial's validation metric first reached its target (inf if never)."""
    if not result.history or "target" not in result.history[-1]:
        return math.inf
    steps, values = _steps_values(result.history)
    return scoring.time_to_target(steps, values, float(result.history[-1]["target"]), "min")


def calibration_score(results: list[TrialResult], budgets: list[int | None]) -> float:
    """One proposal's aggregate over the calibration workloads (higher is better).

    Per workload, the AlgoPerf profile area of this proposal alone, against the fastest possible
    time (the first evaluation): ratio ``r`` = time to target / steps of the first evaluation,
    ``rho(tau) = [r <= tau]`` on ``tau`` in ``[1, T]`` with ``T`` the budget in evaluations,
    normalised area as in :func:`scoring.profile_score` (1: target at the first evaluation, 0:
    never). The mean over workloads, plus ``0.01 x`` the mean of ``min(1, target / best value)``
    so that proposals that all miss a target are still ranked.
    """
    areas, closeness = [], []
    for result, budget in zip(results, budgets):
        history = [r for r in result.history if "target" in r]
        if not history:
            areas.append(0.0)
            closeness.append(0.0)
            continue
        first = float(history[0].get("step", 1.0)) or 1.0
        t_max = float(max(2, budget if budget is not None else len(history)))
        ratio = trial_time_to_target(result) / first
        taus = scoring.tau_grid(t_max)
        rho = scoring.performance_profile({"p": {"w": ratio}}, 1, taus)["p"]
        areas.append(scoring.profile_score(rho, taus))
        values = [v for v in _steps_values(history)[1] if math.isfinite(v)]
        target = float(history[-1]["target"])
        best = min(values, default=math.inf)
        closeness.append(min(1.0, target / best) if best > 0 and math.isfinite(best) else
                         (1.0 if best <= target else 0.0))
    return float(np.mean(areas) + TIE_BREAK * np.mean(closeness))


@dataclass
class _Proposal:
    optimizer: str
    number: int  # 0: the literature defaults, evaluated outside Optuna (they may lie outside
    #              the search ranges, e.g. weight decay 0 under a log-scale range)
    trial: Any  # optuna.trial.Trial, None for the defaults
    hparams: dict[str, Any]
    pending: list[str]
    results: dict[str, TrialResult] = field(default_factory=dict)


class LRFreeRun(MethodRun):
    """One study: calibration proposals, then the scoring and sensitivity trials."""

    def __init__(self, settings: LRFreeSettings) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.s = settings
        self.specs = settings.specs()  # name -> OptimizerSpec, built-in or the user's
        self.studies: dict[str, Any] = {}
        for i, o in enumerate(settings.names):
            seed = settings.seed * 1009 + i
            sampler = (optuna.samplers.TPESampler(
                           seed=seed, n_startup_trials=min(4, settings.calibration_trials))
                       if settings.sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed))
            self.studies[o] = optuna.create_study(direction="maximize", sampler=sampler)
        self.proposed = dict.fromkeys(settings.names, 0)
        self.open: list[_Proposal] = []
        self.asked: dict[str, _Proposal | None] = {}
        self.calibration: list[dict[str, Any]] = []
        self.best: dict[str, tuple[float, dict[str, Any]]] = {}
        self.calibrated: dict[str, dict[str, Any]] | None = None
        self.queue: list[TrialRequest] = []
        self.sensitivity = self._sensitivity_requests()
        self._before: list[TrialRequest] = []  # asked before, not replayed yet (resume)

    # -- requests ---------------------------------------------------------------------------
    def _request(self, optimizer: str, hparams: dict[str, Any], workload: str, setting: str,
                 seed: int, phase: str, extra: dict[str, Any] | None = None) -> TrialRequest:
        config = {"optimizer": optimizer, "setting": setting, "workload": label(workload),
                  "seed": seed, **hparams, **(extra or {})}
        from searchlab.methods.lr_free.workloads import evaluations

        length = (evaluations(workload, self.s.size) if workload in WORKLOADS
                  else self.s.max_evaluations)
        return TrialRequest(config=config, length=length, workload=reference(workload),
                            args={"size": self.s.size},
                            tags={"lr_free.phase": phase, "lr_free.optimizer": optimizer,
                                  "lr_free.setting": setting, "lr_free.workload": label(workload)})

    def _sensitivity_requests(self) -> list[TrialRequest]:

        w = self.s.sensitivity_workload
        if w is None:
            return []
        out = [self._request(o, self.specs[o].hyperparameters({"lr": lr}), w, "sensitivity", 0,
                             "sensitivity")
               for o in self.s.names if o in BASELINES for lr in self.s.sensitivity_lrs]
        if w not in self.s.workloads:  # else the seed-0 defaults runs of the scoring phase serve
            out += [self._request(o, self.specs[o].hyperparameters(), w, "defaults", 0,
                                  "sensitivity")
                    for o in self.s.names if o not in BASELINES]
        return out

    def _new_proposal(self) -> _Proposal | None:
        for o in self.s.names:
            running = sum(p.optimizer == o for p in self.open)
            limit = self.s.proposals(o, self.specs[o])
            if self.proposed[o] < limit and running < self.s.calibration_parallel:
                trial, params = None, {}
                if self.proposed[o] > 0:  # the first proposal is the literature defaults
                    trial = self.studies[o].ask()
                    for name, p in self.specs[o].space.items():
                        if p.choices:
                            params[name] = trial.suggest_categorical(name, list(p.choices))
                        elif p.integer:
                            params[name] = trial.suggest_int(name, int(p.low), int(p.high),
                                                             step=p.step, log=p.log)
                        else:
                            params[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
                proposal = _Proposal(o, self.proposed[o], trial,
                                     self.specs[o].hyperparameters(params),
                                     list(self.s.calibration_workloads))
                self.proposed[o] += 1
                self.open.append(proposal)
                return proposal
        return None

    def resume(self, asked: Sequence[TrialRequest]) -> None:
        """After calibration, a replayed ask takes the request it asked before out of the
        scoring queue or the sensitivity list: with more ``repeats`` the queue is longer, and
        the order in which the two were drawn would differ."""
        self._before = list(reversed(asked))

    def ask(self, trial_id: str) -> TrialRequest | None:
        before = self._before.pop() if self._before else None
        if self.calibrated is not None and before is not None:
            for source in (self.queue, self.sensitivity):
                i = next((i for i, r in enumerate(source) if r.config == before.config), None)
                if i is not None:
                    self.asked[trial_id] = None
                    return source.pop(i)
        if self.calibrated is None:
            proposal = next((p for p in self.open if p.pending), None) or self._new_proposal()
            if proposal is not None:
                w = proposal.pending.pop(0)
                self.asked[trial_id] = proposal
                return self._request(proposal.optimizer, proposal.hparams, w, "calibration",
                                     0, "calibration", {"proposal": proposal.number})
            if self.sensitivity:
                self.asked[trial_id] = None
                return self.sensitivity.pop(0)
            return None
        source = self.queue or self.sensitivity
        if not source:
            return None
        self.asked[trial_id] = None
        return source.pop(0)

    def tell(self, trial_id: str, result: TrialResult) -> None:
        proposal = self.asked.get(trial_id)
        if proposal is None:
            return
        proposal.results[label(str(result.request.config["workload"]))] = result
        if len(proposal.results) < len(self.s.calibration_workloads):
            return
        from searchlab.methods.lr_free.workloads import evaluations

        results = [proposal.results[label(w)] for w in self.s.calibration_workloads]
        budgets = [evaluations(w, self.s.size) if w in WORKLOADS else None
                   for w in self.s.calibration_workloads]
        value = calibration_score(results, budgets)
        if proposal.trial is not None:
            self.studies[proposal.optimizer].tell(proposal.trial, value)
        best = self.best.get(proposal.optimizer)
        if best is None or value > best[0]:  # ties keep the earlier (the defaults first)
            self.best[proposal.optimizer] = (value, proposal.hparams)
        self.calibration.append({"optimizer": proposal.optimizer, "proposal": proposal.number,
                                 "score": value, **proposal.hparams})
        self.open.remove(proposal)
        if not self.open and all(n >= self.s.proposals(o, self.specs[o])
                                 for o, n in self.proposed.items()):
            self._finish_calibration()

    def _finish_calibration(self) -> None:
        self.calibrated = {o: self.best[o][1] for o in self.s.names}
        for r in range(self.s.repeats):
            for w in self.s.workloads:
                for o in self.s.names:
                    for setting in SETTINGS:
                        h = (self.specs[o].hyperparameters() if setting == "defaults"
                             else self.calibrated[o])
                        self.queue.append(self._request(o, h, w, setting, r, "scoring"))

    @property
    def done(self) -> bool:
        return self.calibrated is not None and not self.queue and not self.sensitivity

    @property
    def total(self) -> int:
        s = self.s
        n_opt = len(s.names)
        sens = (len([o for o in s.names if o in BASELINES]) * len(s.sensitivity_lrs)
                if s.sensitivity_workload else 0)
        if s.sensitivity_workload and s.sensitivity_workload not in s.workloads:
            sens += len([o for o in s.names if o not in BASELINES])
        proposals = sum(s.proposals(o, self.specs[o]) for o in s.names)
        return (proposals * len(s.calibration_workloads)
                + n_opt * len(s.workloads) * len(SETTINGS) * s.repeats + sens)

    # -- analysis ---------------------------------------------------------------------------
    def summarize(self, results: list[TrialResult]) -> Analysis:
        from searchlab.methods.lr_free.analysis import summarize

        return summarize(self.s, results, self.calibration, self.calibrated or {})


def phases(s: LRFreeSettings) -> tuple[int, int, int]:
    """How many trials each phase asks for: calibration, scoring, sensitivity (from the settings
    alone: no torch; :attr:`LRFreeRun.total` is their sum)."""
    calibration = sum(_proposal_count(s, o) for o in s.optimizers) * len(s.calibration_workloads)
    scoring = len(s.optimizers) * len(s.workloads) * len(SETTINGS) * s.repeats
    sensitivity = 0
    if s.sensitivity_workload:
        sensitivity = len([o for o in s.names if o in BASELINES]) * len(s.sensitivity_lrs)
        if s.sensitivity_workload not in s.workloads:
            sensitivity += len([o for o in s.names if o not in BASELINES])
    return calibration, scoring, sensitivity


def _proposal_count(s: LRFreeSettings, entry: Any) -> int:
    """Proposals of one optimizer: ``calibration_trials``, or one (its defaults) when it has
    nothing to calibrate (every built-in has a calibration space)."""
    return s.calibration_trials if entry.ref in BUILT_IN or entry.space else 1


def _proposals(s: LRFreeSettings) -> str:
    counts = [_proposal_count(s, o) for o in s.optimizers]
    if len(set(counts)) == 1:
        return f"{len(counts)} optimizers x {counts[0]} proposals"
    return f"{sum(counts)} proposals of {len(counts)} optimizers"


class LRFreeMethod(Method[LRFreeSettings]):
    name: ClassVar[str] = "lr_free"
    settings_model: ClassVar[type[MethodSettings]] = LRFreeSettings
    #: calibration waits on results before scoring is asked for
    #: more ``repeats`` continue a study (more seeds of the scored runs, calibrated as before);
    #: more calibration does not (the scored runs used the earlier calibration)
    TRAITS: ClassVar[MethodTraits] = MethodTraits(enumerates_trials=False,
                                                  draws_own_analysis=True,
                                                  budget_settings=("repeats",))

    def objective(self, study: Study) -> Objective:
        return Objective(METRIC, "min")

    def start(self, study: Study) -> LRFreeRun:
        return LRFreeRun(self.settings)

    def describe(self, study: Study) -> list[str]:
        s, (calibration, scoring, sensitivity) = self.settings, phases(self.settings)
        n = len(s.optimizers)
        lines = [f"trials     {calibration + scoring + sensitivity} in "
                 f"{'three' if sensitivity else 'two'} phases, {study.concurrency_text}",
                 f"           calibration: {calibration} ({_proposals(s)} x "
                 f"{len(s.calibration_workloads)} workloads: "
                 f"{', '.join(map(label, s.calibration_workloads))})",
                 f"           scoring: {scoring} ({n} optimizers x {len(s.workloads)} workloads x "
                 f"defaults and calibrated x {s.repeats} repeats), once calibration has ended"]
        if sensitivity:
            lines.append(f"           learning-rate sensitivity: {sensitivity} on "
                         f"{label(str(s.sensitivity_workload))}, while calibration waits")
        named = dict.fromkeys([*s.calibration_workloads, *s.workloads,
                               *([s.sensitivity_workload] if s.sensitivity_workload else [])])
        budgets = {w: BUDGETS[(w, s.size)] for w in named if w in WORKLOADS}
        costs = [f"{label(w)} {steps:,} optimizer steps ({steps // every} evaluations)"
                 for w, (steps, every) in budgets.items()]
        if len(set(budgets.values())) == 1:
            steps, every = next(iter(budgets.values()))
            costs = [f"{steps:,} optimizer steps ({steps // every} evaluations) on a built-in "
                     "workload"]
        if any(w not in WORKLOADS for w in named):
            costs.append(f"up to {s.max_evaluations:,} evaluations on yours")
        lines.append(f"           a trial (size {s.size}): {', '.join(costs)}")
        return lines

    def preflight(self, study: Study) -> None:
        from searchlab.preflight import missing

        why = missing("torch", "optuna")
        if why:
            raise ValueError(why)
