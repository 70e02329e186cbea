"""Stopping rules: the registry the study file's ``stopping.scheduler`` is looked up in."""

from __future__ import annotations

from searchlab.registry import load
from searchlab.stopping.base import (
    BuiltScheduler,
    SchedulerContext,
    SchedulerFactory,
    StoppingSettings,
)

#: scheduler name -> "module:Class" of its SchedulerFactory, imported only when used.
REGISTRY: dict[str, str] = {
    "fifo": "searchlab.stopping.builtin:FIFO",
    "asha": "searchlab.stopping.builtin:ASHA",
    "hyperband": "searchlab.stopping.builtin:Hyperband",
    "median": "searchlab.stopping.builtin:Median",
    "pbt": "searchlab.stopping.builtin:PBT",
    "predictive": "searchlab.predictive.factory:PredictiveFactory",
}


def get_factory(name: str) -> SchedulerFactory:
    return load(REGISTRY[name])()


__all__ = ["REGISTRY", "BuiltScheduler", "SchedulerContext", "SchedulerFactory", "StoppingSettings", "get_factory"]
