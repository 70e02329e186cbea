"""What a finished study returns: one row per trial and the study's figures. Ray-free."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from searchlab.methods.base import Analysis


@dataclass
class TrialRow:
    trial_id: str
    status: str
    value: float | None
    epochs: int
    config: dict[str, Any]
    run_id: str | None = None
    error: str | None = None
    #: every metric the trial reported, its latest value (the headline one included)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class StudyResult:
    name: str
    metric: str
    mode: str
    rows: list[TrialRow]
    elapsed_s: float
    tracking_uri: str | None
    experiment_id: str | None
    parent_run_id: str | None
    study_dir: Path
    resumed: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    pending_tracking: int = 0  # records MLflow could not take yet (kept on disk)
    analysis: Analysis = field(default_factory=Analysis)
    #: with several objectives: the trial ids on the Pareto front of the completed trials
    pareto: list[str] = field(default_factory=list)
    objectives: tuple[tuple[str, str], ...] = ()  # (metric, mode) each, when several

    @property
    def best(self) -> TrialRow | None:
        ranked = rank_rows(self.rows, self.mode)
        return ranked[0] if ranked else None

    def to_dataframe(self) -> Any:
        """The trials as a pandas DataFrame (see :func:`searchlab.api.results_frame`)."""
        from searchlab.api import results_frame

        return results_frame(self)

    def tables(self) -> dict[str, Any]:
        """The method's analysis tables as pandas DataFrames, by name (see
        :func:`searchlab.api.table_frames`)."""
        from searchlab.api import table_frames

        return table_frames(self.analysis.tables)


def count(rows: list[TrialRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


T = TypeVar("T")

TIE_BREAK = "fewer epochs, then the trial id"
"""How trials of the same value are ordered, everywhere a study's best trials are named."""


def best_first(items: Iterable[T], mode: str, *, value: Callable[[T], Any],
               epochs: Callable[[T], Any], trial_id: Callable[[T], str]) -> list[T]:
    """``items`` with a finite value, best first: by value, then (:data:`TIE_BREAK`) fewer
    epochs, the same value reached with less, then the trial id. The one order of the results
    table, a method's summary line, ``searchlab show`` and the progress display, so that they
    name the same best trial."""
    def finite(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    sign = -1.0 if mode == "max" else 1.0
    scored = [i for i in items if finite(value(i))]
    return sorted(scored, key=lambda i: (sign * float(value(i)),
                                         float(epochs(i)) if finite(epochs(i)) else math.inf,
                                         str(trial_id(i))))


def rank_rows(rows: Iterable[TrialRow], mode: str) -> list[TrialRow]:
    """Trial rows with a value, best first (see :func:`best_first`)."""
    return best_first(rows, mode, value=lambda r: r.value, epochs=lambda r: r.epochs,
                      trial_id=lambda r: r.trial_id)
