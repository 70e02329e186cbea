"""References to a user's code in a method block: ``"package.module:name"``, found from the
study file's directory.

A method that runs the user's own code (an environment factory, a policy network, a bandit, an
optimizer) names it in its ``method:`` block by reference, as ``workload.function`` does, and
takes a ``path`` key (:class:`CodePath`): the directory put on ``sys.path`` first, relative to
the study file like ``workload.path`` (:func:`searchlab.spec.parse.workload_dir`); by default the
study file's own directory, so a study file next to its module needs no ``path`` at all.

The three steps, each in one place:

- parse time: the settings model checks only the form of a reference (:func:`check_form`,
  :data:`REF_PATTERN`); nothing of the user's is imported, so ``searchlab validate`` stays cheap;
- before anything starts (``searchlab validate`` and ``run``): :func:`bind` makes ``path``
  absolute (so Ray workers anywhere import from the same directory), and the method's
  ``preflight`` imports each reference with :func:`load` and tries it; a failure is raised as
  ``invalid(message, "method", key)`` and :func:`located` turns it into one ``file:line`` error;
- in a trial or a pool worker: :func:`load` again, with the absolute ``path`` the trial config
  carries.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from searchlab.errors import SpecError
    from searchlab.spec.parse import LoadedStudy

#: ``package.module:name`` (dotted on both sides of the colon)
REF_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*$"
_REF = re.compile(REF_PATTERN)


class RefError(ValueError):
    """A reference that cannot be used: one line, and the study key it came from."""

    def __init__(self, message: str, *loc: str | int) -> None:
        super().__init__(message)
        self.loc = loc


class CodePath(BaseModel):
    """The ``path`` key of a method block whose other keys name the user's code."""

    path: str | None = Field(
        None, description="directory holding your modules, put first on sys.path; relative "
                          "paths start at the study file's directory (default: that directory)")


def is_ref(text: str) -> bool:
    """Whether ``text`` has the form ``package.module:name``."""
    return bool(_REF.match(text))


def check_form(text: str, what: str) -> str:
    """``text`` when it reads as ``package.module:name``; else a one-line ValueError."""
    if not is_ref(text):
        raise ValueError(f"{what} must be 'package.module:name' (a module importable from the "
                         f"study file's directory or 'path'), not {text!r}")
    return text


def code_dir(path: str | None, study_file: str) -> Path | None:
    """The absolute directory ``path`` names (None: the study file's directory; for a study
    given as text, the current directory), as :func:`~searchlab.spec.parse.workload_dir`
    resolves ``workload.path``; None when it is not a directory."""
    from searchlab.spec.parse import workload_dir

    return workload_dir(path or ".", study_file)


def import_module(module_name: str, path: str | None = None, what: str = "reference",
                  key: str | None = None) -> Any:
    """Import ``module_name`` with ``path`` first on ``sys.path``; :class:`RefError` (one line:
    which module, why, where it looked; ``loc`` the study key ``key``) when it cannot."""
    loc = (key,) if key else ()
    if path:
        if not os.path.isdir(path):
            raise RefError(f"{what}: path '{path}' is not a directory", "path")
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        return importlib.import_module(module_name)
    except ImportError as e:
        where = f" (looked in {path} and the installed packages)" if path else ""
        raise RefError(f"{what}: cannot import module '{module_name}'{where}: {e}",
                       *loc) from None
    except Exception as e:  # noqa: BLE001 - the user's module raised while importing
        raise RefError(f"{what}: importing '{module_name}' raised "
                       f"{type(e).__name__}: {first_line(e)}", *loc) from None


def load(ref: str, path: str | None = None, what: str = "reference",
         key: str | None = None) -> Any:
    """The object ``ref`` names, importing its module with ``path`` first on ``sys.path``.
    Raises :class:`RefError` with one line (which module, why, where it looked) and ``loc``
    the study key ``key`` (default: ``what``, when it is a key's name)."""
    key = key or (what if what.isidentifier() else None)
    loc = (key,) if key else ()
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise RefError(f"{what} {ref!r} is not 'package.module:name'", *loc)
    obj: Any = import_module(module_name, path, f"{what} {ref!r}", key)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise RefError(f"{what} {ref!r}: module '{module_name}' has no '{attr}'", *loc)
        obj = getattr(obj, part)
    return obj


def load_callable(ref: str, path: str | None = None, what: str = "reference",
                  key: str | None = None) -> Any:
    """:func:`load`, refusing what cannot be called."""
    obj = load(ref, path, what, key)
    if not callable(obj):
        loc = (key or what,) if (key or what).isidentifier() else ()
        raise RefError(f"{what} {ref!r} is not callable (a {type(obj).__name__})", *loc)
    return obj


def bind(loaded: LoadedStudy) -> LoadedStudy:
    """``loaded`` with its method block's ``path`` made absolute (from the study file), when the
    method's settings take one (:class:`CodePath`); unchanged otherwise. The study's hash (what
    a resume compares) is that of the file and does not change."""
    settings = loaded.study.method
    if not isinstance(settings, CodePath):
        return loaded
    found = code_dir(settings.path, loaded.document.file)
    if found is None or settings.path == str(found):
        return loaded
    study = loaded.study.model_copy(update={"method": settings.model_copy(
        update={"path": str(found)})})
    return dataclasses.replace(loaded, study=study)


def check_path(loaded: LoadedStudy) -> None:
    """A method block's ``path`` that is not a directory, as one ``file:line`` error."""
    settings = loaded.study.method
    if not isinstance(settings, CodePath) or settings.path is None:
        return
    if code_dir(settings.path, loaded.document.file) is None:
        file = loaded.document.file
        where = "" if os.path.isabs(settings.path) or file.startswith("<") else \
            f" (relative paths start at the study file's directory, {Path(file).resolve().parent})"
        raise loaded.document.error(f"path '{settings.path}' is not a directory{where}",
                                    ("method", "path"))


def located(loaded: LoadedStudy, error: ValueError) -> SpecError:
    """A method's one-line ValueError (with ``loc`` from :func:`~searchlab.methods.base.invalid`
    or :class:`RefError`) as a ``file:line`` error at that key of the study file."""
    loc = tuple(getattr(error, "loc", None) or ())
    if not loc or loc[0] != "method":
        loc = ("method", *loc) if loc else ("method",)
    return loaded.document.error(str(error), loc)


def first_line(error: BaseException) -> str:
    """The first non-empty line of an error's message (its type's name when it has none)."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
