"""The searcher extension point: a :class:`Searcher` per algorithm, bound to its ``search:``
block, turns the study's space into a :class:`Suggester`, which plain search
(``searchlab.methods.search``) asks for configs and tells results. The module defining a
searcher imports nothing heavy; :meth:`Searcher.build` imports the library."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import Field

from searchlab.registry import Binding, Settings

if TYPE_CHECKING:
    from searchlab.spec.models import Study
    from searchlab.spec.space import Space


class SearchSettings(Settings):
    """The ``search:`` block every searcher takes; a searcher's own model adds its keys."""

    seed: int | None = Field(0, ge=0, le=2**32 - 1, description="the searcher's random seed")
    points: tuple[dict[str, Any], ...] = Field(
        (), description="known configurations (flat names) to run first; they count toward "
                        "budget.trials")


S = TypeVar("S", bound=SearchSettings)


@dataclass(frozen=True)
class SearchContext:
    metric: str
    mode: str  # "min" | "max"
    trials: int | None  # budget.trials (None: grid, which counts its own points)
    concurrency: int
    #: every objective as (metric, mode) when the study has several (the first is metric, mode)
    objectives: tuple[tuple[str, str], ...] = ()
    #: known configurations to run first, as flat configs (searchers that take them:
    #: ``takes_points``)
    points: tuple[dict[str, Any], ...] = ()
    #: a study that goes on (resumed, or continued with a larger budget): the flat configs of
    #: the trials it asked for before, in order. The searcher proposes exactly these first
    #: (a searcher that models results hands them to its library as known points, so it learns
    #: from their results when they are replayed), then new ones (see :func:`continued_seed`)
    asked: tuple[dict[str, Any], ...] = ()


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


class Searcher(Binding[S], ABC):
    """One search algorithm bound to its settings (``self.settings``), selected in the study file
    by ``search: {algorithm: <name>, ...}``."""

    settings_model: ClassVar[type[Settings]]
    #: it decides how many trials there are (every grid point): budget.trials is refused
    enumerates: ClassVar[bool] = False
    #: it runs ``SearchContext.points`` first itself (and learns from them); else plain search
    #: serves them before the searcher's own configs
    takes_points: ClassVar[bool] = False

    @classmethod
    def samplers(cls) -> tuple[str, ...]:
        """The values its settings' ``sampler`` may take (none when it has no such key)."""
        import typing

        field = cls.settings_model.model_fields.get("sampler")
        return typing.get_args(field.annotation) if field is not None else ()

    @property
    def sampler(self) -> str | None:
        """The sampler (or optimizer) in use, for searchers that have several."""
        return None

    @property
    def label(self) -> str:
        """``algorithm`` or ``algorithm-sampler``, as the start line and MLflow name it."""
        return f"{self.name}-{self.sampler}" if self.sampler else self.name

    @property
    def several_objectives(self) -> bool:
        """Whether it can optimize several metrics at once (searchers that ignore results can)."""
        return False

    def check(self, space: Space, study: Study) -> None:  # noqa: B027 - optional hook
        """Raise ValueError (one line) when it cannot search ``space`` as the study asks."""

    @abstractmethod
    def build(self, space: Space, ctx: SearchContext) -> Suggester: ...


def continued_seed(seed: int | None, asked: int) -> int | None:
    """The sampler's seed for a study that goes on after ``asked`` trials: a stream of its own.
    The earlier trials reach the library as known points, which take none of its random draws,
    so the seed as given would draw the same random start-up trials again."""
    if seed is None or asked == 0:
        return seed
    return (seed * 1_000_003 + asked) % 2**31


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
