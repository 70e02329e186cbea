"""The MLflow writer keeps one value per step of a trial: a trial sent back to an earlier step
(a PBT exploit restores another trial's older checkpoint) adds no second value at a step it
already reported, and the run says how many results were dropped that way."""

from __future__ import annotations

from types import SimpleNamespace

import mlflow
from mlflow.tracking import MlflowClient

from searchlab.tracking.writer import MLflowWriter


def _earlier_child_run(tmp_path, name: str) -> tuple[str, MlflowClient, str, str, str]:
    """A store where an earlier driver made a study's parent run and trial t1's child run:
    (uri, client, experiment id, parent run id, child run id)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment(name)
    parent = client.create_run(exp).info.run_id
    child = client.create_run(exp, tags={"mlflow.parentRunId": parent,
                                         "searchlab.trial_id": "t1"}).info.run_id
    return uri, client, exp, parent, child


def test_a_rewound_trial_keeps_one_value_per_step(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("steps")
    parent = client.create_run(exp).info.run_id
    writer = MLflowWriter(uri, exp, parent, metric="score", mode="max", max_epochs=4,
                          base_tags={}, study_dir=str(tmp_path))
    trial = SimpleNamespace(trial_id="t1", config={"q": 0.5}, last_result={}, error_file=None,
                            path=str(tmp_path), num_failures=0)
    writer.on_trial_start(0, [], trial)
    for step, score in [(1, 0.1), (2, 0.2), (3, 0.3), (2, 0.9), (3, 0.95), (4, 0.99)]:
        writer.on_trial_result(0, [], trial, {"training_iteration": step, "score": score})
        if step == 2:
            assert writer.flush()  # one step written before the rewind, the rest pending
    trial.last_result = {"training_iteration": 4, "score": 0.99}
    writer.on_trial_complete(0, [], trial)
    assert writer.close()
    child = [r for r in client.search_runs([exp]) if r.info.run_id != parent][0]
    history = client.get_metric_history(child.info.run_id, "score")
    assert sorted(m.step for m in history) == [1, 2, 3, 4]
    assert {m.step: m.value for m in history}[4] == 0.99
    assert child.data.tags["searchlab.rewound"] == "2"
    mlflow.set_tracking_uri(None)


def test_a_trial_tune_lost_after_a_kill_is_completed_from_the_methods_journal(tmp_path):
    """A trial that ended after Tune's last experiment checkpoint, just before the driver was
    killed: its child run exists (RUNNING, nothing logged yet) and Tune's record on resume lacks
    it. The method's journal (a TrialResult) fills it in; a trial already complete is untouched."""
    from searchlab.methods.base import TrialRequest, TrialResult
    from searchlab.runner import _told_but_lost

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("lost")
    parent = client.create_run(exp).info.run_id
    orphan = client.create_run(exp, tags={"mlflow.parentRunId": parent,
                                          "searchlab.trial_id": "lost1",
                                          "searchlab.status": "running"}).info.run_id
    history = [{"cum_regret": 10.0 * e, "round": 100.0 * e, "config/seed": 0.0, "epoch": float(e)}
               for e in (1, 2, 3)]
    lost = TrialResult("lost1",
                       TrialRequest(config={"tuner": "cdt", "seed": 0}, length=3, tags={"k": "v"}),
                       "completed", history[-1], history)
    kept = TrialResult("kept", TrialRequest(config={"tuner": "op", "seed": 0}, length=3),
                       "completed",
                       history[-1], history)
    in_tune = SimpleNamespace(config={"tuner": "op", "seed": 0}, metrics={"trial_id": "kept"})
    told = SimpleNamespace(results={"lost1": lost, "kept": kept}, alias={})
    assert _told_but_lost(told, [in_tune]) == [lost]
    # a fixed list of trials (PBT): Tune's trial runs a request under another id, an alias
    pbt = SimpleNamespace(config={"tuner": "op", "seed": 0}, metrics={"trial_id": "abc_00001"})
    told_pbt = SimpleNamespace(results={"lost1": lost, "req00001": kept},
                               alias={"abc_00001": "req00001"})
    assert _told_but_lost(told_pbt, [pbt]) == [lost]
    # as many trials in Tune as results told: none is lost, whatever their ids say
    assert _told_but_lost(told, [in_tune, in_tune]) == []

    writer = MLflowWriter(uri, exp, parent, metric="cum_regret", mode="min", max_epochs=3,
                          base_tags={}, study_dir=str(tmp_path))
    writer.record_told([lost])
    assert writer.close()
    run = client.get_run(orphan)
    assert run.info.status == "FINISHED" and run.data.tags["searchlab.status"] == "completed"
    steps = {m.step: m.value for m in client.get_metric_history(orphan, "cum_regret")}
    assert steps == {1: 10.0, 2: 20.0, 3: 30.0}
    assert "config/seed" not in run.data.metrics and "epoch" not in run.data.metrics
    # killed between creating the run and its first batch: its params come from the journal
    assert run.data.params == {"tuner": "cdt", "seed": "0"}
    assert len(client.search_runs([exp])) == 2  # filled in, not a second child run
    mlflow.set_tracking_uri(None)


