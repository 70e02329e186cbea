"""Every command block of the README and docs/*.md runs as written in CI, or says why it cannot.

The rule:

- A *command block* is a fenced block tagged ``console``, ``sh``, ``bash`` or ``shell``, or not
  tagged at all, or a block indented by four spaces. Other text in a fence (a directory tree,
  a table a script printed) is tagged ``text``. In a block whose lines start with ``$ `` (a
  session), the ``$`` lines are the commands and the lines after each are its sample output;
  in other blocks every line that is not blank or a ``#`` comment is a command (a trailing
  ``\\`` continues it), and a ``# ...`` after the command is a remark, not part of it.
- A block that cannot run in CI is preceded by the line ``<!-- not in CI: REASON -->`` (an HTML
  comment: invisible on the rendered page), the reason in words: it installs the machine, it
  is the test suite itself, it starts a server that runs until stopped, it needs a Ray cluster
  or a cloud account, or it is a benchmark of minutes to hours (the lead reruns those).
- Every other command block runs here (slow test), in a scratch directory holding a copy of
  ``spaces/`` (what the commands name), ``searchlab`` and ``python`` being this checkout's:
  every command must exit 0, and a session's first line of sample output must be the first
  line the command prints.

The sample output itself must agree with itself and with what searchlab prints: the last
progress line's best value is the best-trial table's first value, and values have the four
significant digits the progress line and the table print.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from searchlab_testing import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND_TAGS = ("", "console", "sh", "bash", "shell")
SKIP = re.compile(r"<!--\s*not in CI:\s*(.*?)\s*-->")
#: the programs a command of these docs starts with (anything else: a block to tag `text`)
PROGRAMS = ("searchlab", "python", "python3", "bash", "nice", "ray", "pip", "git", "cat",
            "export")


@dataclass
class Block:
    file: Path
    line: int
    tag: str
    text: str
    skip: str | None  # the reason it does not run in CI

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}"

    @property
    def session(self) -> bool:
        return any(line.startswith("$ ") for line in self.text.splitlines())

    def commands(self) -> list[tuple[str, list[str]]]:
        """(command, its sample output lines) in order."""
        out: list[tuple[str, list[str]]] = []
        lines = self.text.splitlines()
        if self.session:
            for line in lines:
                if line.startswith("$ "):
                    out.append((_strip_remark(line[2:]), []))
                elif out:
                    out[-1][1].append(line)
            return out
        pending = ""
        for line in lines:
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            pending += (" " if pending else "") + (_strip_remark(line.strip()) if not pending
                                                   or _balanced(pending) else line.strip())
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip()
                continue
            if _balanced(pending):  # a quoted argument may go on over lines
                out.append((pending, []))
                pending = ""
        return out


def _balanced(command: str) -> bool:
    try:
        shlex.split(command)
        return True
    except ValueError:
        return False


def _strip_remark(command: str) -> str:
    """``cmd --x   # what it does`` -> ``cmd --x``: a ``#`` after a space, outside quotes."""
    quote = None
    for i, ch in enumerate(command):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and i and command[i - 1].isspace():
            return command[:i].rstrip()
    return command


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        text = path.read_text()
        lines = text.splitlines()
        i = 0
        while i < len(lines):
            fence = re.match(r"^```(\w*)\s*$", lines[i])
            indented = (lines[i].startswith("    ") and lines[i].strip() and i > 0
                        and not lines[i - 1].strip() and not _in_list(lines, i))
            if fence or indented:
                start = i
                if fence:
                    end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
                    body, tag = lines[i + 1:end], fence.group(1)
                else:
                    end = i
                    while end + 1 < len(lines) and (lines[end + 1].startswith("    ")
                                                    or not lines[end + 1].strip()):
                        end += 1
                    body, tag = [b[4:] for b in lines[i:end + 1]], ""
                before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()),
                              "")
                skip = SKIP.search(before)
                if tag in COMMAND_TAGS:
                    found.append(Block(path, start + 1, tag, "\n".join(body).strip("\n"),
                                       skip.group(1) if skip else None))
                i = end + 1
            else:
                i += 1
    return found


