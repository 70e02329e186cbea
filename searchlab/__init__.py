"""searchlab: hyperparameter and evolutionary search on Ray Tune, tracked in MLflow.

``searchlab.run(study, **options)`` runs a study (a dict, YAML text or a file path) and
``searchlab.load(name)`` reads a finished one back from MLflow as a DataFrame,
``searchlab.load_tables(name)`` its method's analysis tables (see
:mod:`searchlab.api`). They are imported on first use, so ``import searchlab`` stays light.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load", "load_tables", "results_frame", "run"]

_API = ("run", "load", "load_tables", "results_frame")


def __getattr__(name: str) -> Any:
    if name in _API:
        from searchlab import api

        return getattr(api, name)
    raise AttributeError(f"module 'searchlab' has no attribute '{name}'")
