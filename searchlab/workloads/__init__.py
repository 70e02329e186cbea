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

from searchlab.workloads.api import Context, WorkloadFn, iterate

#: built-in workload name -> "module:function", imported only when used.
BUILTIN: dict[str, str] = {
    "digits_mlp": "searchlab.workloads.digits:digits_mlp",
    "sphere": "searchlab.workloads.analytic:sphere",
    "rosenbrock": "searchlab.workloads.analytic:rosenbrock",
    "branin": "searchlab.workloads.analytic:branin",
    "rastrigin": "searchlab.workloads.analytic:rastrigin",
    "sphere_curve": "searchlab.workloads.analytic:sphere_curve",
    "lcbench": "searchlab.workloads.lcbench:lcbench",
    "replay": "searchlab.workloads.replay:replay",
}

__all__ = ["BUILTIN", "Context", "WorkloadFn", "iterate"]


def resolve(function: str, path: str | None = None) -> WorkloadFn:
    """A workload reference -> the function. Raises WorkloadError with a clear reason."""
    import os
    import sys

    from searchlab.errors import WorkloadError

    if path and not os.path.isdir(path):
        raise WorkloadError(f"workload '{function}': workload.path '{path}' is not a directory")
    if path and path not in sys.path:
        sys.path.insert(0, path)
    ref = BUILTIN.get(function, function)
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise WorkloadError(f"workload '{function}' is neither a built-in{_suggest(function)} "
                            f"(built-ins: {', '.join(BUILTIN)}) nor 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        where = f" (looked in {path} and the installed packages)" if path else ""
        raise WorkloadError(f"workload '{function}': cannot import module '{module_name}'"
                            f"{where}: {e}") from None
    except Exception as e:  # noqa: BLE001 - the user's module raised while importing
        raise WorkloadError(f"workload '{function}': importing '{module_name}' raised "
                            f"{type(e).__name__}: {e}") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise WorkloadError(f"workload '{function}': module '{module_name}' has no '{attr}'")
    if not callable(fn):
        raise WorkloadError(f"workload '{function}': '{attr}' is not a function")
    return fn


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


def _suggest(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, BUILTIN, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