def test_a_trial_rerun_from_epoch_one_after_a_resume_keeps_one_value_per_step(tmp_path):
    """Tune reruns a trial that an earlier driver had logged up to epoch 3 from epoch 1 (no
    checkpoint): the new driver's writer adds epochs 4-5 and no second value at epochs 1-3."""
    uri, client, exp, parent, child = _earlier_child_run(tmp_path, "rerun")
    for step in (1, 2, 3):
        client.log_metric(child, "score", 0.1 * step, step=step)
    writer = MLflowWriter(uri, exp, parent, metric="score", mode="max", max_epochs=5,
                          base_tags={}, study_dir=str(tmp_path), flush_interval=60)
    trial = SimpleNamespace(trial_id="t1", config={"q": 0.5}, last_result={}, error_file=None,
                            path=str(tmp_path), num_failures=0)
    writer.on_trial_start(0, [], trial)
    for step in range(1, 6):  # all queued before the writer first opens the run
        writer.on_trial_result(0, [], trial, {"training_iteration": step, "score": 0.5 + step})
    trial.last_result = {"training_iteration": 5, "score": 5.5}
    writer.on_trial_complete(0, [], trial)
    assert writer.close()
    history = client.get_metric_history(child, "score")
    assert sorted(m.step for m in history) == [1, 2, 3, 4, 5]
    values = {m.step: m.value for m in history}
    assert values[1] == 0.1 and values[4] == 4.5 and values[5] == 5.5
    assert client.get_run(child).info.status == "FINISHED"
    assert len(client.search_runs([exp])) == 2
    mlflow.set_tracking_uri(None)


def test_a_resumed_study_fills_in_the_params_and_steps_of_a_run_cut_after_its_creation(tmp_path):
    """The earlier driver created a trial's child run and was killed before its first batch:
    on resume, Tune's record says the trial finished; the run gets its params and every step
    from the trial's results.jsonl, once."""
    import json

    from searchlab.execution.result_log import FILE

    uri, client, exp, parent, child = _earlier_child_run(tmp_path, "cut")
    trial_dir = tmp_path / "t1"
    trial_dir.mkdir()
    (trial_dir / FILE).write_text("".join(
        json.dumps({"training_iteration": s, "score": 0.1 * s, "trial_id": "t1"}) + "\n"
        for s in (1, 2, 3)))
    result = SimpleNamespace(config={"q": 0.5}, path=str(trial_dir), error=None,
                             metrics={"trial_id": "t1", "training_iteration": 3, "score": 0.3})
    writer = MLflowWriter(uri, exp, parent, metric="score", mode="max", max_epochs=3,
                          base_tags={}, study_dir=str(tmp_path))
    writer.reconcile([result], resumed=True)
    assert writer.close()
    run = client.get_run(child)
    assert run.data.params == {"q": "0.5"}
    assert sorted(m.step for m in client.get_metric_history(child, "score")) == [1, 2, 3]
    assert len(client.search_runs([exp])) == 2
    mlflow.set_tracking_uri(None)


def test_an_interrupted_study_leaves_no_run_running_not_even_a_trial_just_started(tmp_path):
    """Ctrl-C: trials in flight end KILLED. A trial that started a moment before (younger than
    the writer's YOUNG_MS, its run not created yet) is created by the last flush: KILLED too."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("interrupted")
    parent = client.create_run(exp).info.run_id
    writer = MLflowWriter(uri, exp, parent, metric="score", mode="max", max_epochs=4,
                          base_tags={}, study_dir=str(tmp_path), flush_interval=3600)

    def trial(tid: str) -> SimpleNamespace:
        return SimpleNamespace(trial_id=tid, config={"q": 0.5}, last_result={}, error_file=None,
                               path=str(tmp_path), num_failures=0)

    old, new = trial("old"), trial("new")
    writer.on_trial_start(0, [], old)
    writer.on_trial_result(0, [], old, {"training_iteration": 1, "score": 0.1})
    assert writer.flush()  # its run exists
    writer.on_trial_start(0, [], new)  # just started: no run yet
    assert writer.close_interrupted()
    runs = {r.data.tags["searchlab.trial_id"]: r for r in client.search_runs([exp])
            if r.info.run_id != parent}
    assert set(runs) == {"old", "new"}
    assert {tid: r.info.status for tid, r in runs.items()} == {"old": "KILLED", "new": "KILLED"}
    assert {r.data.tags["searchlab.status"] for r in runs.values()} == {"interrupted"}
    mlflow.set_tracking_uri(None)
