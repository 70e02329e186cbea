"""The study file's typed model. Parsed once, at the edge; everything after reads these objects.

Derived values are read-only properties, never written back.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from searchlab.methods.base import Method, TrialResources
from searchlab.searchers.base import Searcher
from searchlab.spec.space import Space
from searchlab.stopping.base import Scheduler

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
NAME_MAX = 200


def _name(v: str) -> str:
    """Study and experiment names name directories (results, MLflow artifacts): no path
    separators, no leading dot, and short (MLflow takes 500 characters at most)."""
    if not 1 <= len(v) <= NAME_MAX:
        raise ValueError(f"a name of 1 to {NAME_MAX} characters (this one has {len(v):,})")
    if not _NAME.match(v):
        raise ValueError("use letters, digits, _ . and -, starting with a letter or digit "
                         f"(it names directories; got {v!r})")
    return v


Name = Annotated[str, AfterValidator(_name)]


class Strict(BaseModel):
    """Unknown keys are errors, and so are NaN and infinities in every number."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MetricSpec(Strict):
    name: str = Field(min_length=1)
    mode: Literal["min", "max"]


class WorkloadSpec(Strict):
    """The study's workload: ``function`` as written, ``ref`` the ``"module:function"`` it names
    (a built-in name resolved when the study file was parsed)."""

    function: str = Field(min_length=1, description="built-in name or 'package.module:function'")
    ref: str = Field(min_length=3, description="'package.module:function'")
    args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments")
    path: str | None = Field(None, description="a directory to put on sys.path (your code)")


class BudgetSpec(Strict):
    trials: int | None = Field(None, ge=1, le=10_000_000)
    concurrency: int = Field(
        1, ge=1, le=10_000, description="trials at once (default: 1; where the method's trials "
        "are independent, as many as the cluster has room for)")
    max_epochs: int = Field(1, ge=1, le=10_000_000)
    time_limit: float | None = Field(None, gt=0, description="seconds, or '30m', '2h'")
    retries: int = Field(0, ge=0, le=100,
                         description="retries of a failed trial, from its last checkpoint")
    trial_timeout: float | None = Field(None, gt=0, description="seconds a trial may run")

    @field_validator("time_limit", "trial_timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        if isinstance(v, str):
            m = _DURATION.match(v)
            if not m:
                raise ValueError("expected seconds or a duration like 90s, 30m, 2h")
            return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2) or "s"]
        return v


class ResourcesSpec(Strict):
    """Per trial: the trial's own process (cpu, gpu) and its evaluation pool's workers."""

    cpu: float = Field(1.0, gt=0, le=1024, description="CPUs of the trial's own process")
    gpu: float = Field(0.0, ge=0, le=1024,
                       description="GPUs (or a fraction) of the trial's process")
    workers: int = Field(0, ge=0, le=10_000, description="evaluation-pool workers (ctx.pool)")
    worker_cpu: float = Field(1.0, gt=0, le=1024, description="CPUs per pool worker")
    worker_gpu: float = Field(0.0, ge=0, le=1024,
                              description="GPUs (or a fraction) per pool worker")
    strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        "PACK", description="how the trial's bundles are placed on the cluster's nodes")

    @field_validator("gpu", "worker_gpu")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if v > 1 and not float(v).is_integer():
            raise ValueError("a trial takes a fraction of one GPU or a whole number of GPUs")
        return v

    def trial(self) -> TrialResources:
        return TrialResources(cpu=self.cpu, gpu=self.gpu, workers=self.workers,
                              worker_cpu=self.worker_cpu, worker_gpu=self.worker_gpu,
                              strategy=self.strategy)


class TrackingSpec(Strict):
    uri: str | None = Field(None,
                            description="MLflow tracking URI; else MLFLOW_TRACKING_URI; else local "
                                        "SQLite")
    enabled: bool = True
    experiment: Name | None = Field(
        None, description="MLflow experiment name (default: the study name); the rules of study "
                    "names, as it names the experiment's artifact directory")


class Study(Strict):
    """One study: the workload, the space, the method, stopping, resources and budget.

    ``method``, ``search`` and ``stopping`` are bindings: the registered extension each block
    names, holding its validated settings (``study.method.settings``)."""

    name: Name
    description: str | None = None
    workload: WorkloadSpec | None = None
    objectives: tuple[MetricSpec, ...] = Field(
        (), description="the study file's `metric`: one mapping, or a list (the first is the "
                        "headline)")
    space: Space | None = None
    search: Searcher[Any]
    stopping: Scheduler[Any]
    method: Method[Any]
    budget: BudgetSpec = BudgetSpec()
    resources: ResourcesSpec = ResourcesSpec()
    tracking: TrackingSpec = TrackingSpec()
    storage: str | None = Field(None,
                                description="results directory (default ./.searchlab/studies)")
    written: tuple[str, ...] = Field((), description="the top-level keys the study file gives")

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True,
                              allow_inf_nan=False)

    @property
    def metric(self) -> MetricSpec | None:
        """The headline metric (schedulers, progress line, best-trial table)."""
        return self.objectives[0] if self.objectives else None

    @property
    def experiment_name(self) -> str:
        return self.tracking.experiment or self.name

    @property
    def searched(self) -> bool:
        """Whether the study's searcher samples its space (the method takes one, and a space is
        given)."""
        return self.method.traits.takes_searcher and self.space is not None

    @property
    def concurrency_by_cores(self) -> bool:
        """Whether as many trials run at once as the Ray cluster has room for: the study file
        does not write ``budget.concurrency`` and the method's trials are independent of one
        another (``MethodTraits.independent_trials``, without a searcher)."""
        return ("concurrency" not in self.budget.model_fields_set
                and self.method.traits.independent_trials and not self.searched)

    @property
    def concurrency_text(self) -> str:
        """How many trials run at once, in words (for the trial plan)."""
        if self.concurrency_by_cores:
            from searchlab.execution.cores import local_cluster, trials_at_once

            here = trials_at_once(self, local_cluster(self))
            return f"as many at a time as the cores allow ({here} on this machine)"
        return f"{self.budget.concurrency} at a time"

    @property
    def drivers(self) -> tuple[str | None, str | None]:
        """The searcher and the stopping rule that drive the study, None for each it does not
        use: only a searched study has a searcher to name, and 'fifo' is named only there."""
        searcher = self.search.label if self.searched else None
        stopping = self.stopping.name if self.searched or self.stopping.name != "fifo" else None
        return searcher, stopping

    @property
    def workload_name(self) -> str:
        return self.workload.function if self.workload else self.method.name


def spec_hash(data: dict[str, Any]) -> str:
    """A stable hash of the study's content (key order and formatting do not matter)."""
    blob = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
