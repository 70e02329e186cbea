"""The early-stopping extension point.

A stopping rule is selected by ``stopping: {scheduler: <name>, ...settings}`` in the study file.
Each rule has a pydantic settings model (validated when the study file is parsed) and a factory
that builds a Ray Tune ``TrialScheduler`` from it. Built-in rules wrap Ray Tune's own schedulers;
the performance-prediction scheduler lives in its own subpackage and registers one line in
:data:`searchlab.stopping.REGISTRY`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler

    from searchlab.spec.space import Space


class StoppingSettings(BaseModel):
    """Base for a scheduler's settings; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class SchedulerContext:
    """What a factory may use besides its own settings."""

    metric: str
    mode: str  # "min" | "max"
    max_epochs: int  # budget.max_epochs: the length of a full trial
    space: Space | None  # the study's search space (None for methods with fixed trial lists)
    seed: int | None
    study_name: str
    tracking_uri: str | None = None
    extra: dict[str, Any] | None = None


@dataclass(frozen=True)
class BuiltScheduler:
    """A built scheduler and what the runner must know about it."""

    scheduler: TrialScheduler
    #: all trials of a bracket must run together, so concurrency is limited through resources
    #: rather than Tune's max_concurrent_trials
    synchronous: bool = False
    #: trials are paused and resumed (workloads should checkpoint)
    pauses_trials: bool = False
    #: trials continue from other trials' older checkpoints (PBT): keep every checkpoint
    clones_checkpoints: bool = False
    #: Tune refuses a searcher beside it (PBT): the method's trials are asked for up front
    fixed_trials: bool = False


class SchedulerFactory(ABC):
    name: ClassVar[str]
    settings_model: ClassVar[type[StoppingSettings]]

    def check(self, settings: StoppingSettings, study: Any) -> None:
        """Raise ValueError when the settings do not fit the rest of the study."""

    @abstractmethod
    def build(self, settings: StoppingSettings, ctx: SchedulerContext) -> BuiltScheduler: ...
