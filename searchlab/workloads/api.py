"""The workload protocol: what a function must look like for searchlab to train it.

A workload is a plain Python function that knows nothing about Ray::

    def my_workload(config: dict, ctx: Context) -> Iterator[dict[str, float]]:
        model = build(config)
        state = ctx.restored            # None, or what an earlier ctx.checkpoint() saved
        start = state["epoch"] + 1 if state else 1
        for epoch in range(start, ctx.max_epochs + 1):
            loss = train_one_epoch(model, device=ctx.device)
            ctx.checkpoint({"epoch": epoch, "model": model.state_dict()})   # optional
            yield {"loss": loss}

It yields one dict of metrics per epoch (the runner adds the epoch number), or returns a single
dict when there is nothing to iterate (analytic test functions). ``config`` is a flat dict: every
parameter of the space under its own name; a conditional choice holds the chosen option's name,
and the option's own parameters appear as ``"<choice>.<option>.<param>"`` (for example
``"optimizer.sgd.momentum"``), so names never collide and every trial has the same key set for the
branch it took.

``ctx.pool`` evaluates many items in parallel on the trial's workers (``resources.workers`` in
the study file, or a method's per-trial resources): ``ctx.pool.map(fn, items)`` calls
``fn(cache, item)`` for every item and returns the results in order; ``ctx.pool.map_batches(fn,
items)`` hands each worker one contiguous slice, ``fn(cache, batch) -> list``, for batched work.
``cache`` is a dict private to each worker that lives as long as the trial, so a network or a data
set is built once per worker. Without workers (and when a workload is called alone in a test) the
pool runs the same calls in the calling process. Functions given to a pool must be importable
module-level functions (they cross process boundaries by reference).

``ctx.checkpoint(state)`` stores any picklable state (tensors included) with the next yielded
metrics; schedulers that pause trials (PBT, Hyperband) and a resumed study hand it back as
``ctx.restored``. A workload that never checkpoints simply restarts from epoch 1 when resumed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, Union

Metrics = Mapping[str, float]
WorkloadResult = Union[Iterator[Metrics], Metrics]
WorkloadFn = Callable[[dict[str, Any], "Context"], WorkloadResult]


ARTIFACTS = "artifacts"  # under the trial's directory: files that go to MLflow with the trial
T = TypeVar("T")
R = TypeVar("R")


class Pool(Protocol):
    """Parallel evaluation over a trial's workers (see the module docstring)."""

    @property
    def size(self) -> int:
        """The number of workers (1 for the in-process pool)."""
        ...

    def map(self, fn: Callable[[dict[str, Any], T], R], items: Sequence[T]) -> list[R]: ...

    def map_batches(self, fn: Callable[[dict[str, Any], list[T]], list[R]],
                    items: Sequence[T]) -> list[R]: ...


class SerialPool:
    """The pool without workers: every call runs here, with one cache that lives as long as the
    pool. What a workload gets when it has no workers, or is called alone in a test."""

    def __init__(self, device: str = "cpu") -> None:
        self.cache: dict[str, Any] = {"worker_index": 0, "node_id": "local", "device": device}

    @property
    def size(self) -> int:
        return 1

    def map(self, fn: Callable[[dict[str, Any], T], R], items: Sequence[T]) -> list[R]:
        return [fn(self.cache, item) for item in items]

    def map_batches(self, fn: Callable[[dict[str, Any], list[T]], list[R]],
                    items: Sequence[T]) -> list[R]:
        items = list(items)
        return list(fn(self.cache, items)) if items else []


def split(items: Sequence[T], parts: int) -> list[list[T]]:
    """``items`` in ``parts`` contiguous slices of near-equal size (empty slices dropped)."""
    items = list(items)
    n = max(1, min(parts, len(items)))
    base, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + base + (1 if i < extra else 0)
        if end > start:
            out.append(items[start:end])
        start = end
    return out


@dataclass
class Context:
    """What a workload gets besides its configuration."""

    device: str = "cpu"
    """"cuda" when the trial was given a GPU and CUDA is present, otherwise "cpu"."""
    max_epochs: int = 1
    """How many epochs the study allows this trial (budget.max_epochs)."""
    seed: int = 0
    """A per-trial seed derived from the study seed and the trial's index."""
    restored: Any = None
    """The state passed to the last ``checkpoint`` call before a pause or crash, else None."""
    trial_dir: str | None = None
    """A private directory for the trial's own files."""
    pool: Pool = field(default_factory=SerialPool)
    """Parallel evaluation on the trial's workers (in-process when it has none)."""
    trial_id: str = "0"
    """The trial's id (as in MLflow's ``searchlab.trial_id`` tag)."""
    _pending: list[Any] = field(default_factory=list, repr=False)

    def artifact(self, name: str, data: str | bytes) -> str | None:
        """Keep a file with the trial's record (an MLflow artifact of its child run, under
        ``trial/``). Returns its path, or None when the trial has no directory (alone in a test)."""
        import os

        if not self.trial_dir:
            return None
        folder = os.path.join(self.trial_dir, ARTIFACTS)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, os.path.basename(name))
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return path

    def checkpoint(self, state: Any) -> None:
        """Save ``state`` together with the metrics the workload yields next."""
        self._pending[:] = [state]

    def take_checkpoint(self) -> tuple[bool, Any]:
        """Runner side: the state saved since the last call, if any."""
        if not self._pending:
            return False, None
        state = self._pending.pop()
        return True, state


def iterate(result: WorkloadResult) -> Iterator[Metrics]:
    """A workload's output as an iterator of per-epoch metric dicts."""
    if isinstance(result, Mapping):
        return iter([result])
    return result
