"""What the MLflow writer holds for one trial until MLflow has it: params, metrics, tags, the
trial's end and its files; taken out in one piece for a write or the spill file, and put back in
front when a write fails or spilled records are read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)  # one per trial, kept for the whole study: small
class TrialRecord:
    trial_id: str
    run_id: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)  # key, value, ms, step
    tags: dict[str, str] = field(default_factory=dict)
    start_ms: int = 0
    end: tuple[str, int] | None = None  # (mlflow status, end ms)
    artifacts: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    max_step: int = 0  # highest step already in MLflow (resume: skip what is there)
    seen_step: int = 0  # highest step this writer has taken, written or not
    rewound: int = 0  # results dropped because the trial went back to an earlier step (PBT)
    finished: bool = False  # the trial's end was seen by this writer

    def pending(self) -> bool:
        return bool(self.params or self.metrics or self.tags or self.end or self.artifacts
                    or self.texts)

    def take_pending(self) -> dict[str, Any]:
        """Everything pending, as JSON-able data; the record is left with nothing pending."""
        out = {"trial_id": self.trial_id, "params": self.params, "metrics": self.metrics,
               "tags": self.tags, "end": self.end, "artifacts": self.artifacts,
               "texts": self.texts, "start_ms": self.start_ms}
        self.params, self.metrics, self.tags, self.end = {}, [], {}, None
        self.artifacts, self.texts = [], {}
        return out

    def put_back(self, rec: dict[str, Any]) -> None:
        """Records taken earlier go back in front of what came since (they are older)."""
        self.params = {**rec["params"], **self.params}
        self.metrics[:0] = [tuple(m) for m in rec["metrics"]]
        self.tags = {**rec["tags"], **self.tags}
        end = rec["end"]
        self.end = self.end or (tuple(end) if end else None)  # type: ignore[assignment]
        self.finished = self.finished or end is not None
        self.artifacts[:0] = rec["artifacts"]
        self.texts = {**rec["texts"], **self.texts}
        self.start_ms = self.start_ms or rec.get("start_ms", 0)
