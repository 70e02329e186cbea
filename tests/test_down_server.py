"""A tracking server that is down is one line, within 15 s, before any trial starts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from searchlab_testing import free_port


def _searchlab(*args: str, cwd,
               env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    clean = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "searchlab", *args], cwd=cwd, capture_output=True,
                       text=True, env={**clean, **(env or {})}, timeout=120)
    return r, time.monotonic() - t0


def _one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in (r.stdout + r.stderr).splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("searchlab: error: "), lines
    return lines[0]


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a hung server, a black-holing proxy)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_run_with_the_tracking_server_down_is_one_line_and_starts_nothing(tmp_path, kind,
                                                                         request):
    port = free_port() if kind == "refused" else request.getfixturevalue("silent_port")
    uri = f"http://alice:s3cret@127.0.0.1:{port}"
    (tmp_path / "s.yaml").write_text(
        "name: down\nworkload: sphere\nmetric: {name: loss, mode: min}\n"
        "space: {x1: {uniform: [0, 1]}}\nbudget: {trials: 4}\n"
        f"tracking: {{uri: '{uri}'}}\n")
    r, took = _searchlab("run", "s.yaml", "--storage", "store", cwd=tmp_path)
    line = _one_line(r)
    assert took < 15, f"{took:.1f} s"
    assert f"cannot reach the MLflow tracking server at http://***@127.0.0.1:{port}" in line
    assert "s3cret" not in line and "alice" not in line
    assert ("Connection refused" if kind == "refused" else "no answer within 5 s") in line
    assert "searchlab server" in line and "--no-tracking" in line
    assert not list((tmp_path / "store").glob("down/*/results.jsonl"))  # no trial ran
    assert not (tmp_path / "store" / "down").exists()

    # the environment's URI the same; and show / dashboard too
    (tmp_path / "s.yaml").write_text(
        "name: down\nworkload: sphere\nmetric: {name: loss, mode: min}\n"
        "space: {x1: {uniform: [0, 1]}}\nbudget: {trials: 4}\n")
    r, took = _searchlab("run", "s.yaml", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert "cannot reach the MLflow tracking server" in _one_line(r) and took < 15
    for cmd in (["show", "down", "--tracking-uri", uri], ["dashboard", "--tracking-uri", uri]):
        r, took = _searchlab(*cmd, cwd=tmp_path)
        line = _one_line(r)
        assert took < 15 and "s3cret" not in line and "--tracking-uri" in line, line
