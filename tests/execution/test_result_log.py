"""Each trial's results on disk (results.jsonl), read back for a resume."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from searchlab.execution.result_log import FILE, TrialResultLog, read_results


def test_results_are_appended_and_read_back(tmp_path):
    trial = SimpleNamespace(path=str(tmp_path / "t1"), local_path=str(tmp_path / "staging"))
    log = TrialResultLog()
    log.on_trial_result(0, [], trial, {"loss": np.float32(0.5), "training_iteration": 1,
                                       "config": {"x": 1}})
    log.on_trial_result(0, [], trial, {"loss": 0.25, "training_iteration": 2, "tag": object()})
    rows = read_results(trial.path)  # the storage copy, not the staging one
    assert [r["training_iteration"] for r in rows] == [1, 2]
    assert rows[0]["loss"] == 0.5 and isinstance(rows[0]["loss"], float)
    assert rows[0]["config"] == {"x": 1}
    assert isinstance(rows[1]["tag"], str)


def test_a_line_cut_by_a_kill_is_skipped(tmp_path):
    (tmp_path / FILE).write_text('{"loss": 1.0, "training_iteration": 1}\n{"loss": 0.')
    assert read_results(str(tmp_path)) == [{"loss": 1.0, "training_iteration": 1}]
    assert read_results(str(tmp_path / "missing")) == []
    assert read_results(None) == []
