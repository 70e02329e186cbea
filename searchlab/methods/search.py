"""Plain search as a method: sample the study's space with its searcher.

:func:`search_run` is also what other methods use to let Tune search their own settings (a Deep
GA study with a ``space`` over sigma and population, say): each sampled flat config is merged over
``base_config`` and run with the method's workload.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from searchlab.methods.base import (
    Analysis,
    Method,
    MethodRun,
    MethodSettings,
    MethodTraits,
    Objective,
    TrialRequest,
    TrialResources,
    TrialResult,
)

if TYPE_CHECKING:
    from searchlab.searchers.base import Suggester
    from searchlab.spec.models import Study


class SearchMethodSettings(MethodSettings):
    """Plain search has no settings of its own."""


class SearchRun(MethodRun):
    """``suggester``: the searcher, built on first use from the requests asked before (none
    for a new study; see :meth:`resume`)."""

    def __init__(self, suggester: Callable[[Sequence[TrialRequest]], Suggester], *,
                 limit: int | None, length: int,
                 workload: str | None = None, args: dict[str, Any] | None = None,
                 resources: TrialResources | None = None,
                 base_config: dict[str, Any] | None = None,
                 tags: dict[str, str] | None = None,
                 objectives: tuple[tuple[str, str], ...] = ()) -> None:
        self.build_suggester, self.limit, self.length = suggester, limit, length
        self.objectives = objectives  # (metric, mode) each, when the study has several
        self.workload, self.args, self.resources = workload, dict(args or {}), resources
        self.base_config, self.tags = dict(base_config or {}), dict(tags or {})
        self.asked = 0
        self.exhausted = False
        self._before: Sequence[TrialRequest] = ()
        self._suggester: Suggester | None = None

    @property
    def suggester(self) -> Suggester:
        if self._suggester is None:
            self._suggester = self.build_suggester(self._before)
        return self._suggester

    def resume(self, asked: Sequence[TrialRequest]) -> None:
        """The searcher is built knowing the configs asked before: it proposes them again, in
        order, as they are replayed (and learns from their results), then new ones."""
        if self._suggester is not None:
            raise RuntimeError("resume() comes before the first ask")
        self._before = list(asked)

    @property
    def total(self) -> int | None:
        return self.limit if self.limit is not None else self.suggester.total

    @property
    def done(self) -> bool:
        return self.exhausted or (self.limit is not None and self.asked >= self.limit)

    def ask(self, trial_id: str) -> TrialRequest | None:
        if self.done:
            return None
        config = self.suggester.suggest(trial_id)
        if config is None:
            self.exhausted = self.suggester.total is not None and self.asked >= self.suggester.total
            return None
        self.asked += 1
        return TrialRequest(config={**self.base_config, **config}, length=self.length,
                            workload=self.workload, args=self.args, resources=self.resources,
                            tags=self.tags)

    def report(self, trial_id: str, metrics: dict[str, float]) -> None:
        self.suggester.on_trial_result(trial_id, metrics)

    def tell(self, trial_id: str, result: TrialResult) -> None:
        errored = result.status in ("failed", "timed_out")
        self.suggester.on_trial_complete(trial_id, None if errored else dict(result.metrics),
                                         errored)

    def summarize(self, results: list[TrialResult]) -> Analysis:
        """With several objectives: the Pareto front of the completed trials (table, figure)."""
        if len(self.objectives) < 2:
            return Analysis()
        from searchlab.pareto import completed_points, pareto_figure, pareto_trials

        front = pareto_trials(results, self.objectives)
        points = completed_points(results, self.objectives)
        table = [{"trial_id": t, **dict(zip([m for m, _ in self.objectives], points[t],
                                            strict=True))} for t in front]
        return Analysis(tables={"pareto": table},
                        figures={"pareto": pareto_figure(results, self.objectives)},
                        metrics={"pareto_size": float(len(front))})


def build_suggester(study: Study, metric: str, mode: str,
                    objectives: tuple[tuple[str, str], ...] = (),
                    asked: Sequence[TrialRequest] = ()) -> Suggester:
    """The study's searcher; ``search.points`` come first (served here unless the searcher
    takes them itself), and count toward ``budget.trials``. ``asked``: the requests a study
    that goes on asked for before (see :attr:`SearchContext.asked`)."""
    from searchlab.searchers import SearchContext
    from searchlab.searchers.base import PointsFirst
    from searchlab.spec.points import complete_point

    if study.space is None:
        raise ValueError("this study has no space to search")
    space = study.space
    search = study.search
    points = [complete_point(space, p) for p in search.settings.points]
    before = tuple(space.flatten(r.config) for r in asked)
    trials = None if search.enumerates else study.budget.trials
    if search.takes_points:
        return search.build(space, SearchContext(
            metric, mode, trials, study.budget.concurrency, objectives, tuple(points), before))
    own = None if trials is None else max(1, trials - len(points))
    inner = search.build(space, SearchContext(metric, mode, own, study.budget.concurrency,
                                              objectives, asked=before[len(points):]))
    return PointsFirst(points, inner) if points else inner


def search_run(study: Study, *, workload: str | None, length: int, metric: str, mode: str,
               args: dict[str, Any] | None = None, resources: TrialResources | None = None,
               base_config: dict[str, Any] | None = None,
               tags: dict[str, str] | None = None,
               objectives: tuple[tuple[str, str], ...] = ()) -> SearchRun:
    """Search ``study.space`` with ``study.search``; each trial runs ``workload`` with the sampled
    config merged over ``base_config``. ``budget.trials`` trials (grid: every point x repeats,
    plus ``search.points``). ``objectives``: (metric, mode) each, when there are several."""
    suggester = functools.partial(build_suggester, study, metric, mode, objectives)
    limit = None if study.search.enumerates else study.budget.trials
    return SearchRun(suggester, limit=limit, length=length, workload=workload, args=args,
                     resources=resources, base_config=base_config, tags=tags,
                     objectives=objectives)


def planned_trials(study: Study) -> str:
    """How many trials searching the study's space runs, in words (builds nothing)."""
    search, space = study.search, study.space
    if not search.enumerates or space is None:
        return str(study.budget.trials)
    repeats = getattr(search.settings, "repeats", 1)
    points = len(search.settings.points)
    return f"{space.grid_size()} grid points x {repeats}" + (
        f" + {points} known points" if points else "")


class SearchMethod(Method[SearchMethodSettings]):
    """Plain search: the study's searcher samples its space; each trial runs the study's
    workload for up to ``budget.max_epochs`` epochs."""

    name: ClassVar[str] = "search"
    settings_model: ClassVar[type[MethodSettings]] = SearchMethodSettings
    TRAITS: ClassVar[MethodTraits] = MethodTraits(
        runs_workload=True, owns_objective=False, several_metrics=True, space="required",
        takes_searcher=True, epoch_trials=True, enumerates_trials=True)

    def objective(self, study: Study) -> Objective:
        if study.metric is None:
            raise ValueError("the study has no metric")
        return Objective(study.metric.name, study.metric.mode,
                         tuple((m.name, m.mode) for m in study.objectives[1:]))

    def start(self, study: Study) -> SearchRun:
        obj = self.objective(study)
        return search_run(study, workload=None, length=study.budget.max_epochs, metric=obj.metric,
                          mode=obj.mode, objectives=obj.all if obj.more else ())

    def describe(self, study: Study) -> list[str]:
        return [f"trials     {planned_trials(study)}, {study.concurrency_text}, up to "
                f"{study.budget.max_epochs} epochs each"]
