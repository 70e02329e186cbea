"""Resume after kill -9, for a method other than plain search (plain search: test_cli.py): the
method's run is rebuilt by replaying what it was told, no trial runs twice in MLflow, and its
stored analysis covers every trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from searchlab_testing import REPO, child_runs

pytestmark = pytest.mark.slow

CDT = """name: resume-cdt
method:
  name: cdt
  environments: [{kind: linear, arms: 120, dim: 25, horizon: 14000}]  # about a second a trial
  bandits: [linucb]
  tuners: [cdt, theoretical, op]
  seeds: 4
  chunks: 5
budget: {concurrency: 2}
"""


def test_cdt_resumes_after_sigkill_with_every_trial_told_once(tmp_path):
    study = tmp_path / "cdt.yaml"
    study.write_text(CDT)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db",
           "TUNE_GLOBAL_CHECKPOINT_S": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "searchlab", "run", str(study), "--storage",
           str(tmp_path / "store")]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    journal = tmp_path / "store" / "resume-cdt" / "method-journal.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:
        told = journal.read_text().count('"kind": "tell"') if journal.exists() else 0
        if told >= 3:
            break
        time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the study never got going: " + proc.stdout.read().decode()[-2000:])
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    told_before = journal.read_text().count('"kind": "tell"')
    assert told_before < 12, "the study finished before it could be killed"

    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "(resumed)" in r.stdout
    # a trial that ended after Tune's last checkpoint is missing from Tune's record on resume:
    # it is still counted, and its child run completed, from the method's journal
    assert "12 trials (12 completed)" in r.stdout, r.stdout[-2000:]
    client, children, parents = child_runs(env["MLFLOW_TRACKING_URI"], "resume-cdt")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    ids = [c.data.tags["searchlab.trial_id"] for c in children]
    assert len(ids) == len(set(ids)) == 12
    assert all(c.info.status == "FINISHED" for c in children)
    configs = {(c.data.params["tuner"], c.data.params["seed"]) for c in children}
    assert len(configs) == 12  # every request ran; none was lost or asked twice
    # the analysis was made from all 12 results, replayed from the journal
    path = client.download_artifacts(parents[0].info.run_id, "analysis/final_regret.json",
                                     str(tmp_path))
    rows = json.loads(open(path).read())
    assert sum(row["seeds"] for row in rows) == 12
