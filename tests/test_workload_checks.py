"""Workload errors name the file, the line and the key; preflight checks run before anything
starts (issue 15)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from searchlab_testing import REPO, TESTS

from searchlab.cli import main
from searchlab.errors import WorkloadError
from searchlab.preflight import check_ready, preflight_study
from searchlab.spec.parse import load_study, parse_text

STUDY = """\
name: w
workload: {workload}
metric: {{name: loss, mode: min}}
space: {{x: {{uniform: [-1, 1]}}}}
budget: {{trials: 2}}
"""


def _validate(path, capsys) -> tuple[int, str, str]:
    rc = main(["validate", str(path)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_validate_checks_the_workload_before_saying_valid(tmp_path, capsys):
    study = tmp_path / "s.yaml"
    study.write_text(STUDY.format(workload="{function: 'test_workloads_lib:wrong_signature', "
                                           f"path: '{TESTS}'}}"))
    rc, out, err = _validate(study, capsys)
    assert rc == 2
    assert "valid study" not in out
    assert err.startswith(f"searchlab: error: {study}:2: workload.function: ")
    assert len(err.strip().splitlines()) == 1


def test_a_missing_workload_path_is_reported_as_such_with_its_line(tmp_path, capsys):
    study = tmp_path / "s.yaml"
    study.write_text(STUDY.format(workload="\n  function: 'mymod:train'\n  path: code"))
    rc, out, err = _validate(study, capsys)
    assert rc == 2
    assert f"{study}:4: workload.path: workload.path 'code' is not a directory" in err
    assert "No module named" not in err and "valid study" not in out


def test_a_misspelled_builtin_gets_a_suggestion(tmp_path, capsys):
    study = tmp_path / "s.yaml"
    study.write_text(STUDY.format(workload="digit_mlp"))
    rc, _, err = _validate(study, capsys)
    assert rc == 2
    assert err.startswith(f"searchlab: error: {study}:2: workload: ")
    assert "did you mean 'digits_mlp'?" in err


def test_workload_path_is_relative_to_the_study_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "proj" / "code").mkdir(parents=True)
    (tmp_path / "proj" / "code" / "ux_mymod.py").write_text(
        "def train(config, ctx):\n    return {'loss': config['x'] ** 2}\n")
    study = tmp_path / "proj" / "s.yaml"
    study.write_text(STUDY.format(workload="{function: 'ux_mymod:train', path: code}"))
    monkeypatch.chdir(tmp_path)  # not the study file's directory
    loaded = load_study(study)
    assert loaded.workload_path == str((tmp_path / "proj" / "code").resolve())
    rc, out, err = _validate(study, capsys)
    assert rc == 0, err
    assert "valid study" in out


def test_an_absolute_workload_path_stays_as_is():
    loaded = parse_text(STUDY.format(workload=f"{{function: 'x:y', path: '{TESTS}'}}"))
    assert loaded.workload_path == str(TESTS)


# ------------------------------------------------------------------ preflight
def _ready_when(marker: str = "", **_):
    return None if Path(marker).exists() else f"{marker} is missing"


def _workload(config, ctx, marker: str = ""):
    return {"loss": 0.0}


_workload.preflight = _ready_when  # type: ignore[attr-defined]


def test_a_workload_declares_its_preflight_check(tmp_path):
    assert check_ready(_workload, {"marker": str(tmp_path)}) is None
    assert (check_ready(_workload, {"marker": str(tmp_path / "no")})
            == f"{tmp_path / 'no'} is missing")
    assert check_ready(lambda config, ctx: None, {}) is None


def test_lcbench_without_its_data_is_one_line_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SEARCHLAB_YAHPO_DATA", str(tmp_path / "nowhere"))
    loaded = load_study(REPO / "spaces" / "lcbench_predictive.yaml")
    with pytest.raises(WorkloadError) as e:
        preflight_study(loaded)
    msg = str(e.value)
    assert "lcbench_predictive.yaml:6: workload.args: workload 'lcbench' cannot run here" in msg
    assert "SEARCHLAB_YAHPO_DATA" in msg and str(tmp_path / "nowhere") in msg
    assert "\n" not in msg


def test_lcbench_with_its_data_passes_preflight(monkeypatch):
    shared = REPO.parent / "shared" / "data" / "yahpo_data"
    data = Path(os.environ.get("SEARCHLAB_YAHPO_DATA", "/work/shared/data/yahpo_data"))
    data = data if (data / "lcbench" / "model.onnx").is_file() else shared
    if not (data / "lcbench" / "model.onnx").is_file():
        pytest.skip("the YAHPO LCBench surrogate is not here")
    monkeypatch.setenv("SEARCHLAB_YAHPO_DATA", str(data))
    preflight_study(load_study(REPO / "spaces" / "lcbench_predictive.yaml"))


# ------------------------------------------------------------------ every study file, without data
SPACES = sorted((REPO / "spaces").glob("*.yaml"))


def _cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "SEARCHLAB_YAHPO_DATA": str(cwd / "no-data"),
           "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "searchlab", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout)


def _needs_data(path: Path, tmp_path: Path, monkeypatch) -> bool:
    monkeypatch.setenv("SEARCHLAB_YAHPO_DATA", str(tmp_path / "no-data"))
    try:
        preflight_study(load_study(path))
    except WorkloadError:
        return True
    return False


@pytest.mark.parametrize("path", SPACES, ids=[p.name for p in SPACES])
def test_validate_every_study_file_without_its_data(path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEARCHLAB_YAHPO_DATA", str(tmp_path / "no-data"))
    rc, out, err = _validate(path, capsys)
    if _needs_data(path, tmp_path, monkeypatch):
        assert rc == 2 and "valid study" not in out
        assert len(err.strip().splitlines()) == 1 and str(tmp_path / "no-data") in err
    else:
        assert rc == 0, err


@pytest.mark.slow
@pytest.mark.parametrize("path", SPACES, ids=[p.name for p in SPACES])
def test_run_every_study_file_without_its_data(path, tmp_path, monkeypatch):
    """Needs preflight_study wired into `searchlab run` (the runner)."""
    if not _needs_data(path, tmp_path, monkeypatch):
        pytest.skip("needs no data: running it is the study itself")
    proc = _cli("run", str(path), "--storage", str(tmp_path / "store"), "--no-tracking",
                cwd=tmp_path, timeout=180)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-3000:]
    assert "SEARCHLAB_YAHPO_DATA" in proc.stderr
