"""Methods: the registry the study file's ``method.name`` is looked up in (adding a method adds
one line here). Each entry is the :class:`~searchlab.methods.base.Method` subclass, in a module
that imports nothing heavy; the parser binds it to its settings (``study.method``)."""

from __future__ import annotations

from typing import Any

from searchlab.methods.base import (
    Analysis,
    FixedTrials,
    Method,
    MethodRun,
    MethodSettings,
    MethodTraits,
    Objective,
    TrialRequest,
    TrialResources,
    TrialResult,
)
from searchlab.registry import Registry

#: method name -> "module:Class" of its Method subclass, imported only when a study names it.
REGISTRY: Registry[type[Method[Any]]] = Registry("method", {
    "search": "searchlab.methods.search:SearchMethod",
    "cdt": "searchlab.methods.cdt.adapter:CDTMethod",
    "lr_free": "searchlab.methods.lr_free.method:LRFreeMethod",
    "deep_ga": "searchlab.methods.deep_ga.method:DeepGAMethod",
    "stn": "searchlab.methods.stn.method:STNMethod",
})

__all__ = ["REGISTRY", "Analysis", "FixedTrials", "Method", "MethodRun", "MethodSettings",
           "MethodTraits", "Objective", "TrialRequest", "TrialResources", "TrialResult"]
