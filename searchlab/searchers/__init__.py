"""Searchers: the registry the study file's ``search.algorithm`` is looked up in.

Each searcher is one module with its own translation of the search space and a
:class:`~searchlab.searchers.base.SearcherFactory`; adding one is a module and one line here.
Every algorithm enters through Ray Tune's searcher code (variant generation, ``OptunaSearch``,
``NevergradSearch``).
"""

from __future__ import annotations

from searchlab.registry import load
from searchlab.searchers.base import SearchContext, SearcherFactory, Suggester

#: algorithm name -> "module:Class" of its SearcherFactory, imported only when used.
REGISTRY: dict[str, str] = {
    "random": "searchlab.searchers.variants:RandomFactory",
    "grid": "searchlab.searchers.variants:GridFactory",
    "optuna": "searchlab.searchers.optuna:OptunaFactory",
    "nevergrad": "searchlab.searchers.nevergrad:NevergradFactory",
}


def get_searcher(name: str) -> SearcherFactory:
    return load(REGISTRY[name])()


__all__ = ["REGISTRY", "SearchContext", "SearcherFactory", "Suggester", "get_searcher"]
