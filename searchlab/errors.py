"""User-facing errors: the CLI prints them as one short line and exits non-zero."""

from __future__ import annotations

import re
from typing import Any


class SearchlabError(Exception):
    """An error the user can fix; shown without a traceback (exit code 2)."""

    exit_code = 2

    def lines(self) -> list[str]:
        """The error as the lines the CLI prints (one, unless it gathers several)."""
        return [str(self)]


class SpecError(SearchlabError):
    """A study file is invalid. Names the file, the line and the key path."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str | None = None) -> None:
        # an echoed value's (or key's) line breaks stay on the error's line
        message, path = one_line(message), path and one_line(path)
        self.message, self.file, self.line, self.path = message, file, line, path
        where = file or "<study>"
        if line is not None:
            where += f":{line}"
        if path:
            where += f": {path}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> Any:
        return _spec_error, (type(self), self.message, self.file, self.line, self.path)


def _spec_error(cls: type[SpecError], message: str, file: str | None, line: int | None,
                path: str | None) -> SpecError:
    return cls(message, file=file, line=line, path=path)


class SpecErrors(SpecError):
    """Every error found in one study file (up to a bound), each a :class:`SpecError` with its
    own file:line, the first one's fields as this error's; ``more`` counts those past the bound.
    The CLI prints one line each."""

    def __init__(self, errors: list[SpecError], more: int = 0) -> None:
        first = errors[0]
        self.errors, self.more = list(errors), more
        self.message, self.file, self.line, self.path = (first.message, first.file, first.line,
                                                         first.path)
        self._lines = lines = [str(e) for e in self.errors]
        if more:
            lines.append(f"{first.file or '<study>'}: {more} more error(s) not shown; fix "
                         "these first")
        Exception.__init__(self, "\n".join(lines))

    def lines(self) -> list[str]:
        return list(self._lines)

    def __reduce__(self) -> Any:
        return SpecErrors, (self.errors, self.more)


#: the characters that break a line (str.splitlines) and other control characters, escaped
_BREAKS = {c: repr(chr(c))[1:-1] for c in [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]}


def one_line(text: str) -> str:
    """``text`` with its line breaks and control characters written as escapes (``\\r``)."""
    return text.translate(_BREAKS)


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
