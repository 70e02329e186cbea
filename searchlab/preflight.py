"""Checks that run before a study starts: its workload imports, takes the study's arguments,
and is ready to run here (its data is present, its optional imports are installed).

``searchlab validate`` and ``searchlab run`` call :func:`preflight_study`; a failure is one line
naming the study file, the line and the key (exit status 2), instead of every trial failing the
same way. A workload declares its own readiness check as an attribute (see
:mod:`searchlab.workloads`): ``fn.preflight(**args) -> str | None``, returning why it cannot run
here, or None.
"""

from __future__ import annotations

from typing import Any

from searchlab.errors import WorkloadError
from searchlab.spec.parse import LoadedStudy


def preflight_study(loaded: LoadedStudy) -> None:
    """Raise :class:`WorkloadError` (one line, with file:line) when the study's workload cannot
    run here, or a :class:`~searchlab.errors.SpecError` at the method's key when the method's
    own preflight (the user's code a method block names, :mod:`searchlab.refs`) fails."""
    _preflight_method(loaded)
    study = loaded.study
    workload = study.workload
    if workload is None:
        return
    from searchlab.workloads import check_signature, resolve

    try:
        fn = resolve(workload.function, loaded.workload_path)
        check_signature(fn, workload.function, workload.args)
        reason = check_ready(fn, workload.args)
    except WorkloadError as e:
        raise _located(loaded, str(e), "function") from None
    if reason:
        raise _located(loaded, f"workload '{workload.function}' cannot run here: {reason}", "args")


def _preflight_method(loaded: LoadedStudy) -> None:
    """The method's preflight, with its ``path`` resolved from the study file; a one-line
    ValueError it raises points at its key of the study file."""
    from searchlab import refs
    from searchlab.methods import get_method

    refs.check_path(loaded)
    bound = refs.bind(loaded)
    try:
        get_method(bound.study.method_name).preflight(bound.study.method, bound.study)
    except ValueError as e:
        raise refs.located(bound, e) from None


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
    loc: tuple[str, ...] = ("workload", key) if isinstance(raw, dict) and key in raw else ("workload",)
    return WorkloadError(str(loaded.document.error(message, loc)))
