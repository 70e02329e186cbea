"""The command line as a user meets it: one-line errors, validate, run, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from searchlab_testing import REPO, child_runs


def searchlab(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300):
    return subprocess.run([sys.executable, "-m", "searchlab", *args], capture_output=True,
                          text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=timeout)


@pytest.mark.parametrize("text, message", [
    ("name: x\nworkload: sphere\nmetric: {name: loss, mode: min}\nspace: {x1: {unifrom: [0, 1]}}\n"
     "budget: {trials: 2}\n",
     "bad.yaml:4: space.x1.unifrom: unknown parameter kind 'unifrom'; did you mean 'uniform'?"),
    ("name: x\nworkload: nosuch.module:fn\nmetric: {name: loss, mode: min}\n"
     "space: {x1: {uniform: [0, 1]}}\n"
     "budget: {trials: 2}\n", "workload 'nosuch.module:fn': cannot import module 'nosuch.module'"),
    ("name: x\nworkload: {function: 'test_workloads_lib:wrong_signature', path: '"
     + str(REPO / "tests") + "'}\nmetric: {name: loss, mode: min}\n"
     "space: {x1: {uniform: [0, 1]}}\nbudget: {trials: 2}\n",
     "must accept (config, ctx)"),
    ("name: x\nworkload: digits_mlps\nmetric: {name: loss, mode: min}\n"
     "space: {x1: {uniform: [0, 1]}}\nbudget: {trials: 2}\n", "neither a built-in"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_input_is_one_line_no_traceback_nothing_started(text, message, command, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    r = searchlab(command, str(p), env={"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db"},
                  cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr + r.stdout
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("searchlab: error: "), r.stderr
    assert message in lines[0]
    assert not (tmp_path / "m.db").exists()  # no MLflow run was started
    assert not (tmp_path / ".searchlab").exists()  # nor a study directory


def test_missing_file_and_no_gpu():
    r = searchlab("run", "/nonexistent/study.yaml")
    assert r.returncode == 2 and "file not found" in r.stderr and "Traceback" not in r.stderr


def test_validate_prints_space_and_plan():
    r = searchlab("validate", str(REPO / "spaces" / "quickstart.yaml"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "valid study 'quickstart'" in out
    assert "optimizer: one of sgd, adam" in out and "if optimizer = sgd:" in out
    assert "32, 2 at a time, up to 20 epochs each" in out


def test_unwritable_storage_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    study = tmp_path / "s.yaml"
    study.write_text("name: s\nworkload: sphere\nmetric: {name: loss, mode: min}\n"
                     "space: {x1: {uniform: [0, 1]}}\nbudget: {trials: 1}\n"
                     "tracking: {enabled: false}\n")
    if os.geteuid() == 0:  # root ignores permissions; a file in the way is unwritable for everyone
        (tmp_path / "file").write_text("x")
        locked = tmp_path / "file" / "sub"
    r = searchlab("run", str(study), "--storage", str(locked))
    assert r.returncode == 2 and "is not writable" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_resume_after_sigkill_keeps_finished_trials_and_one_run_each(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    study = tmp_path / "resume.yaml"
    study.write_text(f"""name: resume
workload: {{function: "test_workloads_lib:curve", path: "{REPO / 'tests'}", args: {{marker_dir: "{marks}", sleep: 0.3}}}}
metric: {{name: score, mode: max}}
space: {{q: {{uniform: [0, 1]}}}}
search: {{algorithm: optuna, seed: 0}}
budget: {{trials: 10, concurrency: 2, max_epochs: 4}}
""")  # noqa: E501 (the study file's workload line)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db",
           "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    cmd = [sys.executable, "-m", "searchlab", "run", str(study), "--storage",
           str(tmp_path / "store")]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            start_new_session=True)
    store = tmp_path / "store" / "resume"
    deadline = time.time() + 240
    while time.time() < deadline:  # wait until some trials have finished
        finished = [p for p in store.glob("*/results.jsonl") if p.read_text().count("\n") >= 4]
        if len(finished) >= 3:
            break
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the study never got going: " + proc.stdout.read().decode()[-2000:])
    time.sleep(1.5)  # let Tune checkpoint its experiment state
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    runs_before = len(list(marks.iterdir()))
    assert 3 <= runs_before < 10 + 2

    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "(resumed)" in r.stdout
    client, children, parents = child_runs(env["MLFLOW_TRACKING_URI"], "resume")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    ids = [c.data.tags["searchlab.trial_id"] for c in children]
    assert len(ids) == 10 and len(set(ids)) == 10  # one child run per trial, none counted twice
    assert all(c.info.status == "FINISHED" for c in children)  # none left RUNNING
    for c in children:
        steps = [m.step for m in client.get_metric_history(c.info.run_id, "score")]
        assert sorted(set(steps)) == [1, 2, 3, 4]
    # finished trials were not rerun: every trial the interrupted run had saved as finished
    # (its experiment state, kept beside the resumed run's) ran exactly once. Trials that ended
    # after Tune's last state save are legitimately rerun, so a plain total would be racy.
    first_state = sorted(store.glob("experiment_state-*.json"))[0]
    saved = [json.loads(t) for t, _ in json.loads(first_state.read_text())["trial_data"]]
    finished_q = [t["config"]["q"] for t in saved if t["status"] == "TERMINATED"]
    assert finished_q, "the interrupted run saved no finished trial"
    runs_of = [p.read_text() for p in marks.iterdir()]
    for q in finished_q:
        assert sum(repr(q) in text for text in runs_of) == 1, f"finished trial q={q} was rerun"
    # only trials not saved as finished ran again: those saved unfinished, and those started
    # before the kill that Tune's last saved state did not hold yet (handed out again)
    assert len(runs_of) <= 10 + runs_before - len(finished_q)

    again = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "already finished" in again.stderr


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_study_resumes(tmp_path):
    study = tmp_path / "intr.yaml"
    study.write_text(f"""name: intr
