"""The user's code and files that a study file names, found relative to that study file.

A study file names code as ``"package.module:name"`` (with an optional directory to import it
from, as ``workload.path`` does) and data by file path. Both are looked up the way
``workload.path`` is (:func:`searchlab.spec.parse.workload_dir`): an absolute path as it is; a
relative one from the study file's directory first, then from the current directory (the only
place for a study given as text). A reference whose directory is not given imports from the
study file's directory, so a module next to the study file needs no ``path``.

Every failure is a ``ValueError`` with one line that says what was looked for and where; the
settings models that call these functions turn it into ``file:line: key: message``.

Which study file is being read reaches a settings validator in one of two ways: pydantic's
validation context (``{"study_file": ...}``), or :func:`reading`, which the command line and the
Python API wrap around parsing a study file (:func:`study_file_of` reads either).
"""

from __future__ import annotations

import contextvars
import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_STUDY_FILE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "searchlab_study_file", default=None)


@contextmanager
def reading(study_file: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within this block, relative references resolve from ``study_file``'s directory."""
    token = _STUDY_FILE.set(None if study_file is None else str(study_file))
    try:
        yield
    finally:
        _STUDY_FILE.reset(token)


def study_file_of(context: Any = None) -> str | None:
    """The study file being read: from a pydantic validation context, else :func:`reading`."""
    if isinstance(context, dict) and context.get("study_file"):
        return str(context["study_file"])
    return _STUDY_FILE.get()


def _bases(study_file: str | None) -> list[Path]:
    """Where a relative path is looked for, in order."""
    bases = [Path.cwd()]
    if study_file and not study_file.startswith("<"):
        bases.insert(0, Path(study_file).resolve().parent)
    return bases


def study_dir(study_file: str | None) -> Path:
    """The study file's directory (the current directory for a study given as text)."""
    return _bases(study_file)[0]


def locate(path: str, study_file: str | None, *, directory: bool = False) -> Path:
    """``path`` (a file, or a directory with ``directory``) as an absolute path.

    Raises ValueError (one line) when it is not there."""
    what = "directory" if directory else "file"
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"expected a {what} path, got {path!r}")
    p = Path(os.path.expanduser(path))
    found = (p.is_dir() if directory else p.is_file())
    if p.is_absolute():
        if found:
            return p
        raise ValueError(f"{what} not found: {p}")
    candidates = [b / p for b in _bases(study_file)]
    for c in candidates:
        if (c.is_dir() if directory else c.is_file()):
            return c.resolve()
    where = " or ".join(str(b) for b in _bases(study_file))
    raise ValueError(f"{what} '{path}' not found (relative paths start at the study file's "
                     f"directory: looked in {where})")


def split(ref: str) -> tuple[str, str]:
    """``"package.module:name"`` -> (module, name); ValueError when it is not of that form."""
    module, sep, name = ref.partition(":") if isinstance(ref, str) else ("", "", "")
    if not sep or not module.strip() or not name.strip() or ":" in name:
        raise ValueError(f"'{ref}' is not a reference of the form 'package.module:name'")
    return module.strip(), name.strip()


def resolve(ref: str, study_file: str | None, path: str | None = None) -> Any:
    """The object ``ref`` (``"package.module:name"``) names, imported from ``path`` (a directory,
    relative to the study file; default: the study file's directory) or the installed packages.

    Raises ValueError (one line) when the reference is malformed, the directory is missing, the
    module does not import (or raises while importing) or has no such name."""
    split(ref)
    folder = locate(path, study_file, directory=True) if path else study_dir(study_file)
    return import_from(ref, str(folder))


def import_from(ref: str, folder: str | None) -> Any:
    """Import ``ref`` with ``folder`` (an absolute directory, or None) first on ``sys.path``;
    the trials call this with the directory the study file's reference resolved to."""
    module_name, attr = split(ref)
    if folder and folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        where = f" (looked in {folder} and the installed packages)" if folder else ""
        raise ValueError(f"'{ref}': cannot import module '{module_name}'{where}: {e}") from None
    except Exception as e:  # noqa: BLE001 - the user's module raised while importing
        raise ValueError(f"'{ref}': importing '{module_name}' raised {type(e).__name__}: "
                         f"{_first_line(e)}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"'{ref}': module '{module_name}' ({getattr(module, '__file__', '?')}) "
                         f"has no '{attr}'") from None


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0][:300] if lines else ""
