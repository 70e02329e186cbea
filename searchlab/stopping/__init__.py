"""Stopping rules: the registry the study file's ``stopping.scheduler`` is looked up in."""

from __future__ import annotations

from typing import Any

from searchlab.registry import Registry
from searchlab.stopping.base import (
    Scheduler,
    SchedulerContext,
    SchedulerTraits,
    StoppingSettings,
)

#: scheduler name -> "module:Class" of its Scheduler, imported only when a study names it.
REGISTRY: Registry[type[Scheduler[Any]]] = Registry("stopping", {
    "fifo": "searchlab.stopping.builtin:FIFO",
    "asha": "searchlab.stopping.builtin:ASHA",
    "hyperband": "searchlab.stopping.builtin:Hyperband",
    "median": "searchlab.stopping.builtin:Median",
    "pbt": "searchlab.stopping.builtin:PBT",
    "predictive": "searchlab.predictive.factory:Predictive",
})

__all__ = ["REGISTRY", "Scheduler", "SchedulerContext", "SchedulerTraits", "StoppingSettings"]
