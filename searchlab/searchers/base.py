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

    def check(self, search: SearchSpec, space: Space, budget: Any) -> None:
        """Raise ValueError (one line) when this searcher cannot search ``space`` as asked."""

    @abstractmethod
    def build(self, search: SearchSpec, space: Space, ctx: SearchContext) -> Suggester: ...

    def default_sampler(self) -> str:
        return self.samplers[0] if self.samplers else "-"


def first_grid_param(space: Space) -> str | None:
    from searchlab.spec.space import Choice

    return next((n for n, p in space.walk() if isinstance(p, Choice) and p.grid), None)


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
        epoch = int(metrics.get("epoch") or 0)
        self.searcher.on_trial_result(trial_id, {**metrics, "training_iteration": epoch})

    def on_trial_complete(self, trial_id: str, metrics: dict[str, Any] | None, error: bool) -> None:
        self.searcher.on_trial_complete(trial_id, result=metrics, error=error)
