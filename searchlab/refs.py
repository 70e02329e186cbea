"""``"package.module:name"`` references that a study file's method settings name (a user's
optimizer class, workload function, model, environment, ...), resolved the way ``workload.path``
is: relative to the study file.

Where a reference's module is looked for, first to last:

1. the method's ``path`` (if its settings have one): a directory, absolute or relative to the
   study file's directory (from the current directory when it exists only there, as
   ``workload.path``; see :func:`searchlab.spec.parse.workload_dir`);
2. otherwise the study file's own directory (the current directory for a study given as text);
3. the installed packages and ``PYTHONPATH``.

The directory goes to the front of ``sys.path``, as ``workload.path`` does: here, at the
preflight (``searchlab validate`` and before ``searchlab run`` starts anything), and in every
trial's process (the runner hands it to the trials as the study's code directory).

``resolve`` raises ``ValueError`` with one line (what, where it looked, why); the preflight adds
the study file, the line and the key.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Reference", "code_dir", "import_ref", "is_ref", "resolve", "study_code_dir"]


@dataclass(frozen=True)
class Reference:
    """One reference a method's settings name, for the preflight: where it is in the method
    block (``loc``, e.g. ``("optimizers", 2, "ref")``), the reference, what it is (for the
    message: "workload", "optimizer") and a ``check`` of the imported object that returns why it
    cannot be used (one line) or None."""

    loc: tuple[str | int, ...]
    ref: str
    what: str
    check: Callable[[Any], str | None] | None = None

    def problem(self, directory: str | os.PathLike[str] | None) -> str | None:
        """Why this reference cannot be used (one line), or None."""
        try:
            obj = import_ref(self.ref, directory)
        except ValueError as e:
            return f"{self.what} {e}"
        if self.check is None:
            return None
        try:
            reason = self.check(obj)
        except Exception as e:  # noqa: BLE001 - a check that crashes says why as well as it can
            reason = f"its check raised {type(e).__name__}: {_line(e)}"
        return f"{self.what} '{self.ref}': {_line_of(reason)}" if reason else None


def is_ref(text: str) -> bool:
    """Whether ``text`` reads as ``"package.module:name"`` (a colon with text on both sides)."""
    module, sep, attr = text.partition(":")
    return bool(sep and module.strip() and attr.strip())


def code_dir(study_file: str, path: str | None = None) -> Path | None:
    """The directory references of a study resolve from (see the module docstring); None when
    ``path`` is given but is not a directory."""
    if path:
        from searchlab.spec.parse import workload_dir

        return workload_dir(path, study_file)
    if study_file.startswith("<"):
        return Path.cwd()
    return Path(study_file).resolve().parent


def study_code_dir(loaded: Any) -> str | None:
    """The code directory of a loaded study (:class:`searchlab.spec.parse.LoadedStudy`): its
    ``workload.path`` when it has a workload, else its method's ``path`` setting, else the study
    file's directory."""
    study = loaded.study
    if study.workload is not None:
        return loaded.workload_path
    found = code_dir(loaded.document.file, study.method.settings.code_path())
    return str(found) if found is not None else None


def _on_path(directory: str | os.PathLike[str] | None) -> None:
    if directory is not None and str(directory) not in sys.path:
        sys.path.insert(0, str(directory))


def import_ref(ref: str, directory: str | os.PathLike[str] | None = None) -> Any:
    """The object ``ref`` names, with ``directory`` (if any) put first on ``sys.path``.
    ValueError with one line when it cannot be imported."""
    if not is_ref(ref):
        raise ValueError(f"'{ref}' is not a reference of the form 'package.module:name'")
    module_name, _, attr = ref.partition(":")
    module_name, attr = module_name.strip(), attr.strip()
    _on_path(directory)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        where = f" (looked in {directory} and the installed packages)" if directory else ""
        raise ValueError(f"'{ref}': cannot import module '{module_name}'{where}: "
                         f"{_line(e)}") from None
    except Exception as e:  # noqa: BLE001 - the user's module raised while importing
        raise ValueError(f"'{ref}': importing '{module_name}' raised {type(e).__name__}: "
                         f"{_line(e)}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"'{ref}': module '{module_name}' has no '{attr}'")
        obj = getattr(obj, part)
    return obj


def resolve(ref: str, study_file: str, path: str | None = None) -> Any:
    """The object ``ref`` names, looked up from the study file's code directory (see the module
    docstring). ValueError with one line."""
    directory = code_dir(study_file, path)
    if path and directory is None:
        raise ValueError(f"path '{path}' is not a directory (relative paths start at the study "
                         "file's directory)")
    return import_ref(ref, directory)


def _line_of(text: str) -> str:
    lines = str(text).strip().splitlines()
    return (lines[0] if lines else "")[:300]


def _line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]
