"""The method extension point: an ask/tell protocol that knows nothing of Ray.

A method decides *which trials to run*. It is selected in the study file with
``method: {name: ..., ...settings}``; plain search (``search``, the default) is a method like any
other. Each method lives in ``searchlab/methods/<name>/`` (or one module) and provides a
:class:`Method` subclass, registered by name in :data:`searchlab.methods.REGISTRY`:

- ``settings_model``: a pydantic model of its ``method:`` block (validated when the study file is
  parsed); the parser binds the class to its settings, so ``study.method`` *is* the method, and
  ``self.settings`` is typed as the method's own settings (``Method[S]`` holds an ``S``);
- ``TRAITS`` (:class:`MethodTraits`): what the method uses of the study file. From them, and only
  there, the parser requires the keys the method needs and refuses every key it would ignore;
- :meth:`Method.check`, which raises ``ValueError`` with one line for anything else in the study
  it cannot honour;
- :meth:`Method.start`, which returns a :class:`MethodRun`.

The module that defines the :class:`Method` subclass must import no heavy package (Ray, torch,
scikit-learn, Optuna, MLflow): validating a study file imports it. Its run may import them.

A run is driven by one adapter (``searchlab.execution``) through Ray Tune::

    run = study.method.start(study)
    while not run.done:
        request = run.ask(trial_id)        # a TrialRequest, or None: nothing to start right now
        ...                                # Tune runs it; schedulers may stop it early
        run.tell(trial_id, result)         # a TrialResult, as each trial ends
    analysis = run.summarize(results)      # tables, figures and headline metrics for MLflow

``ask`` may return None while it waits for results (a generation of a GA, a calibration phase);
the adapter asks again after the next ``tell``. Once ``done`` is true and no trial runs, the study
ends. A resumed study replays every ``ask`` and ``tell`` the run saw (in order) on a fresh run
object before asking for more, so runs need no pickling: they must only be deterministic given
the same sequence of calls. The fresh run first hears which requests it asked before
(:meth:`MethodRun.resume`), which lets a study go on with a larger budget: its run proposes the
same trials again, then new ones. A run whose trials are a list known from its settings subclasses
:class:`FixedTrials`.

Workloads are named by reference (``"module:function"``), so every request stays plain JSON-able
data that Tune can store in its experiment state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from searchlab.registry import Binding, Settings

if TYPE_CHECKING:
    from searchlab.refs import Reference
    from searchlab.spec.models import Study


class MethodSettings(Settings):
    """Base for a method's settings block; unknown keys are errors."""

    def code_path(self) -> str | None:
        """The directory the settings' ``"module:name"`` references resolve from (its ``path``
        key, relative to the study file), for methods that take one; None: the study file's
        directory (see :mod:`searchlab.refs`)."""
        return None

    def references(self) -> list[Reference]:
        """Every ``"module:name"`` reference these settings name (the user's code), for the
        preflight: each is imported and checked before anything starts."""
        return []


S = TypeVar("S", bound=MethodSettings)


@dataclass(frozen=True)
class MethodTraits:
    """What a method uses of the study file, declared once on its class.

    The parser derives every requirement and refusal from these (``searchlab.spec.parse``):
    a key the method would ignore is an error with its file and line, never silently dropped.
    """

    #: its trials run the study's ``workload`` (then it is required; else it is refused)
    runs_workload: bool = False
    #: it names its own objective (:meth:`Method.objective`): ``metric`` is refused; else the
    #: study's ``metric`` is its objective and is required
    owns_objective: bool = True
    #: ``metric`` may list several objectives (their Pareto front is reported)
    several_metrics: bool = False
    #: whether it needs the study's ``space``, may take one, or has no use for it
    space: Literal["required", "optional", "refused"] = "refused"
    #: it samples ``space`` with the study's searcher: ``search`` (and ``budget.trials``) apply
    #: when a space is given; without one, it lists its own trials and both are refused
    takes_searcher: bool = False
    #: each trial is one configuration reporting once per epoch, up to ``budget.max_epochs``;
    #: else its trials have lengths of their own and ``budget.max_epochs`` is only the horizon
    #: of a ``stopping`` rule (refused without one)
    epoch_trials: bool = False
    #: it can list every trial before any result: schedulers that take no searcher (PBT) run
    #: such a list; with a method that asks as results come in they are refused
    enumerates_trials: bool = True
    #: its trials are not configurations scored epoch by epoch (bandit runs, GA runs, benchmark
    #: cells): its stored analysis replaces the dashboard's generic trial panels
    draws_own_analysis: bool = False
    #: its trials (without a searcher) do not depend on one another's results, so running them
    #: at once changes no result: where the study file does not write ``budget.concurrency``,
    #: as many run at once as the Ray cluster has room for (``Study.concurrency_by_cores``)
    independent_trials: bool = False
    #: settings of its block that only add trials (more seeds, more repeats): raising one
    #: continues a study, its finished trials kept (see :mod:`searchlab.continuation`); its run
    #: then matches the trials asked before to its longer list (:meth:`MethodRun.resume`)
    budget_settings: tuple[str, ...] = ()


def invalid(message: str, *loc: str | int) -> ValueError:
    """A ValueError for :meth:`Method.check` that points at a key of the study file
    (``invalid("remove budget.trials", "budget", "trials")``)."""
    error = ValueError(message)
    error.loc = loc  # type: ignore[attr-defined]
    return error


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


