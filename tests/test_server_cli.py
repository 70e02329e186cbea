"""`searchlab server`'s checks before anything starts: beyond loopback only with a login (or an
explicit --insecure), --auth only with users, users files read with file:line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from searchlab.errors import SearchlabError
from searchlab.server import read_users


def _server(*args: str, cwd, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_AUTH_")}
    return subprocess.run([sys.executable, "-m", "searchlab", "server", *args], cwd=cwd,
                          env={**clean, **(env or {})}, capture_output=True, text=True,
                          timeout=120)


def _one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("searchlab: error: "), lines
    return lines[0]


def test_binding_beyond_loopback_needs_auth_or_insecure(tmp_path):
    line = _one_line(_server("--host", "0.0.0.0", "--port", "9", cwd=tmp_path))
    assert "--auth" in line and "--insecure" in line and "0.0.0.0" in line
    assert not (tmp_path / ".searchlab").exists()  # nothing was started or made


def test_auth_needs_users_and_they_never_come_from_the_command_line(tmp_path):
    line = _one_line(_server("--auth", "--port", "9", cwd=tmp_path))
    assert "--users FILE" in line and "MLFLOW_AUTH_ADMIN_PASSWORD" in line
    line = _one_line(_server("--users", str(tmp_path / "u"), "--port", "9", cwd=tmp_path))
    assert "--users is for --auth" in line
    line = _one_line(_server("--auth", "--users", str(tmp_path / "missing"), "--port", "9",
                             cwd=tmp_path))
    assert "missing" in line and "No such file" in line


def test_users_file(tmp_path):
    f = tmp_path / "users"
    f.write_text("# admin first\nroot:pw:with:colons\n\n  alice : s3cret \n")
    assert read_users(str(f)) == [("root", "pw:with:colons"), ("alice", " s3cret")]
    f.write_text("root:pw\nbob\n")
    with pytest.raises(SearchlabError, match=r"users:2: expected name:password"):
        read_users(str(f))
    f.write_text("# nobody\n")
    with pytest.raises(SearchlabError, match="no users"):
        read_users(str(f))
