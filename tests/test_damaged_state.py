"""Resume after a kill -9 that cut Tune's experiment_state-*.json short: the damaged state file
is set aside (kept, renamed ``.damaged``), one line says so, and the study resumes from the
earlier whole one, or where none is whole from the method's journal; no traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from searchlab_testing import REPO, child_runs

STUDY = f"""name: cut
workload: {{function: "test_workloads_lib:curve", path: "{REPO / 'tests'}"}}
metric: {{name: score, mode: max}}
space: {{q: {{uniform: [0, 1]}}}}
search: {{algorithm: random, seed: 0}}
budget: {{trials: 3, concurrency: 1, max_epochs: 2}}
"""


def _run(tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db"}
    return subprocess.run([sys.executable, "-m", "searchlab", "run", "s.yaml", "--storage",
                           "store"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def _killed_mid_write(tmp_path):
    """A finished study made to look as a kill -9 left it: marked running, and its newest
    experiment state cut in the middle of a write."""
    (tmp_path / "s.yaml").write_text(STUDY)
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    study_dir = tmp_path / "store" / "cut"
    marker = json.loads((study_dir / "searchlab.json").read_text())
    (study_dir / "searchlab.json").write_text(json.dumps({**marker, "status": "running"}))
    [state] = study_dir.glob("experiment_state-*.json")
    return study_dir, state


def test_a_cut_state_file_with_no_earlier_one_resumes_from_the_journal(tmp_path):
    study_dir, state = _killed_mid_write(tmp_path)
    text = state.read_text()
    state.write_text(text[: len(text) // 2])
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "Failed to restore" not in r.stderr, r.stderr
    said = [line for line in r.stderr.splitlines() if state.name in line]
    assert len(said) == 1 and "journal" in said[0], r.stderr
    assert state.with_name(state.name + ".damaged").read_text() == text[: len(text) // 2]
    _, children, parents = child_runs(f"sqlite:///{tmp_path}/m.db", "cut")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 3  # the finished trials kept, none run twice


def test_a_cut_state_file_is_set_aside_and_the_earlier_one_resumes(tmp_path):
    study_dir, state = _killed_mid_write(tmp_path)
    earlier = state.with_name("experiment_state-2000-01-01_00-00-00.json")  # an earlier session
    shutil.copy(state, earlier)
    text = state.read_text()
    state.write_text(text[: len(text) // 3])
    r = _run(tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr
    said = [line for line in r.stderr.splitlines() if state.name in line]
    assert len(said) == 1 and earlier.name in said[0], r.stderr
    assert state.with_name(state.name + ".damaged").read_text() == text[: len(text) // 3]
    _, children, parents = child_runs(f"sqlite:///{tmp_path}/m.db", "cut")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 3
