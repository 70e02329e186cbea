"""The searcher extension point: a factory per algorithm that turns the study's ``search`` block
and space into a :class:`Suggester`, which plain search (``searchlab.methods.search``) asks for
configs and tells results."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from searchlab.spec.models import SearchSpec
    from searchlab.spec.space import Space


@dataclass(frozen=True)
class SearchContext:
    metric: str
    mode: str  # "min" | "max"
    trials: int | None  # budget.trials (None: grid, which counts its own points)
    concurrency: int
    #: every objective as (metric, mode) when the study has several (the first is metric, mode)
    objectives: tuple[tuple[str, str], ...] = ()
    #: known configurations to run first, as flat configs (searchers that take them: ``takes_points``)
    points: tuple[dict[str, Any], ...] = ()


class Suggester(ABC):
    """Configs on demand. ``suggest`` returns a flat config (see ``Space.flatten``), or None
    when the searcher has no more (a grid that is done)."""

    #: how many configs in all, when known in advance
    total: int | None = None

    @abstractmethod
    def suggest(self, trial_id: str) -> dict[str, Any] | None: ...

    def on_trial_result(self, trial_id: str, metrics: dict[str, Any]) -> None:  # noqa: B027
        """An intermediate result."""

    def on_trial_complete(self, trial_id: str, metrics: dict[str, Any] | None,  # noqa: B027
                          error: bool) -> None:
        """A trial ended (``metrics``: its last result)."""


class SearcherFactory(ABC):
    name: ClassVar[str]
    #: valid ``search.sampler`` values; the first is the default ("" when none is taken)
    samplers: ClassVar[tuple[str, ...]] = ()
    #: it decides how many trials there are (every grid point): budget.trials is refused
    enumerates: ClassVar[bool] = False
    #: it runs ``SearchContext.points`` first itself (and learns from them); else plain search
    #: serves them before the searcher's own configs
    takes_points: ClassVar[bool] = False

    def several_objectives(self, search: SearchSpec) -> bool:
        """Whether this searcher, with ``search.sampler``, can optimize several metrics at once
        (searchers that ignore results can)."""
        return False

    def check(self, search: SearchSpec, space: Space, budget: Any) -> None:
        """Raise ValueError (one line) when this searcher cannot search ``space`` as asked."""

    @abstractmethod
    def build(self, search: SearchSpec, space: Space, ctx: SearchContext) -> Suggester: ...

    def default_sampler(self) -> str:
        return self.samplers[0] if self.samplers else "-"


def first_grid_param(space: Space) -> str | None:
    from searchlab.spec.space import Choice

    return next((n for n, p in space.walk() if isinstance(p, Choice) and p.grid), None)


class PointsFirst(Suggester):
    """The known configurations first, then ``inner``'s; ``inner`` never hears of the points."""

    def __init__(self, points: list[dict[str, Any]], inner: Suggester) -> None:
        self.points, self.inner = list(points), inner
        self.served: set[str] = set()
        self.total = None if inner.total is None else inner.total + len(self.points)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if len(self.served) < len(self.points):
            self.served.add(trial_id)
            return dict(self.points[len(self.served) - 1])
        return self.inner.suggest(trial_id)

    def on_trial_result(self, trial_id: str, metrics: dict[str, Any]) -> None:
        if trial_id not in self.served:
            self.inner.on_trial_result(trial_id, metrics)

    def on_trial_complete(self, trial_id: str, metrics: dict[str, Any] | None, error: bool) -> None:
        if trial_id not in self.served:
            self.inner.on_trial_complete(trial_id, metrics, error)


class RaySearcherSuggester(Suggester):
    """A Ray Tune ``Searcher`` (Optuna, Nevergrad, ...) as a Suggester."""

    def __init__(self, searcher: Any, space: Space, total: int | None) -> None:
        self.searcher, self.space, self.total = searcher, space, total

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = self.searcher.suggest(trial_id)
        if config is None or isinstance(config, str):  # None (wait) or Searcher.FINISHED
            return None
        return self.space.flatten(config)

    def on_trial_result(self, trial_id: str, metrics: dict[str, Any]) -> None:
        metric = getattr(self.searcher, "metric", None)
        names = metric if isinstance(metric, list) else [metric] if metric else []
        if any(n not in metrics for n in names):
            return  # a diverged epoch: no finite value to learn from (the end is told anyway)
        epoch = int(metrics.get("epoch") or 0)
        self.searcher.on_trial_result(trial_id, {**metrics, "training_iteration": epoch})

    def on_trial_complete(self, trial_id: str, metrics: dict[str, Any] | None, error: bool) -> None:
        self.searcher.on_trial_complete(trial_id, result=metrics, error=error)
