"""Checking a study file needs no heavy package: ``searchlab validate`` on every file in spaces/
with torch and scikit-learn missing (an import hook makes them look uninstalled) says "valid" or
one line naming the package the study's workload needs; no study file's check imports Ray,
torch, scikit-learn, Optuna or MLflow. (Tried once for real in a venv without them: see the
issue 20 report.) The time and memory it takes: benchmarks/validate_cost.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from searchlab_testing import REPO

SPACES = sorted((REPO / "spaces").glob("*.yaml"))
HEAVY = ("ray", "torch", "sklearn", "optuna", "mlflow", "nevergrad")
DATA = Path(os.environ.get("SEARCHLAB_YAHPO_DATA", "/work/shared/data/yahpo_data"))

VALIDATE = """
import importlib.abc, json, runpy, sys
study, missing, heavy = sys.argv[1], set(json.loads(sys.argv[2])), set(json.loads(sys.argv[3]))

class Uninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Uninstalled())
sys.argv = ["searchlab", "validate", study]
code = 0
try:
    runpy.run_module("searchlab", run_name="__main__")
except SystemExit as e:
    code = e.code or 0
print("IMPORTED", json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy)),
      file=sys.stderr)
sys.exit(code)
"""


def _validate(path: Path, missing: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "SEARCHLAB_YAHPO_DATA": str(DATA)}
    return subprocess.run([sys.executable, "-c", VALIDATE, str(path), json.dumps(missing),
                           json.dumps(HEAVY)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120)


def _split(proc: subprocess.CompletedProcess) -> tuple[list[str], list[str]]:
    lines = proc.stderr.strip().splitlines()
    imported = json.loads(lines[-1].split(" ", 1)[1])
    return lines[:-1], imported


@pytest.mark.parametrize("path", SPACES, ids=[p.name for p in SPACES])
def test_validate_without_torch_and_scikit_learn(path, tmp_path):
    proc = _validate(path, ("torch", "sklearn"), tmp_path)
    errors, imported = _split(proc)
    assert imported == [], imported
    if proc.returncode == 0:
        assert "valid study" in proc.stdout and not errors
        return
    if path.name == "lcbench_predictive.yaml" and not (DATA / "lcbench").is_dir():
        pytest.skip("the LCBench surrogate is not here")
    assert proc.returncode == 2 and "valid study" not in proc.stdout
    assert len(errors) == 1, errors
    assert "torch" in errors[0] or "scikit-learn" in errors[0], errors[0]


def test_the_quickstart_names_the_missing_package_in_one_line(tmp_path):
    proc = _validate(REPO / "spaces" / "quickstart.yaml", ("torch", "sklearn"), tmp_path)
    errors, _ = _split(proc)
    assert proc.returncode == 2
    assert errors == [f"searchlab: error: {REPO / 'spaces' / 'quickstart.yaml'}:2: workload: "
                      "workload 'digits_mlp' cannot run here: it needs torch, which is not "
                      "installed (pip install torch)"]


@pytest.mark.parametrize("path", SPACES, ids=[p.name for p in SPACES])
def test_validate_imports_no_heavy_package(path, tmp_path):
    """With everything installed, too, checking a study file imports none of them."""
    proc = _validate(path, (), tmp_path)
    _, imported = _split(proc)
    assert imported == [], imported
