"""Helpers for the Deep GA tests: a pool of several in-process 'workers'."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from typing import Any

from searchlab.workloads.api import split


class SlicedPool:
    """``workers`` private caches; ``map_batches`` hands each one a contiguous slice, with the
    items and results pickled on the way as they would be between processes."""

    def __init__(self, workers: int) -> None:
        self.caches: list[dict[str, Any]] = [{} for _ in range(workers)]

    @property
    def size(self) -> int:
        return len(self.caches)

    def map(self, fn: Callable, items: Sequence) -> list:
        return self.map_batches(lambda cache, batch: [fn(cache, x) for x in batch], items)

    def map_batches(self, fn: Callable, items: Sequence) -> list:
        out: list = []
        for cache, part in zip(self.caches, split(items, self.size)):
            part = pickle.loads(pickle.dumps(part))
            out.extend(pickle.loads(pickle.dumps(fn(cache, part))))
        return out
