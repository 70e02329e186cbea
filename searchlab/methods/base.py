"""The method extension point: an ask/tell protocol that knows nothing of Ray.

A method decides *which trials to run*. It is selected in the study file with
``method: {name: ..., ...settings}``; plain search (``search``, the default) is a method like any
other. Each method lives in ``searchlab/methods/<name>/`` (or one module) and provides:

- a pydantic settings model (validated when the study file is parsed);
- :meth:`Method.check`, which raises ``ValueError`` with one line for anything in the study it
  cannot honour (a ``search:`` block it would ignore, a missing space, ...);
- :meth:`Method.start`, which returns a :class:`MethodRun`.

A run is driven by one adapter (``searchlab.execution``) through Ray Tune::

    run = method.start(settings, study)
    while not run.done:
        request = run.ask(trial_id)        # a TrialRequest, or None: nothing to start right now
        ...                                # Tune runs it; schedulers may stop it early
        run.tell(trial_id, result)         # a TrialResult, as each trial ends
    analysis = run.summarize(results)      # tables, figures and headline metrics for MLflow

``ask`` may return None while it waits for results (a generation of a GA, a calibration phase);
the adapter asks again after the next ``tell``. Once ``done`` is true and no trial runs, the study
ends. A resumed study replays every ``ask`` and ``tell`` the run saw (in order) on a fresh run
object before asking for more, so runs need no pickling: they must only be deterministic given
the same sequence of calls.

Workloads are named by reference (a built-in name or ``"module:function"``), so every request
stays plain JSON-able data that Tune can store in its experiment state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from searchlab.spec.models import Study


def invalid(message: str, *loc: str | int) -> ValueError:
    """A ValueError for :meth:`Method.check` that points at a key of the study file
    (``invalid("remove budget.trials", "budget", "trials")``)."""
    error = ValueError(message)
    error.loc = loc  # type: ignore[attr-defined]
    return error


class MethodSettings(BaseModel):
    """Base for a method's settings block; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class TrialResources:
    """What one trial holds: a driver, plus ``workers`` evaluation-pool workers.

    With ``workers == 0`` this is a plain Ray Tune trial resource request; otherwise it becomes a
    placement group of ``1 + workers`` bundles (the driver first) and the workload's
    ``ctx.pool`` maps functions over those workers.
    """

    cpu: float = 1.0
    gpu: float = 0.0
    workers: int = 0
    worker_cpu: float = 1.0
    worker_gpu: float = 0.0
    strategy: str = "PACK"  # Ray placement strategy: PACK, SPREAD, STRICT_PACK, STRICT_SPREAD

    def bundles(self) -> list[dict[str, float]]:
        driver = {"CPU": self.cpu, "GPU": self.gpu}
        worker = {"CPU": self.worker_cpu, "GPU": self.worker_gpu}
        return [_nonzero(driver)] + [_nonzero(worker) for _ in range(self.workers)]

    def as_dict(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "gpu": self.gpu, "workers": self.workers,
                "worker_cpu": self.worker_cpu, "worker_gpu": self.worker_gpu,
                "strategy": self.strategy}


def _nonzero(bundle: dict[str, float]) -> dict[str, float]:
    out = {k: v for k, v in bundle.items() if v > 0}
    return out or {"CPU": 0.001}


@dataclass(frozen=True)
class TrialRequest:
    """One trial a method asks for.

    ``config`` is passed to the workload as is (flat: every key a name, JSON-able values) and
    every key becomes an MLflow parameter. ``workload`` names the function (None: the study's
    ``workload``), ``args`` are extra keyword arguments for it. ``length`` is the most reports
    (epochs, generations, chunks) the trial may make; a trial that reports ``length`` times, or
    whose workload ends by itself, is ``completed``; one a scheduler stopped is ``early_stopped``.
    ``resources`` None means the study's ``resources`` block. ``tags`` land on the child run.
    """

    config: dict[str, Any]
    length: int
    workload: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    resources: TrialResources | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialResult:
    """What a method is told when a trial ends.

    ``status`` is one of completed, early_stopped, diverged, timed_out, failed (see
    :mod:`searchlab.status`). ``metrics`` is the last report, ``history`` every report in order
    (each with ``epoch``, starting at 1). ``error`` is the last line of a failed trial's error.
    """

    trial_id: str
    request: TrialRequest
    status: str
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    error: str | None = None


