"""The early-stopping extension point.

A stopping rule is selected by ``stopping: {scheduler: <name>, ...settings}`` in the study file
and registered by name in :data:`searchlab.stopping.REGISTRY`. Each is a :class:`Scheduler`
subclass with a pydantic settings model, bound to its settings when the study file is parsed
(``study.stopping``), declared :class:`SchedulerTraits`, and :meth:`Scheduler.build`, which
returns the Ray Tune ``TrialScheduler``. Its module imports nothing heavy; ``build`` imports Ray.

Ray Tune's own schedulers (ASHA, Hyperband, median, PBT) are used as they are
(:mod:`.builtin`). A rule searchlab writes itself keeps its decisions in a Ray-free core
(:class:`searchlab.stopping.rule.TrialRule`), tested on fake trials, and reaches Tune through the
thin adapter :class:`searchlab.stopping.adapter.RuleScheduler`; the predictive rule
(:mod:`searchlab.predictive`) is one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

from searchlab.registry import Binding, Settings

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

    from searchlab.spec.models import Study
    from searchlab.spec.space import Space


class StoppingSettings(Settings):
    """Base for a scheduler's settings; unknown keys are errors."""


S = TypeVar("S", bound=StoppingSettings)


@dataclass(frozen=True)
class SchedulerTraits:
    """What a stopping rule asks of the runner, declared on its class."""

    #: trials wait, paused, until the rest of their bracket catches up (Hyperband): Tune's
    #: max_concurrent_trials would starve the bracket, so concurrency is left to resources
    pauses_trials: bool = False
    #: trials continue from other trials' older checkpoints (PBT): every checkpoint is kept
    keeps_checkpoints: bool = False
    #: Tune takes no searcher beside it (PBT): the method's trials are listed up front, and a
    #: method that cannot list them (``MethodTraits.enumerates_trials``) is refused
    refuses_searcher: bool = False


@dataclass(frozen=True)
class SchedulerContext:
    """What :meth:`Scheduler.build` may use besides its own settings."""

    metric: str
    mode: str  # "min" | "max"
    max_epochs: int  # budget.max_epochs: the length of a full trial
    space: Space | None  # the study's search space (None for methods with fixed trial lists)
    tracking_uri: str | None = None
    workload: str | None = None  # the study's workload name (earlier trials of it in MLflow)


class Scheduler(Binding[S], ABC):
    """A stopping rule bound to its settings (``self.settings``)."""

    settings_model: ClassVar[type[Settings]]
    #: what the rule asks of the runner (see :class:`SchedulerTraits`)
    TRAITS: ClassVar[SchedulerTraits] = SchedulerTraits()

    @property
    def traits(self) -> SchedulerTraits:
        """This binding's traits: the class's, unless its settings change them."""
        return self.TRAITS

    def check(self, study: Study) -> None:  # noqa: B027 - optional hook
        """Raise ValueError (one line) when the settings do not fit the rest of the study."""

    @abstractmethod
    def build(self, ctx: SchedulerContext) -> TrialScheduler:
        """Ray Tune's scheduler for one study execution."""
