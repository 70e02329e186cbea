"""``method: {name: deep_ga, ...}``: GA runs as Ray Tune trials.

A GA run is one trial running :func:`.workload.deep_ga_workload` (one report per generation; the
population sharded over the pool workers of the study's ``resources`` block). Without a study
``space`` the method asks for ``seeds`` runs of the configured GA. With a ``space`` over GA settings (``sigma``,
``truncation``, ``population``, ``novelty_weight``, ...) it hands the run to plain search
(``searchlab.methods.search.search_run``), so the study's searcher picks GA settings and its
scheduler (ASHA, ...) stops unpromising GA runs; the ``method:`` block is the base config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from searchlab.methods.base import (
    Analysis,
    Method,
    MethodRun,
    MethodSettings,
    Objective,
    TrialRequest,
    TrialResult,
)
from searchlab.methods.deep_ga.analysis import summarize
from searchlab.methods.deep_ga.settings import DeepGASettings
from searchlab.methods.deep_ga.workload import REFERENCE

if TYPE_CHECKING:
    from searchlab.spec.models import Study

METRIC = "elite_score"
SEARCHABLE = ("sigma", "truncation", "population", "novelty_weight", "novelty_k", "archive_prob",
              "episodes", "elite_candidates", "elite_episodes", "hidden", "activation")


class DeepGAMethod(Method):
    name: ClassVar[str] = "deep_ga"
    settings_model: ClassVar[type[MethodSettings]] = DeepGASettings
    refuses: ClassVar[tuple[str, ...]] = ("workload",)

    def check(self, settings: MethodSettings, study: Study) -> None:
        s = _settings(settings)
        if study.workload is not None:
            raise ValueError("deep_ga runs its own workload; remove the 'workload' block")
        if study.space is not None:
            names = [name for name, _ in study.space.walk()]
            bad = [n for n in names if n not in SEARCHABLE]
            if bad:
                raise ValueError(f"deep_ga can search {', '.join(SEARCHABLE)}; not {', '.join(bad)}")
            if study.search.algorithm != "grid" and study.budget.trials is None:
                raise ValueError("a deep_ga study with a space needs budget.trials (GA runs to sample)")
            if s.seeds != 1:
                raise ValueError("with a space, each sampled GA run uses first_seed; remove 'seeds'")

    def objective(self, settings: MethodSettings, study: Study) -> Objective:
        return Objective(METRIC, "max")

    def describe(self, settings: MethodSettings, study: Study) -> list[str]:
        s = _settings(settings)
        runs = "GA runs sampled from the space" if study.space else f"{s.seeds} GA runs (seeds {s.first_seed}..)"
        mode = ("GA-NS" if s.novelty_weight >= 1 else
                f"GA, novelty weight {s.novelty_weight:g}" if s.novelty_weight > 0 else "GA")
        return [f"{runs} of {mode} on {s.env}: population {s.population}, truncation "
                f"{s.truncation}, sigma {s.sigma:g}, up to {s.generations} generations"]

    # -- issue 21: the user's environment and policy (searchlab.methods.deep_ga.check) ----------
    def preflight(self, settings: MethodSettings, study: Study) -> None:
        """Import and try the user's env factory, policy and behaviour (RefError with its key:
        :func:`searchlab.refs.located` gives it the study file's line)."""
        from searchlab.methods.deep_ga.check import check_problem

        check_problem(_settings(settings))

    def start(self, settings: MethodSettings, study: Study) -> MethodRun:
        s = _settings(settings)
        if study.space is None:
            return _SeedRuns(s, study.name)
        try:
            from searchlab.methods.search import search_run  # type: ignore[attr-defined]
        except ImportError:
            raise ValueError("deep_ga with a space needs searchlab.methods.search.search_run, "
                             "which this searchlab does not have yet") from None
        inner = search_run(study, workload=REFERENCE, length=s.generations, metric=METRIC, mode="max",
                           resources=None, base_config={**s.ga_config(), "seed": s.first_seed},
                           tags={"method": "deep_ga"})
        return _Searched(inner, study.name)


def _settings(settings: MethodSettings) -> DeepGASettings:
    if not isinstance(settings, DeepGASettings):
        raise TypeError(f"expected DeepGASettings, got {type(settings).__name__}")
    return settings


class _SeedRuns(MethodRun):
    """``seeds`` runs of one GA configuration."""

    def __init__(self, s: DeepGASettings, study: str | None = None) -> None:
        self.study = study
        self.requests = [
            TrialRequest(config={**s.ga_config(), "seed": seed}, length=s.generations,
                         workload=REFERENCE,
                         tags={"method": "deep_ga", "seed": str(seed)})
            for seed in range(s.first_seed, s.first_seed + s.seeds)]
        self.asked = 0

    def ask(self, trial_id: str) -> TrialRequest | None:
        if self.asked >= len(self.requests):
            return None
        self.asked += 1
        return self.requests[self.asked - 1]

    @property
    def done(self) -> bool:
        return self.asked >= len(self.requests)

    @property
    def total(self) -> int | None:
        return len(self.requests)

    def summarize(self, results: list[TrialResult]) -> Analysis:
        return summarize(results, self.study)


class _Searched(MethodRun):
    """Plain search over GA settings, summarised as GA runs."""

    def __init__(self, inner: MethodRun, study: str | None = None) -> None:
        self.inner, self.study = inner, study

    def ask(self, trial_id: str) -> TrialRequest | None:
        return self.inner.ask(trial_id)

    def tell(self, trial_id: str, result: TrialResult) -> None:
        self.inner.tell(trial_id, result)

    def report(self, trial_id: str, metrics: dict[str, float]) -> None:
        self.inner.report(trial_id, metrics)

    @property
    def done(self) -> bool:
        return self.inner.done

    @property
    def total(self) -> int | None:
        return self.inner.total

    def summarize(self, results: list[TrialResult]) -> Analysis:
        return summarize(results, self.study)
