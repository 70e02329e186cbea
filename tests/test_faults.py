"""Faults a trial can meet: hangs, a killed worker, metrics never reported; and secrets."""

from __future__ import annotations

import pytest
from searchlab_testing import child_runs

pytestmark = pytest.mark.slow


def test_hung_trial_is_stopped_at_its_time_limit(study_file, run_in_process, mlflow_uri):
    result = run_in_process(study_file("""
        name: hang
        workload: {function: "test_workloads_lib:hangs", path: "{TESTS}"}
        metric: {name: loss, mode: min}
        space: {x1: {grid: [0.2, 0.9]}}
        search: {algorithm: grid}
        budget: {max_epochs: 2, trial_timeout: 8s}
    """))
    assert {r.config["x1"]: r.status for r in result.rows} == {0.2: "completed", 0.9: "timed_out"}
    client, children, parents = child_runs(mlflow_uri, "hang")
    hung = [c for c in children if c.data.params["x1"] == "0.9"][0]
    assert hung.data.tags["searchlab.status"] == "timed_out" and hung.info.status == "FAILED"
    assert "time limit" in hung.data.tags["searchlab.error"]
    assert parents[0].info.status == "FINISHED"


def test_killed_worker_resumes_from_checkpoint_one_run(study_file, run_in_process, mlflow_uri,
                                                       tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    result = run_in_process(study_file(f"""
        name: killed
        workload: {{function: "test_workloads_lib:killed_once", path: "{{TESTS}}", args: {{marker_dir: "{marks}"}}}}
        metric: {{name: loss, mode: min}}
        space: {{x1: {{grid: [0.5]}}}}
        search: {{algorithm: grid}}
        budget: {{max_epochs: 5, retries: 1}}
    """))  # noqa: E501 (the study file's workload line)
    assert [r.status for r in result.rows] == ["completed"]
    starts = sorted(p.name.split("-")[1] for p in marks.glob("start-*"))
    assert starts == ["1", "3"]
    client, children, _ = child_runs(mlflow_uri, "killed")
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    history = client.get_metric_history(children[0].info.run_id, "loss")
    assert [m.step for m in history] == [1, 2, 3, 4, 5]


def test_metric_never_reported_stops_the_study_at_the_first_trial(study_file, run_in_process,
                                                                   mlflow_uri):
    from searchlab.errors import SearchlabError

    path = study_file("""
        name: nometric
        workload: {function: "test_workloads_lib:no_metric", path: "{TESTS}"}
        metric: {name: accuracy_, mode: max}
        space: {x1: {uniform: [0, 1]}}
        budget: {trials: 20, concurrency: 1}
    """)
    with pytest.raises(SearchlabError) as e:
        run_in_process(path)
    assert "never 'accuracy_'" in str(e.value) and "did you mean 'accuracy'" in str(e.value)
    client, children, parents = child_runs(mlflow_uri, "nometric")
    assert len(children) <= 2  # stopped at the first, not after all 20
    assert "never 'accuracy_'" in children[0].data.tags["searchlab.error"]
    assert parents[0].info.status == "FAILED"


def test_trial_log_is_an_artifact(study_file, run_in_process, mlflow_uri):
    run_in_process(study_file("""
        name: logs
        workload: {function: "test_workloads_lib:prints", path: "{TESTS}"}
        metric: {name: loss, mode: min}
        space: {x1: {uniform: [0, 1]}}
        budget: {trials: 2}
    """))
    client, children, _ = child_runs(mlflow_uri, "logs")
    for c in children:
        path = client.download_artifacts(c.info.run_id, "trial/trial.log")
        assert "hello from trial x1=" in open(path).read()


def test_secrets_in_tracking_uri_never_reach_mlflow(study_file, run_in_process, mlflow_uri,
                                                    tmp_path):
    path = study_file("""
        name: secret
        workload: sphere
        metric: {name: loss, mode: min}
        space: {x1: {uniform: [0, 1]}}
        budget: {trials: 1}
        description: "mirror at https://alice:hunter2@example.invalid/x"
    """)
    run_in_process(path)
    client, children, parents = child_runs(mlflow_uri, "secret")
    text = open(client.download_artifacts(parents[0].info.run_id, "study.yaml")).read()
    assert "hunter2" not in text and "https://***@example.invalid/x" in text
    everything = [parents[0], *children]
    for r in everything:
        blob = repr(r.data.params) + repr(r.data.tags)
        assert "hunter2" not in blob
