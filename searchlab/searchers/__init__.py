"""Searchers: the registry the study file's ``search.algorithm`` is looked up in.

Each searcher is one module with its own translation of the search space and a
:class:`~searchlab.searchers.base.Searcher` subclass with its settings model; adding one is a
module and one line here. Every algorithm enters through Ray Tune's searcher code (variant
generation, ``OptunaSearch``, ``NevergradSearch``).
"""

from __future__ import annotations

from typing import Any

from searchlab.registry import Registry
from searchlab.searchers.base import SearchContext, Searcher, SearchSettings, Suggester

#: algorithm name -> "module:Class" of its Searcher, imported only when a study names it.
REGISTRY: Registry[type[Searcher[Any]]] = Registry("search algorithm", {
    "random": "searchlab.searchers.variants:RandomSearch",
    "grid": "searchlab.searchers.variants:GridSearch",
    "optuna": "searchlab.searchers.optuna:OptunaSearch",
    "nevergrad": "searchlab.searchers.nevergrad:NevergradSearch",
})

__all__ = ["REGISTRY", "SearchContext", "SearchSettings", "Searcher", "Suggester"]