#: the parent-run tag whose one line (the method's headline result) replaces the best trial
HEADLINE_TAG = "searchlab.headline"


@dataclass
class Analysis:
    """A method's summary of the whole study, stored on the study's parent MLflow run.

    ``metrics``: headline numbers (logged as parent-run metrics). ``tables``: name -> JSON-able
    data (``analysis/<name>.json``). ``figures``: name -> a Plotly figure as a dict (``fig.to_dict()``,
    ``analysis/<name>.plotly.json``), which the dashboard draws. ``tags``: parent-run tags.
    ``text``: a short human-readable report (``analysis/summary.md``), printed after the study.
    A ``tags[HEADLINE_TAG]`` line says that the method's own result leads: the closing summary
    and ``searchlab show`` print ``text`` in place of the best-trial table, and the dashboard's
    study table shows the line in place of a best trial (for methods whose trials are not
    comparable one by one: CDT's runs differ in environment, bandit, tuner and seed).
    """

    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    text: str = ""

    def __bool__(self) -> bool:
        return bool(self.metrics or self.tables or self.figures or self.tags or self.text)


@dataclass(frozen=True)
class Objective:
    """The headline metric the method's trials report, and whether lower or higher is better.

    ``more``: further objectives as (metric, mode), for a study that optimizes several (every
    trial must report them too; the Pareto front is taken over all of them)."""

    metric: str
    mode: str  # "min" | "max"
    more: tuple[tuple[str, str], ...] = ()

    @property
    def all(self) -> tuple[tuple[str, str], ...]:
        return ((self.metric, self.mode), *self.more)


class MethodRun(ABC):
    """One execution of a method: asks for trials, is told their results, summarises them."""

    @abstractmethod
    def ask(self, trial_id: str) -> TrialRequest | None:
        """The next trial to start (it will be known as ``trial_id``), or None when there is
        nothing to start now: wait for results, or the run is ``done``."""

    def tell(self, trial_id: str, result: TrialResult) -> None:  # noqa: B027 - optional hook
        """A trial has ended."""

    def report(self, trial_id: str, metrics: dict[str, float]) -> None:  # noqa: B027
        """An intermediate report of a running trial (optional; searchers use it)."""

    @property
    @abstractmethod
    def done(self) -> bool:
        """True when the run will ask for no more trials."""

    @property
    def total(self) -> int | None:
        """How many trials the run will ask for in all, when known (for the progress line)."""
        return None

    def summarize(self, results: list[TrialResult]) -> Analysis:
        """The study's analysis from every trial's result (in the order the trials ended)."""
        return Analysis()


class Method(ABC):
    """One method, selected in the study file by ``method: {name: ..., ...settings}``."""

    name: ClassVar[str]
    settings_model: ClassVar[type[MethodSettings]]
    #: the study keys this method needs (checked at parse time with the usual error format)
    needs: ClassVar[tuple[str, ...]] = ()
    #: the study keys this method ignores, so writing them is an error
    refuses: ClassVar[tuple[str, ...]] = ()

    def check(self, settings: MethodSettings, study: Study) -> None:  # noqa: B027
        """Raise ValueError (one line) for what this method cannot honour in ``study``."""

    @abstractmethod
    def objective(self, settings: MethodSettings, study: Study) -> Objective:
        """The headline metric and mode."""

    @abstractmethod
    def start(self, settings: MethodSettings, study: Study) -> MethodRun:
        """A fresh run. Must be deterministic: a resume replays the same asks and tells."""

    def describe(self, settings: MethodSettings, study: Study) -> list[str]:
        """Lines for ``searchlab validate`` (what the run will do)."""
        return []

    def preflight(self, settings: MethodSettings, study: Study) -> None:  # noqa: B027
        """Check what the run needs on this machine (data, packages) before anything starts;
        raise ValueError with one line."""
