"""User-facing errors: the CLI prints them as one short line and exits non-zero."""

from __future__ import annotations


class SearchlabError(Exception):
    """An error the user can fix; shown without a traceback (exit code 2)."""

    exit_code = 2


class SpecError(SearchlabError):
    """A study file is invalid. Names the file, the line and the key path."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str | None = None) -> None:
        self.message, self.file, self.line, self.path = message, file, line, path
        where = file or "<study>"
        if line is not None:
            where += f":{line}"
        if path:
            where += f": {path}"
        super().__init__(f"{where}: {message}")


def key_path(loc: tuple[object, ...] | list[object]) -> str:
    """('space', 'optimizer', 0) -> 'space.optimizer[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class WorkloadError(SearchlabError):
    """A workload reference does not import, or its function has the wrong signature."""


class StudyInterrupted(SearchlabError):
    """The user stopped the study (Ctrl-C, SIGTERM); it can be resumed."""

    exit_code = 130
