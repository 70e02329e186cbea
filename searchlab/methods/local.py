"""Drive a method in this process, without Ray or MLflow: for tests and notebooks.

``run_local(study)`` asks the study's method (``study.method``) for trials, calls each workload
directly (serially, with the in-process pool), tells the run every result and returns the run's
analysis with every result. It honours each request's ``length`` and workload, and decides
statuses the way the Ray adapter does (completed, diverged, failed); there is no scheduler, so
nothing is stopped early. Use it to test a method end to end in a second; the Ray adapter is
tested separately.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from searchlab.methods.base import Analysis, TrialResult
from searchlab.workloads.api import Context, Pool, SerialPool, iterate


@dataclass
class LocalRun:
    results: list[TrialResult] = field(default_factory=list)
    analysis: Analysis = field(default_factory=Analysis)


def run_local(study: Any, *, seed: int = 0, max_trials: int = 100_000, pool: Pool | None = None,
              study_workload: Any = None) -> LocalRun:
    """Run the study's method (a ``Study``'s ``method`` binding) to the end in this process.
    ``study_workload`` overrides the study's own workload function (for requests with
    ``workload=None``)."""
    from searchlab.workloads import resolve

    objective = study.method.objective(study)
    run = study.method.start(study)
    out = LocalRun()
    n = 0
    while not run.done and n < max_trials:
        tid = f"t{n:05d}"
        request = run.ask(tid)
        if request is None:
            break  # serial: nothing is running, so the run is waiting on nothing
        n += 1
        if study_workload is not None and request.workload is None:
            fn = study_workload
        else:
            ref = request.workload or study.workload.ref
            fn = resolve(ref, None if request.workload else study.workload.path)
        ctx = Context(max_epochs=request.length, seed=(seed * 100_003 + n) % 2**31,
                      pool=pool or SerialPool(), trial_id=tid)
        history: list[dict[str, float]] = []
        status, error = "completed", None
        try:
            for epoch, metrics in enumerate(
                    iterate(fn(dict(request.config), ctx, **request.args)), 1):
                row = {**{k: v for k, v in metrics.items()}, "epoch": epoch}
                history.append(row)
                value = row.get(objective.metric)
                if isinstance(value, (int, float)) and not math.isfinite(value):
                    status = "diverged"
                    break
                if epoch >= request.length:
                    break
        except Exception as e:  # noqa: BLE001 - a failed trial is a result like any other
            status, error = "failed", f"{type(e).__name__}: {e}"
        result = TrialResult(tid, request, status, dict(history[-1]) if history else {},
                             history, error)
        out.results.append(result)
        run.tell(tid, result)
    out.analysis = run.summarize(out.results)
    return out
