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
import statistics
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
from searchlab.methods.lr_free.settings import BASELINES, WORKLOADS, LRFreeSettings

# The optimizers and workloads import torch: the run imports them (``searchlab validate`` reads
# only this module's Method class, which must not).

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
        self.studies: dict[str, Any] = {}
        for i, o in enumerate(settings.optimizers):
            seed = settings.seed * 1009 + i
            sampler = (optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(4, settings.calibration_trials))
                       if settings.sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed))
            self.studies[o] = optuna.create_study(direction="maximize", sampler=sampler)
        self.proposed = dict.fromkeys(settings.optimizers, 0)
        self.open: list[_Proposal] = []
        self.asked: dict[str, _Proposal | None] = {}
        self.calibration: list[dict[str, Any]] = []
        self.best: dict[str, tuple[float, dict[str, Any]]] = {}
        self.calibrated: dict[str, dict[str, Any]] | None = None
        self.queue: list[TrialRequest] = []
        self.sensitivity = self._sensitivity_requests()

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
        from searchlab.methods.lr_free.optimizers import hyperparameters

        w = self.s.sensitivity_workload
        if w is None:
            return []
        out = [self._request(o, hyperparameters(o, {"lr": lr}), w, "sensitivity", 0, "sensitivity")
               for o in self.s.optimizers if o in BASELINES for lr in self.s.sensitivity_lrs]
        if w not in self.s.workloads:  # else the seed-0 defaults runs of the scoring phase serve
            out += [self._request(o, hyperparameters(o), w, "defaults", 0, "sensitivity")
                    for o in self.s.optimizers if o not in BASELINES]
        return out

    def _new_proposal(self) -> _Proposal | None:
        from searchlab.methods.lr_free.optimizers import hyperparameters, spec

        for o in self.s.optimizers:
            running = sum(p.optimizer == o for p in self.open)
            if self.proposed[o] < self.s.calibration_trials and running < self.s.calibration_parallel:
                trial, params = None, {}
                if self.proposed[o] > 0:  # the first proposal is the literature defaults
                    trial = self.studies[o].ask()
                    for name, p in spec(o).space.items():
                        if p.choices:
                            params[name] = trial.suggest_categorical(name, list(p.choices))
                        else:
                            params[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
                proposal = _Proposal(o, self.proposed[o], trial, hyperparameters(o, params),
                                     list(self.s.calibration_workloads))
                self.proposed[o] += 1
                self.open.append(proposal)
                return proposal
        return None

    def ask(self, trial_id: str) -> TrialRequest | None:
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
        if not self.open and all(n >= self.s.calibration_trials for n in self.proposed.values()):
            self._finish_calibration()

    def _finish_calibration(self) -> None:
        from searchlab.methods.lr_free.optimizers import hyperparameters

        self.calibrated = {o: self.best[o][1] for o in self.s.optimizers}
        for r in range(self.s.repeats):
            for w in self.s.workloads:
                for o in self.s.optimizers:
                    for setting in SETTINGS:
                        h = hyperparameters(o) if setting == "defaults" else self.calibrated[o]
                        self.queue.append(self._request(o, h, w, setting, r, "scoring"))

    @property
    def done(self) -> bool:
        return self.calibrated is not None and not self.queue and not self.sensitivity

    @property
    def total(self) -> int:
        s = self.s
        n_opt = len(s.optimizers)
        sens = (len([o for o in s.optimizers if o in BASELINES]) * len(s.sensitivity_lrs)
                if s.sensitivity_workload else 0)
        if s.sensitivity_workload and s.sensitivity_workload not in s.workloads:
            sens += len([o for o in s.optimizers if o not in BASELINES])
        return (n_opt * s.calibration_trials * len(s.calibration_workloads)
                + n_opt * len(s.workloads) * len(SETTINGS) * s.repeats + sens)

    # -- analysis ---------------------------------------------------------------------------
    def summarize(self, results: list[TrialResult]) -> Analysis:
        return summarize(self.s, results, self.calibration, self.calibrated or {})


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def summarize(s: LRFreeSettings, results: list[TrialResult], calibration: list[dict[str, Any]],
              calibrated: dict[str, dict[str, Any]]) -> Analysis:
    """Score table, profiles, time to target and sensitivity from every trial's result."""
    from searchlab.methods.lr_free import figures
    from searchlab.methods.lr_free.optimizers import OPTIMIZERS

    scored = [r for r in results if r.request.tags.get("lr_free.phase") == "scoring"]
    workloads = [label(w) for w in s.workloads]
    held_out = [label(w) for w in s.workloads if w not in s.calibration_workloads]
    per_seed: dict[tuple[str, str, str], list[float]] = {}
    for r in scored:
        c = r.request.config
        per_seed.setdefault((c["optimizer"], c["setting"], c["workload"]), []).append(
            trial_time_to_target(r))
    times: dict[str, dict[str, float]] = {f"{o}:{st}": {} for o in s.optimizers for st in SETTINGS}
    for (o, st, w), ts in per_seed.items():
        times[f"{o}:{st}"][w] = scoring.median_time(ts)

    def score_all(ws: list[str]) -> tuple[dict[str, float], dict[str, np.ndarray], np.ndarray]:
        if not ws or not scored:
            return {}, {}, np.array([])
        sc, profiles, taus, _ = scoring.algoperf_scores(times, ws, max_tau=s.max_tau)
        return sc, profiles, taus

    scores, profiles, taus = score_all(workloads)
    scores_held, _, _ = score_all(held_out)
    table = []
    for o in s.optimizers:
        row: dict[str, Any] = {"optimizer": o, "label": OPTIMIZERS[o].label,
                               "lr_free": OPTIMIZERS[o].lr_free}
        for st in SETTINGS:
            row[st] = scores.get(f"{o}:{st}")
            if held_out:
                row[f"{st}_held_out"] = scores_held.get(f"{o}:{st}")
        table.append(row)
    ttt_rows = [{"optimizer": o, "setting": st, "workload": w,
                 "median_steps": _finite(scoring.median_time(ts)),
                 "per_seed": [_finite(t) for t in ts]}
                for (o, st, w), ts in sorted(per_seed.items())]

    sens_rows = []
    sens_w = label(s.sensitivity_workload) if s.sensitivity_workload else None
    for r in results:
        c, tags = r.request.config, r.request.tags
        is_sweep = tags.get("lr_free.phase") == "sensitivity"
        is_point = (tags.get("lr_free.phase") == "scoring" and c["setting"] == "defaults"
                    and c["workload"] == sens_w and int(c["seed"]) == 0
                    and c["optimizer"] not in BASELINES)
        if (is_sweep or is_point) and r.history:
            sens_rows.append({"optimizer": c["optimizer"], "lr": c.get("lr"),
                              "setting": c["setting"],
                              "final": _finite(float(r.history[-1].get(METRIC, math.inf)))})

    metrics: dict[str, float] = {}
    for row in table:
        for st in SETTINGS:
            if row[st] is not None:
                metrics[f"score.{row['optimizer']}.{st}"] = row[st]
    ordering = ordering_check(table)
    metrics.update({f"ordering.{k}": float(v) for k, v in ordering.items() if v is not None})
    seconds = sum(float(r.history[-1].get("seconds", 0.0)) for r in results if r.history)
    steps = sum(float(r.history[-1].get("step", 0.0)) for r in results if r.history)
    metrics.update({"compute.trials": float(len(results)), "compute.train_seconds": seconds,
                    "compute.steps": steps})

    figs = {}
    if profiles:
        figs["performance_profiles"] = figures.profiles(profiles, taus, OPTIMIZERS)
        figs["time_to_target"] = figures.time_to_target(ttt_rows, workloads)
    if sens_rows:
        figs["lr_sensitivity"] = figures.sensitivity(sens_rows, sens_w or "")
    if calibration:
        figs["calibration"] = figures.calibration(calibration)
    return Analysis(
        metrics=metrics,
        tables={"scores": table, "time_to_target": ttt_rows, "calibration": calibration,
                "calibrated_hparams": calibrated, "sensitivity": sens_rows,
                "workloads": {"calibration": [label(w) for w in s.calibration_workloads],
                              "scored": workloads, "held_out": held_out},
                "ordering": ordering},
        figures=figs,
        tags={"lr_free.size": s.size},
        text=report(table, ordering, held_out, metrics, s.max_tau),
    )


def ordering_check(table: list[dict[str, Any]]) -> dict[str, Any]:
    """The paper's ordering: defaults < calibrated (mean over learning-rate-free optimizers), and
    the best calibrated learning-rate-free optimizer <= calibrated NadamW."""
    lr_free = [r for r in table if r["lr_free"] and r["defaults"] is not None
               and r["calibrated"] is not None]
    nadamw = next((r for r in table if r["optimizer"] == "nadamw"), None)
    out: dict[str, Any] = {"mean_lr_free_defaults": None, "mean_lr_free_calibrated": None,
                           "nadamw_calibrated": None, "defaults_below_calibrated": None,
                           "lr_free_at_most_nadamw": None}
    if lr_free:
        d = statistics.fmean(r["defaults"] for r in lr_free)
        c = statistics.fmean(r["calibrated"] for r in lr_free)
        out.update(mean_lr_free_defaults=d, mean_lr_free_calibrated=c,
                   defaults_below_calibrated=d < c)
        if nadamw is not None and nadamw["calibrated"] is not None:
            best = max(r["calibrated"] for r in lr_free)
            out.update(nadamw_calibrated=nadamw["calibrated"],
                       best_lr_free_calibrated=best,
                       lr_free_at_most_nadamw=best <= nadamw["calibrated"])
    return out


def report(table: list[dict[str, Any]], ordering: dict[str, Any], held_out: list[str],
           metrics: dict[str, float], max_tau: float = 4.0) -> str:
    def f(x: Any) -> str:
        return "-" if x is None else f"{x:.3f}"

    head = "| optimizer | lr-free | defaults | calibrated |"
    sep = "|---|---|---|---|"
    if held_out:
        head += " defaults (held-out) | calibrated (held-out) |"
        sep += "---|---|"
    lines = [f"AlgoPerf scores (area under the performance profile, tau in [1, {max_tau:g}]; "
             "1 = best)", "",
             head, sep]
    for r in table:
        line = f"| {r['label']} | {'yes' if r['lr_free'] else 'no'} | {f(r['defaults'])} | {f(r['calibrated'])} |"
        if held_out:
            line += f" {f(r.get('defaults_held_out'))} | {f(r.get('calibrated_held_out'))} |"
        lines.append(line)

    def yes(x: Any) -> str:
        return "-" if x is None else ("yes" if x else "no")

    lines += ["", "the paper's ordering (AlgoPerf scores, higher is better):",
              f"  calibration raises the lr-free optimizers' mean score: "
              f"{yes(ordering.get('defaults_below_calibrated'))} "
              f"({f(ordering.get('mean_lr_free_defaults'))} defaults -> "
              f"{f(ordering.get('mean_lr_free_calibrated'))} calibrated)",
              f"  no calibrated lr-free optimizer beats calibrated NadamW: "
              f"{yes(ordering.get('lr_free_at_most_nadamw'))} "
              f"(best lr-free {f(ordering.get('best_lr_free_calibrated'))}, NadamW "
              f"{f(ordering.get('nadamw_calibrated'))})",
              "",
              f"compute: {metrics['compute.trials']:.0f} trials, {metrics['compute.steps']:.0f} steps, "
              f"{metrics['compute.train_seconds']:.0f} s of training"]
    return "\n".join(lines)


class LRFreeMethod(Method[LRFreeSettings]):
    name: ClassVar[str] = "lr_free"
    settings_model: ClassVar[type[MethodSettings]] = LRFreeSettings
    #: calibration waits on results before scoring is asked for
    TRAITS: ClassVar[MethodTraits] = MethodTraits(enumerates_trials=False,
                                                  draws_own_analysis=True)

    def objective(self, study: Study) -> Objective:
        return Objective(METRIC, "min")

    def start(self, study: Study) -> LRFreeRun:
        return LRFreeRun(self.settings)

    def preflight(self, study: Study) -> None:
        from searchlab.preflight import missing

        why = missing("torch", "optuna")
        if why:
            raise ValueError(why)
