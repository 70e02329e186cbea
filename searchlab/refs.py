"""The user's code and files that a study file names, found relative to that study file.

A study file names code as ``"package.module:name"`` (a user's optimizer class, workload
function, model, environment, bandit, ...) and data by file path. Both are looked up the way
``workload.path`` is (:func:`searchlab.spec.parse.workload_dir`): an absolute path as it is; a
relative one from the study file's directory first, then from the current directory (the only
place for a study given as text).

Where a reference's module is looked for, first to last:

1. the directory its settings give (a method's ``path``, a bandit's ``path``), absolute or
   relative to the study file;
2. otherwise the study file's own directory, so a module next to the study file needs no
   ``path``;
3. the installed packages and ``PYTHONPATH``.

The directory goes to the front of ``sys.path``, as ``workload.path`` does: at the preflight
(``searchlab validate`` and before ``searchlab run`` starts anything; :class:`Reference`), and in
every trial's process (the runner hands the trials the study's code directory,
:func:`study_code_dir`).

Every failure is a ``ValueError`` with one line that says what was looked for and where; the
settings models and the preflight turn it into ``file:line: key: message``.

Which study file is being read reaches a settings validator as pydantic's validation context
(``{"study_file": ...}``, which the parser passes) or through :func:`reading`, which the command
line and the Python API wrap around their work (:func:`study_file_of` reads either).
"""

from __future__ import annotations

import contextvars
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RefError", "Reference", "code_dir", "first_line", "import_module", "import_ref",
           "is_ref", "load", "locate", "reading", "resolve", "split", "study_code_dir",
           "study_dir", "study_file_of"]

_STUDY_FILE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "searchlab_study_file", default=None)


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
        return f"{self.what} '{self.ref}': {_first_line(reason)}" if reason else None


# ---------------------------------------------------------------- which study file is read
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


# ---------------------------------------------------------------- paths
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

    def there(c: Path) -> bool:
        return c.is_dir() if directory else c.is_file()

    if p.is_absolute():
        if there(p):
            return p
        raise ValueError(f"{what} not found: {p}")
    for c in (b / p for b in _bases(study_file)):
        if there(c):
            return c.resolve()
    where = " or ".join(str(b) for b in _bases(study_file))
    raise ValueError(f"{what} '{path}' not found (relative paths start at the study file's "
                     f"directory: looked in {where})")


def code_dir(study_file: str, path: str | None = None) -> Path | None:
    """The directory references of a study resolve from: ``path`` (relative to the study file),
    else the study file's directory; None when ``path`` is given but is not a directory."""
    if not path:
        return study_dir(study_file)
    try:
        return locate(path, study_file, directory=True)
    except ValueError:
        return None


def study_code_dir(loaded: Any) -> str | None:
    """The code directory of a loaded study (:class:`searchlab.spec.parse.LoadedStudy`): its
    ``workload.path`` when it has a workload, else its method's code path
    (:meth:`~searchlab.methods.base.MethodSettings.code_path`), else the study file's
    directory."""
    study = loaded.study
    if study.workload is not None:
        return str(loaded.workload_path) if loaded.workload_path else None
    found = code_dir(loaded.document.file, study.method.settings.code_path())
    return str(found) if found is not None else None


# ---------------------------------------------------------------- references
def split(ref: str) -> tuple[str, str]:
    """``"package.module:name"`` -> (module, name); ValueError when it is not of that form."""
    module, sep, name = ref.partition(":") if isinstance(ref, str) else ("", "", "")
    if not sep or not module.strip() or not name.strip() or ":" in name:
        raise ValueError(f"'{ref}' is not a reference of the form 'package.module:name'")
    return module.strip(), name.strip()


def is_ref(text: str) -> bool:
    """Whether ``text`` reads as ``"package.module:name"``."""
    try:
        split(text)
    except ValueError:
        return False
    return True


def import_module(module_name: str, directory: str | os.PathLike[str] | None = None,
                  ref: str | None = None) -> Any:
    """The module ``module_name``, with ``directory`` (if any) first on ``sys.path``.
    ValueError with one line (``'<ref>': ...``) when it cannot be imported."""
    ref = ref or module_name
    if directory is not None and str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    try:
        return importlib.import_module(module_name)
    except ImportError as e:
        where = f" (looked in {directory} and the installed packages)" if directory else ""
        raise ValueError(f"'{ref}': cannot import module '{module_name}'{where}: "
                         f"{_line(e)}") from None
    except Exception as e:  # noqa: BLE001 - the user's module raised while importing
        raise ValueError(f"'{ref}': importing '{module_name}' raised {type(e).__name__}: "
                         f"{_line(e)}") from None


def import_ref(ref: str, directory: str | os.PathLike[str] | None = None) -> Any:
    """The object ``ref`` names (``name`` may be dotted: ``module:Class.factory``), with
    ``directory`` (if any) first on ``sys.path``; the trials call this with the directory the
    study file's reference resolved to. ValueError with one line when it cannot be imported."""
    module_name, attr = split(ref)
    module = import_module(module_name, directory, ref)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"'{ref}': module '{module_name}' "
                             f"({getattr(module, '__file__', '?')}) has no '{attr}'")
        obj = getattr(obj, part)
    return obj


class RefError(ValueError):
    """A reference a settings key names that cannot be used: one line, and ``loc``, that key
    within the method block (``("env",)``), as :attr:`Reference.loc` gives it; the method's
    preflight turns it into ``file:line``. Code that runs the user's objects (a Deep GA
    environment factory, policy, behaviour function) raises it wherever they fail, so a trial's
    error reads as the preflight's would."""

    def __init__(self, message: str, *loc: str | int) -> None:
        super().__init__(message)
        self.loc = loc


def load(ref: str, directory: str | os.PathLike[str] | None = None, key: str | None = None,
         *, call: bool = False) -> Any:
    """:func:`import_ref` for the settings key ``key`` (``"policy"``): a :class:`RefError` at
    that key, ``"<key> '<ref>': why"``, when it cannot be imported (or, with ``call``, is not
    callable)."""
    what = f"{key} " if key else ""
    loc = (key,) if key else ()
    try:
        obj = import_ref(ref, directory)
    except ValueError as e:
        raise RefError(f"{what}{e}", *loc) from None
    if call and not callable(obj):
        raise RefError(f"{what}'{ref}' is not callable (a {type(obj).__name__})", *loc)
    return obj


def resolve(ref: str, study_file: str | None, path: str | None = None) -> Any:
    """The object ``ref`` names, imported from ``path`` (a directory, relative to the study file;
    default: the study file's directory) or the installed packages.

    Raises ValueError (one line) when the reference is malformed, the directory is missing, the
    module does not import (or raises while importing) or has no such name."""
    split(ref)
    folder = locate(path, study_file, directory=True) if path else study_dir(study_file)
    return import_ref(ref, folder)


def first_line(error: BaseException) -> str:
    """The first line of an error's message (at most 300 characters; its type's name when the
    message is empty), for one-line errors."""
    return _line(error)


def _first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return (lines[0] if lines else "")[:300]


def _line(e: BaseException) -> str:
    return _first_line(str(e)) or type(e).__name__
