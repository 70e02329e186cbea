"""The method extension point.

A method decides *what trials to run*. The default method, ``search``, samples the study's space
with the chosen searcher and scheduler. A research method (CDT, Deep GA, ...) lives in its own
subpackage ``searchlab/methods/<name>/`` with a Ray-free algorithm, a pydantic settings model and
a small ``Method`` subclass that turns the settings into a :class:`TrialPlan`. The runner never
imports a method by name: it looks the name up in :data:`searchlab.methods.REGISTRY`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from searchlab.spec.models import Study
    from searchlab.workloads.api import WorkloadFn


class MethodSettings(BaseModel):
    """Base for a method's settings block; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class TrialPlan:
    """A fixed list of trials a method asks the runner to run (in parallel, through Ray Tune).

    Each config is passed to ``workload`` as is, becomes one Ray Tune trial and one MLflow child
    run; every key of a config is logged as an MLflow parameter. ``metric``/``mode`` name the
    headline metric the workload reports (for the best-trial table and the parent run).
    """

    workload: WorkloadFn
    configs: list[dict[str, Any]]
    metric: str
    mode: str  # "min" or "max"
    max_epochs: int = 1
    tags: dict[str, str] | None = None


class Method(ABC):
    """One research method, selected in the study file by ``method: {name: ..., ...settings}``."""

    name: ClassVar[str]
    settings_model: ClassVar[type[MethodSettings]]

    @abstractmethod
    def plan(self, settings: MethodSettings, study: Study) -> TrialPlan | None:
        """The trials to run, or None to run the study's own space with its searcher."""