def _in_list(lines: list[str], i: int) -> bool:
    """An indented line that continues a list item or a table, not a code block."""
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    return j >= 0 and (lines[j].lstrip().startswith(("- ", "* ", "|")) or
                       re.match(r"^\s*\d+\. ", lines[j]) is not None) and \
        lines[j].startswith("  ")


ALL = blocks()
RUNNABLE = [b for b in ALL if b.skip is None]


def test_every_command_block_runs_in_ci_or_says_why_not():
    assert len(ALL) >= 20, [b.where for b in ALL]
    for block in ALL:
        assert block.commands(), f"{block.where}: a command block without a command"
        for command, _ in block.commands():
            first = command.split()[0]
            assert first in PROGRAMS or re.match(r"^[A-Z_]+=", first), (
                f"{block.where}: {command!r} is not a command; tag the block `text`")
        if block.skip is not None:
            assert len(block.skip.split()) >= 3, f"{block.where}: say why it cannot run in CI"
    assert RUNNABLE, "no command block runs in CI"


_PROGRESS = re.compile(r"^trials (\d+)/(\d+) done · (\d+) running(?: · (\d+) failed)? · "
                       r"best (\S+) (\S+)(?: \(running\))? · (\d+:\d\d)(?: \(resumed\))?$")


def test_sample_outputs_agree_with_themselves():
    """The README showed best 0.9833 while running and a table whose best was 0.9805, and a
    progress line of six significant digits where searchlab prints four."""
    checked = 0
    for block in ALL:
        for _, output in block.commands():
            progress = [m for m in map(_PROGRESS.match, output) if m]
            if not progress:
                continue
            checked += 1
            values = [m.group(6) for m in progress if m.group(6) != "-"]
            assert all(len(v.replace(".", "").lstrip("0")) <= 4 for v in values), block.where
            done = [int(m.group(1)) for m in progress]
            assert done == sorted(done), f"{block.where}: the done-count never drops"
            title = re.compile(r"^best trials of .* \(\S+, (min|max)\)")
            mode = next((m.group(1) for m in map(title.match, output) if m), None)
            bests = [float(v) for v in values]
            if mode is not None:  # finished trials' best only ever improves
                assert bests == sorted(bests, reverse=mode == "min"), (
                    f"{block.where}: the best {mode} gets worse between progress lines")
            rows = [line for line in output if line.startswith("│ ") and "…" not in line]
            if rows and progress[-1].group(6) != "-":
                top = [c.strip() for c in rows[0].split("│")][2]
                assert top == progress[-1].group(6), (
                    f"{block.where}: the last progress line's best is not the table's top row")
    assert checked, "no sample output with progress lines"


def _scratch(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    shutil.copytree(REPO / "spaces", tmp_path / "spaces")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, target in (("searchlab", f'exec "{sys.executable}" -m searchlab "$@"'),
                         ("python", f'exec "{sys.executable}" "$@"'),
                         ("python3", f'exec "{sys.executable}" "$@"')):
        (bindir / name).write_text(f"#!/bin/sh\n{target}\n")
        (bindir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p))
    return tmp_path, env


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE, ids=[b.where for b in RUNNABLE])
def test_command_blocks_run_as_written(block: Block, tmp_path: Path):
    cwd, env = _scratch(tmp_path)
    for command, sample in block.commands():
        r = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                           text=True, timeout=900)
        printed = (r.stderr + r.stdout).strip()
        assert r.returncode == 0, f"{block.where}: {command}\n{printed[-3000:]}"
        if sample:
            first = (r.stderr or r.stdout).splitlines()[0]
            assert first == sample[0], f"{block.where}: {command}: printed {first!r}"
