"""Methods: the registry the runner looks names up in (adding a method adds one line here)."""

from __future__ import annotations

from typing import Any

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


def drivers(study: Any) -> tuple[str | None, str | None]:
    """The searcher and the stopping rule that drive ``study`` (a ``Study``), None for each that
    its method does not use: a method that refuses a search block has no searcher to name, and
    none is named by default where nothing stops trials early."""
    refuses = get_method(study.method_name).refuses
    searcher = study.searcher_label if study.space is not None and "search" not in refuses else None
    stopping = None
    if "stopping" not in refuses and (searcher is not None or study.stopping_name != "fifo"):
        stopping = study.stopping_name
    return searcher, stopping


__all__ = ["REGISTRY", "Analysis", "Method", "MethodRun", "MethodSettings", "Objective",
           "TrialRequest", "TrialResources", "TrialResult", "drivers", "get_method"]
