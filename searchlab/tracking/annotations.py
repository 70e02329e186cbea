"""Driver-side annotations: how schedulers and methods add to the MLflow record.

Code that runs in the driver process (a scheduler's decisions, a searcher's state) calls
:func:`annotate` or :func:`annotate_study`; the single MLflow writer drains the queue in batches,
so nothing but the writer ever talks to MLflow. Calls are cheap and never raise.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field

_QUEUE: queue.SimpleQueue[Annotation] = queue.SimpleQueue()


@dataclass(frozen=True)
class Annotation:
    trial_id: str | None  # None: the study's parent run
    step: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # artifact file name -> content


def annotate(
    trial_id: str,
    *,
    step: int | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Add metrics (at ``step``) and tags to the MLflow child run of Ray Tune trial ``trial_id``."""
    _QUEUE.put(Annotation(trial_id, step, dict(metrics or {}), dict(tags or {})))


def annotate_study(
    *,
    step: int | None = None,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    texts: dict[str, str] | None = None,
) -> None:
    """Add metrics, tags or small text artifacts to the study's parent run."""
    _QUEUE.put(Annotation(None, step, dict(metrics or {}), dict(tags or {}), dict(texts or {})))


def drain(limit: int = 10_000) -> list[Annotation]:
    """Writer side: everything queued so far (up to ``limit`` items)."""
    items: list[Annotation] = []
    while len(items) < limit:
        try:
            items.append(_QUEUE.get_nowait())
        except queue.Empty:
            break
    return items
