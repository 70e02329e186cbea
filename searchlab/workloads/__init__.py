"""Workloads: built-in names, and resolution of a user's ``package.module:function``.

A workload may declare a preflight check, run by ``searchlab validate`` and before a study starts
(see :mod:`searchlab.preflight`)::

    def train(config, ctx, dataset="small"): ...

    def _ready(dataset="small", **args):      # the study's workload args, as keywords
        if not Path(f"data/{dataset}").is_dir():
            return f"data/{dataset} is missing; run scripts/get_data.sh"   # one line: why not
        return None                           # ready

    train.preflight = _ready
"""

from __future__ import annotations

import importlib

from searchlab.registry import Registry
from searchlab.workloads.api import Context, WorkloadFn, iterate

#: built-in workload name -> "module:function", imported only when a trial runs it (the study
#: file parser resolves a name to its reference: ``study.workload.ref``).
BUILTIN: Registry[WorkloadFn] = Registry("workload", {
    "digits_mlp": "searchlab.workloads.digits:digits_mlp",
    "sphere": "searchlab.workloads.analytic:sphere",
    "rosenbrock": "searchlab.workloads.analytic:rosenbrock",
    "branin": "searchlab.workloads.analytic:branin",
    "rastrigin": "searchlab.workloads.analytic:rastrigin",
    "sphere_curve": "searchlab.workloads.analytic:sphere_curve",
    "lcbench": "searchlab.workloads.lcbench:lcbench",
    "replay": "searchlab.workloads.replay:replay",
})

__all__ = ["BUILTIN", "Context", "WorkloadFn", "iterate"]


def resolve(ref: str, path: str | None = None, name: str | None = None) -> WorkloadFn:
    """A ``"module:function"`` reference -> the function (``path``: a directory to put on
    ``sys.path`` first; ``name``: the workload as the study file wrote it, for messages).
    Raises WorkloadError with a clear reason."""
    import os
    import sys

    from searchlab.errors import WorkloadError

    name = name or ref

    if path and not os.path.isdir(path):
        raise WorkloadError(f"workload '{name}': workload.path '{path}' is not a directory")
    if path and path not in sys.path:
        sys.path.insert(0, path)
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise WorkloadError(f"workload '{name}' is not 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        where = f" (looked in {path} and the installed packages)" if path else ""
        raise WorkloadError(f"workload '{name}': cannot import module '{module_name}'"
                            f"{where}: {e}") from None
    except Exception as e:  # noqa: BLE001 - the user's module raised while importing
        raise WorkloadError(f"workload '{name}': importing '{module_name}' raised "
                            f"{type(e).__name__}: {e}") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise WorkloadError(f"workload '{name}': module '{module_name}' has no '{attr}'")
    if not callable(fn):
        raise WorkloadError(f"workload '{name}': '{attr}' is not a function")
    return fn  # type: ignore[no-any-return]


def check_signature(fn: WorkloadFn, function: str, args: dict) -> None:
    """Fail early when ``fn(config, ctx, **args)`` cannot be called."""
    import inspect

    from searchlab.errors import WorkloadError

    try:
        inspect.signature(fn).bind({}, Context(), **args)
    except TypeError as e:
        raise WorkloadError(f"workload '{function}' must accept (config, ctx"
                             f"{', ' + ', '.join(args) if args else ''}): {e}") from None
    except ValueError:
        pass  # builtins without a signature: let the call decide
