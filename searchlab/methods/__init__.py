"""Methods: the registry the runner looks names up in (adding a method adds one line here)."""

from __future__ import annotations

from searchlab.methods.base import (
    Analysis,
    Method,
    MethodRun,
    MethodSettings,
    Objective,
    TrialRequest,
    TrialResources,
    TrialResult,
)
from searchlab.registry import load

#: method name -> "module:Class" of its Method subclass, imported only when used.
REGISTRY: dict[str, str] = {
    "search": "searchlab.methods.search:SearchMethod",
    "cdt": "searchlab.methods.cdt.adapter:CDTMethod",
    "lr_free": "searchlab.methods.lr_free.method:LRFreeMethod",
    "deep_ga": "searchlab.methods.deep_ga.method:DeepGAMethod",
    "stn": "searchlab.methods.stn.method:STNMethod",
}


def get_method(name: str) -> Method:
    return load(REGISTRY[name])()


__all__ = ["REGISTRY", "Analysis", "Method", "MethodRun", "MethodSettings", "Objective",
           "TrialRequest", "TrialResources", "TrialResult", "get_method"]
