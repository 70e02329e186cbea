"""User-facing errors: the CLI prints them as one short line and exits non-zero."""

from __future__ import annotations

import re


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


ECHO_LIMIT = 60
"""How many characters of a value an error line echoes."""
MESSAGE_LIMIT = 300
"""How long an error message may be before the values it echoes are cut."""


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to at most ``limit`` characters (it says how long it was), so that cutting
    again changes nothing."""
    if len(text) <= limit:
        return text
    note = f"...({len(text):,} characters)"
    return text[:max(limit - len(note), 10)] + note


_N = ECHO_LIMIT + 1
_QUOTED = re.compile(f"'[^'\\n]{{{_N},}}'|\"[^\"\\n]{{{_N},}}\"")


def clip_quoted(message: str, limit: int = ECHO_LIMIT) -> str:
    """A long ``message`` with each long quoted value in it (``'...'`` or ``"..."``, the way
    ``repr`` and f-strings echo one) cut to ``limit`` characters, and then the whole cut to a few
    lines' worth: an error names a value, it does not reprint it. A message of up to
    :data:`MESSAGE_LIMIT` characters is left as it is."""
    if len(message) <= MESSAGE_LIMIT:
        return message
    out = _QUOTED.sub(lambda m: m.group(0)[0] + clip(m.group(0)[1:-1], limit) + m.group(0)[0],
                      message)
    return clip(out, MESSAGE_LIMIT)


class WorkloadError(SearchlabError):
    """A workload reference does not import, or its function has the wrong signature."""


class StudyInterrupted(SearchlabError):
    """The user stopped the study (Ctrl-C, SIGTERM); it can be resumed."""

    exit_code = 130
