"""What a finished study returns: one row per trial and the study's figures. Ray-free."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        scored = [r for r in self.rows if r.value is not None and math.isfinite(r.value)]
        if not scored:
            return None
        return (max if self.mode == "max" else min)(scored, key=lambda r: r.value)


def count(rows: list[TrialRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts
