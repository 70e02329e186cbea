"""``method: {name: deep_ga, ...}``: GA runs as Ray Tune trials.

A GA run is one trial running :func:`.workload.deep_ga_workload` (one report per generation; the
population sharded over the pool workers of the study's ``resources`` block). Without a study
``space`` the method asks for ``seeds`` runs of the configured GA. With a ``space`` over GA settings
(``sigma``, ``truncation``, ``population``, ``novelty_weight``, ...) it hands the run to plain
search (``searchlab.methods.search.search_run``), so the study's searcher picks GA settings and its
scheduler (ASHA, ...) stops unpromising GA runs; the ``method:`` block is the base config.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from searchlab.methods.base import (
    Analysis,
    FixedTrials,
    Method,
    MethodRun,
    MethodSettings,
    MethodTraits,
    Objective,
    TrialRequest,
    TrialResult,
    invalid,
)
from searchlab.methods.deep_ga.analysis import summarize
from searchlab.methods.deep_ga.settings import DeepGASettings
from searchlab.methods.deep_ga.workload import REFERENCE

if TYPE_CHECKING:
    from searchlab.spec.models import Study

METRIC = "elite_score"
SEARCHABLE = ("sigma", "truncation", "population", "novelty_weight", "novelty_k", "archive_prob",
              "episodes", "elite_candidates", "elite_episodes", "hidden", "activation")


class DeepGAMethod(Method[DeepGASettings]):
    name: ClassVar[str] = "deep_ga"
    settings_model: ClassVar[type[MethodSettings]] = DeepGASettings
    #: ``seeds`` is its budget without a space (with one, ``budget.trials`` is)
    TRAITS: ClassVar[MethodTraits] = MethodTraits(space="optional", takes_searcher=True,
                                                  draws_own_analysis=True,
                                                  independent_trials=True,
                                                  budget_settings=("seeds",))

    def check(self, study: Study) -> None:
        if study.space is not None:
            names = [name for name, _ in study.space.walk()]
            bad = [n for n in names if n not in SEARCHABLE]
            if bad:
                raise invalid(f"deep_ga can search {', '.join(SEARCHABLE)}; not "
                              f"{', '.join(bad)}", "space", bad[0])
            if self.settings.seeds != 1:
                raise invalid("with a space, each sampled GA run uses first_seed; remove 'seeds'",
                              "method", "seeds")

    def objective(self, study: Study) -> Objective:
        return Objective(METRIC, "max")

    def preflight(self, study: Study) -> None:
        from searchlab.preflight import missing

        s = self.settings
        why = ((missing("minatar") if s.env.startswith("minatar:") else None)
               or (missing("gymnasium", "ale_py") if s.env.startswith("atari:") else None)
               or (missing("torch") if s.backend == "torch" else None))
        if why:
            raise ValueError(f"{s.env} ({s.backend} backend): {why}")
        # issue 21: import and try the user's env factory, policy and behaviour
        # (searchlab.methods.deep_ga.check), each failure one line at its key of the block
        from searchlab.methods.deep_ga.check import check_problem
        from searchlab.refs import RefError

        for ref in s.references():
            problem = ref.problem(s.code_path())
            if problem:
                raise invalid(problem, "method", *ref.loc)
        try:
            check_problem(s)
        except RefError as e:
            raise invalid(str(e), "method", *e.loc) from None

    def describe(self, study: Study) -> list[str]:
        from searchlab.methods.search import planned_trials

        s = self.settings
        runs = (f"{planned_trials(study)} GA runs sampled from the space"
                if study.space else f"{s.seeds} GA runs (seeds {s.first_seed}.."
                f"{s.first_seed + s.seeds - 1})")
        mode = ("GA-NS" if s.novelty_weight >= 1 else
                f"GA, novelty weight {s.novelty_weight:g}" if s.novelty_weight > 0 else "GA")
        return [f"trials     {runs}, {study.concurrency_text}, up to "
                f"{s.generations} generations each",
                f"           {mode} on {s.env}: population {s.population}, truncation "
                f"{s.truncation}, sigma {s.sigma:g}", *_costs(s)]

    def start(self, study: Study) -> MethodRun:
        from searchlab.methods.search import search_run

        s = self.settings
        if study.space is None:
            return _SeedRuns(s, study.name)
        inner = search_run(study, workload=REFERENCE, length=s.generations, metric=METRIC,
                           mode="max", resources=None,
                           base_config={**s.ga_config(), "seed": s.first_seed},
                           tags={"method": "deep_ga"})
        return _Searched(inner, study.name)


def _costs(s: DeepGASettings) -> list[str]:
    """What a generation and a run cost, in episodes and frames (environment steps)."""
    episodes = s.population * s.episodes
    elite = (s.elite_candidates + 1) * s.elite_episodes
    steps = s.max_steps or _episode_cap(s.env)
    frames = f"{_n(steps)} steps" if steps else "the environment's episode length"
    generation = episodes + elite
    line = (f"           a generation: {_n(episodes)} episodes"
            + (f" + up to {_n(elite)} to pick the elite" if elite else "")
            + f", each up to {frames}")
    run = (f"           a run: up to {_n(generation * s.generations)} episodes"
           + (f", {_n(generation * s.generations * steps)} frames" if steps else ""))
    ends = [f"{_n(s.max_frames)} frames" if s.max_frames else "",
            f"elite score {s.target_score:g}" if s.target_score is not None else ""]
    ends = [e for e in ends if e]
    run += (f" (it stops at {' or '.join(ends)})" if ends else "")
    if s.final_episodes:
        n = s.final_episodes
        run += f"; then the elite plays {_n(n)} final episode{'s' if n > 1 else ''}"
    return [line, run]


def _episode_cap(env: str) -> int | None:
    """The environment's own episode cap, where reading it builds nothing heavy (the numpy
    environments); None for the emulated ones (MinAtar, Atari)."""
    if env.startswith(("minatar:", "atari:")):
        return None
    from searchlab.methods.deep_ga.envs import make_env

    try:
        return int(make_env(env).max_steps)
    except Exception:  # a plan line is not worth an error
        return None


def _n(x: float) -> str:
    """A count for a plan line: 5,600 / 1.2 M / 3.4 G."""
    for scale, unit in ((1e9, " G"), (1e6, " M")):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{int(x):,}"


class _SeedRuns(FixedTrials):
    """``seeds`` runs of one GA configuration."""

    def __init__(self, s: DeepGASettings, study: str | None = None) -> None:
        self.study = study
        super().__init__([
            TrialRequest(config={**s.ga_config(), "seed": seed}, length=s.generations,
                         workload=REFERENCE, tags={"method": "deep_ga", "seed": str(seed)})
            for seed in range(s.first_seed, s.first_seed + s.seeds)])

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

    def resume(self, asked: Sequence[TrialRequest]) -> None:
        self.inner.resume(asked)

    @property
    def done(self) -> bool:
        return self.inner.done

    @property
    def total(self) -> int | None:
        return self.inner.total

    def summarize(self, results: list[TrialResult]) -> Analysis:
        return summarize(results, self.study)