workload: {{function: "test_workloads_lib:slow_curve", path: "{REPO / 'tests'}", args: {{sleep: 0.5}}}}
metric: {{name: loss, mode: min}}
space: {{x1: {{uniform: [0, 1]}}}}
budget: {{trials: 8, concurrency: 2, max_epochs: 5}}
""")  # noqa: E501 (the study file's workload line)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db"}
    cmd = [sys.executable, "-m", "searchlab", "run", str(study), "--storage",
           str(tmp_path / "store")]
    proc = subprocess.Popen(cmd + ["--restart"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    store = tmp_path / "store" / "intr"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(store.glob("*/results.jsonl"))) < 3:
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    # the advice is the command that resumes: the same one without --restart
    assert "interrupted" in err and "to resume it, run: searchlab run" in err
    advice = err[err.index("to resume it, run:"):].splitlines()[0]
    assert "--restart" not in advice and "--storage" in advice
    assert "Traceback" not in err
    client, children, parents = child_runs(env["MLFLOW_TRACKING_URI"], "intr")
    assert parents[0].info.status == "KILLED"
    assert not [c for c in children if c.info.status == "RUNNING"]

    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming study" in r.stderr
    client, children, parents = child_runs(env["MLFLOW_TRACKING_URI"], "intr")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 8 and all(c.info.status == "FINISHED" for c in children)
    assert len({c.data.tags["searchlab.trial_id"] for c in children}) == 8


@pytest.mark.parametrize("file, label", [
    ("quickstart.yaml", "search, optuna-tpe, asha"),
    ("stn_mlp.yaml", "stn"),  # STN refuses a search block: no searcher to name
    ("cdt.yaml", "cdt"),
])
def test_the_starting_line_names_what_drives_the_study(file, label):
    from searchlab.cli import _run_label
    from searchlab.spec.parse import load_study

    assert _run_label(load_study(REPO / "spaces" / file).study) == label


def test_the_results_table_keeps_structured_settings_out_and_names_clashing_columns():
    from types import SimpleNamespace

    from searchlab.show import best_table

    specs = [{"name": "dropout1", "kind": "uniform", "low": 0.0, "high": 0.95}]
    # as `searchlab run` holds STN's configs (JSON text) and as `show` reads them back (values)
    configs = [{"variant": "stn", "seed": 0, "epochs": 15, "hypers": json.dumps(specs),
                "settings": json.dumps({"model": "mlp"})},
               {"variant": "delta_stn", "seed": 0, "epochs": 15, "hypers": specs,
                "settings": {"model": "mlp"}}]
    rows = [SimpleNamespace(trial_id=f"t{i}", value=v, epochs=15, status="completed", config=c)
            for i, (c, v) in enumerate(zip(configs, [0.276, 0.2764]))]
    table = best_table(rows, "val_loss", "min", "best")
    headers = [c.header for c in table.columns]
    assert headers == ["trial", "val_loss", "epochs", "status", "variant", "seed",
                       "epochs (config)"]
    assert list(table.columns[4].cells) == ["stn", "delta_stn"]  # best first


def test_the_results_table_shows_the_settings_trials_differ_in_before_shared_ones():
    from types import SimpleNamespace

    from searchlab.show import best_table

    # a GA study: five runs that share every setting but the seed
    shared = {"env": "CartPole-v1", "activation": "tanh", "population": 256, "truncation": 20,
              "sigma": 0.05, "elite_episodes": 30}
    rows = [SimpleNamespace(trial_id=f"t{i}", value=500.0 - i, epochs=3, status="completed",
                            config={**shared, "seed": i}) for i in range(5)]
    table = best_table(rows, "elite_score", "max", "best")
    headers = [c.header for c in table.columns]
    assert headers[4] == "seed" and len(headers) == 9
    assert list(table.columns[4].cells) == ["0", "1", "2", "3", "4"]
