from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
from searchlab_testing import REPO, TESTS  # noqa: F401 - shared with the test modules


@pytest.fixture(scope="session")
def ray_cluster():
    """One real local Ray cluster for the whole test session (4 logical CPUs, 1 logical GPU)."""
    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    if not ray.is_initialized():
        from searchlab.execution.ray_start import init_local

        init_local(4, 1)  # as `searchlab run` starts Ray, whatever an earlier `ray start` left
    yield ray
    ray.shutdown()


@pytest.fixture
def study_file(tmp_path):
    """Write a study file from YAML text (dedented) and return its path."""

    def write(text: str, name: str = "study.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).replace("{TESTS}", str(TESTS))
                     .replace("{TMP}", str(tmp_path)))
        return p

    return write


@pytest.fixture
def mlflow_uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def run_in_process(ray_cluster, tmp_path, mlflow_uri):
    """Run a study in this process on the session's Ray cluster."""
    from searchlab.runner import RunOptions, run_study
    from searchlab.spec.parse import load_study

    def run(path: Path, tracking: bool = True, **kw):
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_uri
        try:
            loaded = load_study(path)
            opts = RunOptions(storage=str(tmp_path / "store"), quiet=True, tracking=tracking, **kw)
            return run_study(loaded, opts, out=sys.stderr)
        finally:
            os.environ.pop("MLFLOW_TRACKING_URI", None)

    return run