#: Parent-run tags of a study whose method's analysis is its result (``MethodTraits.
#: draws_own_analysis``: its trials differ in workload, environment, seed, ... so a best-trial
#: view would rank values on different scales). The runner sets them from the analysis
#: (:meth:`Analysis.lead_tags`); the closing summary and ``searchlab show`` then print the
#: analysis's text in place of the best-trial table, and the dashboard leads with its table and
#: figures ("Result") instead of the generic trial panels.
LEAD_TAG = "searchlab.lead"  # "analysis"
LEAD_TABLE_TAG = "searchlab.lead_table"  # the stored table that leads
LEAD_FIGURES_TAG = "searchlab.lead_figures"  # the stored figures that lead, comma-separated
HEADLINE_TAG = "searchlab.headline"  # one line: the result, where a best value would stand


def leads(tags: dict[str, str]) -> bool:
    """Whether a study's parent-run ``tags`` say that its method's analysis is its result."""
    return tags.get(LEAD_TAG) == "analysis"


@dataclass
class Analysis:
    """A method's summary of the whole study, stored on the study's parent MLflow run.

    ``metrics``: headline numbers (logged as parent-run metrics). ``tables``: name -> JSON-able
    data (``analysis/<name>.json``). ``figures``: name -> a Plotly figure as a dict
    (``fig.to_dict()``, ``analysis/<name>.plotly.json``), which the dashboard draws. ``tags``:
    parent-run tags. ``text``: a short human-readable report (``analysis/summary.md``), printed
    after the study. For a method whose analysis is the study's result (``draws_own_analysis``):
    ``lead_table`` and ``lead_figures`` name what the dashboard draws first, ``headline`` is one
    line of the result (see :data:`LEAD_TAG`).
    """

    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    text: str = ""
    lead_table: str | None = None
    lead_figures: tuple[str, ...] = ()
    headline: str | None = None

    def __bool__(self) -> bool:
        return bool(self.metrics or self.tables or self.figures or self.tags or self.text)

    def lead_tags(self) -> dict[str, str]:
        """The parent-run tags that say this analysis leads (see :data:`LEAD_TAG`)."""
        tags = {LEAD_TAG: "analysis"}
        if self.lead_table:
            tags[LEAD_TABLE_TAG] = self.lead_table
        if self.lead_figures:
            tags[LEAD_FIGURES_TAG] = ",".join(self.lead_figures)
        if self.headline:
            tags[HEADLINE_TAG] = self.headline[:5000]
        return tags


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

    def resume(self, asked: Sequence[TrialRequest]) -> None:  # noqa: B027 - optional hook
        """The study goes on from an earlier run (resumed after an interruption, or continued
        with a larger budget): ``asked`` are the requests it asked for before, in order. Called
        once on a fresh run, before those asks and their results are replayed into it (``ask``
        once per request, ``tell`` per result, in the order they happened). A run whose asks
        are the same on every start needs nothing here; a run whose proposals depend on its
        budget uses it to propose exactly these again (plain search hands them to its searcher
        as known points, which it then learns from), or to find them in a longer list."""

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


class FixedTrials(MethodRun):
    """A run whose trials are a list known from the settings: asked in order, one per ``ask``.

    Subclasses pass the requests and write :meth:`summarize`; the list is the same on every
    start, as a resume needs."""

    def __init__(self, requests: Sequence[TrialRequest]) -> None:
        self.requests = list(requests)
        self.asked = 0

    def ask(self, trial_id: str) -> TrialRequest | None:
        if self.done:
            return None
        self.asked += 1
        return self.requests[self.asked - 1]

    def resume(self, asked: Sequence[TrialRequest]) -> None:
        """The trials asked before come first, in their order, each matched to the same config
        in the list (a list that grew, with more seeds say, keeps its earlier trials and runs
        only the rest); one not in the list any more keeps its place as it was asked."""
        rest = list(self.requests)
        first: list[TrialRequest] = []
        for request in asked:
            i = next((i for i, r in enumerate(rest) if r.config == request.config), None)
            first.append(rest.pop(i) if i is not None else request)
        self.requests = first + rest

    @property
    def done(self) -> bool:
        return self.asked >= len(self.requests)

    @property
    def total(self) -> int:
        return len(self.requests)


class Method(Binding[S], ABC):
    """One method bound to its settings (``self.settings``), selected in the study file by
    ``method: {name: ..., ...settings}``. Subclasses declare ``name``, ``settings_model`` (the
    class of ``S``) and ``TRAITS``."""

    settings_model: ClassVar[type[Settings]]
    #: what the method uses of the study file (see :class:`MethodTraits`)
    TRAITS: ClassVar[MethodTraits] = MethodTraits()

    @property
    def traits(self) -> MethodTraits:
        return self.TRAITS

    def check(self, study: Study) -> None:  # noqa: B027 - optional hook
        """Raise ValueError (one line; :func:`invalid` to point at a key) for what this method
        cannot honour in ``study`` beyond what its traits say."""

    @abstractmethod
    def objective(self, study: Study) -> Objective:
        """The headline metric and mode."""

    @abstractmethod
    def start(self, study: Study) -> MethodRun:
        """A fresh run. Must be deterministic: a resume replays the same asks and tells."""

    def describe(self, study: Study) -> list[str]:
        """Lines for ``searchlab validate`` (what the run will do); builds nothing heavy."""
        return []

    def trial_seconds(self, study: Study) -> float | None:
        """The compute time of all the study's trials together, in seconds on one core of this
        machine (timed on a sample, before anything starts), or None where the method cannot
        tell; ``searchlab run`` divides it by the trials at once for the expected length it says
        at start."""
        return None

    def preflight(self, study: Study) -> None:  # noqa: B027 - optional hook
        """Check what the run needs on this machine (data, packages) before anything starts;
        raise ValueError with one line."""
