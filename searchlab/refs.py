"""``"package.module:name"`` references to a user's code, found like ``workload.path``.

A study file may name the user's own objects (a model class, a data function) by reference. The
code is looked up in ``path`` (a directory; relative paths start at the study file's directory,
as :func:`searchlab.spec.parse.workload_dir` finds ``workload.path``), then in the installed
packages. Every failure is a ``ValueError`` with one line saying what is wrong, for the caller to
place at the study file's line.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from searchlab.spec.parse import LoadedStudy


def is_ref(text: str) -> bool:
    """Whether ``text`` has the shape of a ``"module:name"`` reference."""
    module, sep, name = text.partition(":")
    return bool(sep and module and name) and " " not in text


def code_dir(path: str, study_file: str) -> Path:
    """``path`` as an absolute directory (relative to the study file's directory); ValueError
    when it is not a directory."""
    from searchlab.spec.parse import workload_dir

    found = workload_dir(path, study_file)
    if found is None:
        where = ("" if Path(path).is_absolute() or study_file.startswith("<") else
                 f" (relative paths start at the study file's directory, "
                 f"{Path(study_file).resolve().parent})")
        raise ValueError(f"path '{path}' is not a directory{where}")
    return found


def resolve(ref: str, study_file: str, path: str | None) -> object:
    """The object ``ref`` (``"package.module:name"``, ``name`` may be dotted) names, imported
    with ``path`` (see :func:`code_dir`) first on ``sys.path``."""
    if not is_ref(ref):
        raise ValueError(f"'{ref}' is not a reference of the form 'package.module:name'")
    where = ""
    if path is not None:
        directory = str(code_dir(path, study_file))
        if directory not in sys.path:
            sys.path.insert(0, directory)
        where = f" (looked in {directory} and the installed packages)"
    module_name, _, attr = ref.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"'{ref}': cannot import module '{module_name}'{where}: {e}") from None
    except Exception as e:  # noqa: BLE001 - the user's module raised while importing
        first = (str(e).splitlines() or [""])[0]
        raise ValueError(f"'{ref}': importing '{module_name}' raised "
                         f"{type(e).__name__}: {first}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"'{ref}': module '{module_name}' has no '{attr}'")
        obj = getattr(obj, part)
    return obj


def bind_method_path(loaded: LoadedStudy) -> LoadedStudy:
    """The study with its method's ``path`` setting (where the method has one) made absolute,
    relative to the study file, so that every later step finds the user's code wherever it runs
    from (the preflight, the method's runs, the trials on Ray workers). A ``path`` that is not a
    directory is an error at its line."""
    settings = loaded.study.method
    path = getattr(settings, "path", None) if "path" in type(settings).model_fields else None
    if not isinstance(path, str):
        return loaded
    try:
        found = str(code_dir(path, loaded.document.file))
    except ValueError as e:
        raise loaded.document.error(str(e).removeprefix("path "), ("method", "path")) from None
    if found == path:
        return loaded
    study = loaded.study.model_copy(update={"method": settings.model_copy(update={"path": found})})
    return type(loaded)(study, loaded.document)
