"""Methods: the registry the runner looks names up in (adding a method adds one line here)."""

from __future__ import annotations

from searchlab.methods.base import Method, MethodSettings, TrialPlan
from searchlab.registry import load

#: method name -> "module:Class" of its Method subclass, imported only when used.
REGISTRY: dict[str, str] = {
    "search": "searchlab.methods.search:SearchMethod",
    "cdt": "searchlab.methods.cdt.adapter:CDTMethod",
    "stn": "searchlab.methods.stn.method:STNMethod",
}


def get_method(name: str) -> Method:
    return load(REGISTRY[name])()


__all__ = ["REGISTRY", "Method", "MethodSettings", "TrialPlan", "get_method"]
