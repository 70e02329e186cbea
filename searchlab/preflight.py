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
    run here. Studies whose method brings its own workloads have nothing to check here."""
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


def preflight_method(loaded: LoadedStudy) -> None:
    """The method's own check of what it needs here (a user's model and data for STN), with the
    study file's line of the key it names (``methods.base.invalid``); SpecError."""
    from searchlab.methods import get_method

    study = loaded.study
    try:
        get_method(study.method_name).preflight(study.method, study)
    except ValueError as e:
        loc = getattr(e, "loc", None) or (("method",) if "method" in study.written else ())
        raise loaded.document.error(str(e), tuple(loc)) from None


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
