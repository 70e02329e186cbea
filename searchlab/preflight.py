"""Checks that run before a study starts: its workload imports, takes the study's arguments,
and is ready to run here (its data is present, its optional imports are installed).

``searchlab validate`` and ``searchlab run`` call :func:`preflight_study`; a failure is one line
naming the study file, the line and the key (exit status 2), instead of every trial failing the
same way. A workload declares its own readiness check as an attribute (see
:mod:`searchlab.workloads`): ``fn.preflight(**args) -> str | None``, returning why it cannot run
here, or None.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from searchlab.errors import WorkloadError

if TYPE_CHECKING:
    from searchlab.spec.parse import LoadedStudy

#: import name -> the package to install, where they differ
PACKAGES = {"sklearn": "scikit-learn", "ale_py": "ale-py"}


def missing(*modules: str) -> str | None:
    """Why something that imports ``modules`` cannot run here (the first one that is not
    installed, and how to install it), or None. Nothing is imported."""
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            package = PACKAGES.get(module, module)
            return f"it needs {package}, which is not installed (pip install {package})"
    return None


def preflight_study(loaded: LoadedStudy) -> None:
    """Raise a one-line error (with file:line) when the study cannot run here: its method's own
    check (:meth:`Method.preflight`: the packages and data it needs), the ``"module:name"``
    references its settings name, then the workload's."""
    study = loaded.study
    try:
        study.method.preflight(study)
    except ValueError as e:
        loc = getattr(e, "loc", None) or (("method",) if "method" in study.written else ())
        raise loaded.document.error(f"method '{study.method.name}' cannot run here: {e}",
                                    loc) from None
    method_references(loaded)
    workload = study.workload
    if workload is None:
        return
    from searchlab.workloads import check_signature, resolve

    try:
        fn = resolve(workload.ref, loaded.workload_path, workload.function)
        check_signature(fn, workload.function, workload.args)
        reason = check_ready(fn, workload.args)
    except WorkloadError as e:
        raise _located(loaded, str(e), "function") from None
    if reason:
        raise _located(loaded, f"workload '{workload.function}' cannot run here: {reason}", "args")


def method_references(loaded: LoadedStudy) -> None:
    """Resolve every reference the method's settings list (``settings.references()``, see
    :class:`searchlab.refs.Reference`) from the study's code directory and run its check; the
    first that fails is one line with the study file, the line and the key."""
    from searchlab.refs import study_code_dir

    settings = loaded.study.method.settings
    references = settings.references()
    if not references:
        return
    settings_path = settings.code_path()
    directory = study_code_dir(loaded)
    if settings_path and directory is None:
        raise WorkloadError(str(loaded.document.error(
            f"path '{settings_path}' is not a directory (relative paths start at the study "
            "file's directory)", ("method", "path"))))
    for ref in references:
        problem = ref.problem(directory)
        if problem:
            raise WorkloadError(str(loaded.document.error(problem, ("method", *ref.loc))))


def check_ready(fn: Any, args: dict[str, Any]) -> str | None:
    """The workload's own preflight check, if it declares one: why it cannot run, or None."""
    check = getattr(fn, "preflight", None)
    if check is None:
        return None
    try:
        reason = check(**args)
    except Exception as e:  # noqa: BLE001 - a check that crashes says why as well as it can
        return f"its preflight check raised {type(e).__name__}: {e}"
    return str(reason).splitlines()[0] if reason else None


def _located(loaded: LoadedStudy, message: str, key: str) -> WorkloadError:
    """The message prefixed with the study file, the line and the key of the workload."""
    raw = loaded.document.data.get("workload")
    loc: tuple[str, ...] = (("workload", key) if isinstance(raw, dict) and key in raw
                            else ("workload",))
    return WorkloadError(str(loaded.document.error(message, loc)))
