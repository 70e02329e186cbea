"""More trials later with real components: a real local Ray cluster, a real MLflow SQLite store.

A finished study given a larger budget (the file's ``budget.trials``, grid's ``search.repeats``,
``searchlab run FILE --more N``, a longer ``budget.time_limit``) and an interrupted (Ctrl-C) one
given a larger budget go on in the same parent run: the earlier child runs untouched, one new
finished child run per new trial with every step once, and the searcher proposing from the
earlier results. Any other change is refused before anything starts, naming the key."""

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
from test_more_trials import optuna_proposals

pytestmark = pytest.mark.slow

TPE = """name: more-tpe
workload: sphere_curve
metric: {name: loss, mode: min}
space:
  x1: {uniform: [-2.0, 2.0]}
  x2: {uniform: [-2.0, 2.0]}
search: {algorithm: optuna, sampler: tpe, seed: 3}
budget: {trials: TRIALS, concurrency: 2, max_epochs: 3}
"""


def _snapshot(client, runs):
    """What a child run holds: its status, end, params, and the loss at each step."""
    return {r.info.run_id: (r.info.status, r.info.end_time, dict(r.data.params),
                            [(m.step, m.value) for m in sorted(
                                client.get_metric_history(r.info.run_id, "loss"),
                                key=lambda m: m.step)])
            for r in runs}


def test_a_tpe_study_given_twice_the_trials_goes_on_in_the_same_parent_run(
        study_file, run_in_process, mlflow_uri, tmp_path):
    path = study_file(TPE.replace("TRIALS", "6"))
    first = run_in_process(path)
    assert len(first.rows) == 6 and first.counts == {"completed": 6}
    client, children, parents = child_runs(mlflow_uri, "more-tpe")
    before = _snapshot(client, children)
    parent = parents[0].info.run_id

    path.write_text(TPE.replace("TRIALS", "12"))
    more = run_in_process(path)
    assert more.resumed and more.parent_run_id == parent
    assert len(more.rows) == 12 and more.counts == {"completed": 12}
    client, children, parents = child_runs(mlflow_uri, "more-tpe")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.tags["searchlab.more"] == "budget.trials: 6 -> 12"
    assert parents[0].data.metrics["trials"] == 12
    after = _snapshot(client, children)
    # the six earlier child runs are untouched; six new ones, each finished with steps 1, 2, 3
    assert {k: after[k] for k in before} == before
    new = [v for k, v in after.items() if k not in before]
    assert len(new) == 6
    assert all(status == "FINISHED" and [s for s, _ in steps] == [1, 2, 3]
               for status, _, _, steps in new)
    assert len({c.data.tags["searchlab.trial_id"] for c in children}) == 12

    # the searcher had modelled the six earlier trials: each new trial is exactly what plain
    # Optuna's TPE proposes once told them (in the journal's order), and not what it proposes
    # knowing nothing
    from searchlab.searchers.base import continued_seed
    from searchlab.searchers.optuna import sampler, startup_trials

    study_dir = tmp_path / "store" / "more-tpe"
    entries = [json.loads(line) for line in (study_dir / "method-journal.jsonl").read_text()
               .splitlines()]
    new_ids = [e["trial_id"] for e in entries if e["kind"] == "ask"][6:]
    ran = {e["trial_id"]: {k: e["request"]["config"][k] for k in ("x1", "x2")}
           for e in entries if e["kind"] == "ask" and e["trial_id"] in new_ids}

    def plain(told: bool) -> dict:
        return optuna_proposals(entries, sampler("tpe", continued_seed(3, 6),
                                                 startup_trials(None, 12)), 6, told)

    assert len(ran) == 6 and {t: plain(True)[t] for t in new_ids} == ran
    assert plain(False)[new_ids[0]] != ran[new_ids[0]]
    # the new trials' child runs hold those configs
    params = {c.data.tags["searchlab.trial_id"]: c.data.params for c in children}
    assert all(float(params[t]["x1"]) == ran[t]["x1"] for t in new_ids)


def test_random_search_goes_on_and_the_results_table_holds_every_trial(
        study_file, run_in_process, mlflow_uri):
    text = """name: more-random
workload: sphere
metric: {name: loss, mode: min}
space: {x1: {uniform: [-1.0, 1.0]}}
search: {algorithm: random, seed: 0}
budget: {trials: TRIALS, concurrency: 2}
"""
    path = study_file(text.replace("TRIALS", "3"))
    run_in_process(path)
    path.write_text(text.replace("TRIALS", "5"))
    more = run_in_process(path)
    assert len(more.rows) == 5 and more.counts == {"completed": 5}
    client, children, parents = child_runs(mlflow_uri, "more-random")
    assert len(parents) == 1 and len(children) == 5
    assert all(c.info.status == "FINISHED" for c in children)
    # random search continues its seeded stream: the five configs of a 5-trial study
    from searchlab.methods.local import run_local
    from searchlab.spec.parse import parse_text

    fresh = run_local(parse_text(text.replace("TRIALS", "5")).study)
    assert sorted(float(c.data.params["x1"]) for c in children) == \
        sorted(r.request.config["x1"] for r in fresh.results)


def searchlab(*args: str, env: dict, cwd: Path, timeout: float = 400):
    return subprocess.run([sys.executable, "-m", "searchlab", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, cwd=cwd, timeout=timeout)


def test_more_n_on_a_grid_and_a_changed_space_named(tmp_path):
    study = tmp_path / "grid.yaml"
    text = """name: more-grid
workload: sphere
metric: {name: loss, mode: min}
space: {x1: {grid: [-1.0, 0.0, 1.0]}}
search: {algorithm: grid}
budget: {concurrency: 2}
"""
    study.write_text(text)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db", "PYTHONPATH": str(REPO)}
    store = ["--storage", str(tmp_path / "store")]
    r = searchlab("run", str(study), *store, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    again = searchlab("run", str(study), *store, env=env, cwd=tmp_path)
    assert again.returncode == 2 and "already finished" in again.stderr
    assert "raise search.repeats or run with --more N" in again.stderr
    odd = searchlab("run", str(study), *store, "--more", "2", env=env, cwd=tmp_path)
    assert odd.returncode == 2 and "give a multiple of 3" in odd.stderr

    r = searchlab("run", str(study), *store, "--more", "3", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "continuing study 'more-grid'" in r.stderr and "search.repeats: 1 -> 2" in r.stderr
    assert "6 trials (6 completed)" in r.stdout
    client, children, parents = child_runs(env["MLFLOW_TRACKING_URI"], "more-grid")
    assert len(parents) == 1 and len(children) == 6
    assert sorted(float(c.data.params["x1"]) for c in children) == [-1, -1, 0, 0, 1, 1]
    assert all(c.info.status == "FINISHED" for c in children)
    state = json.loads((tmp_path / "store" / "more-grid" / "searchlab.json").read_text())
    assert state["budget"]["search.repeats"] == 2 and state["status"] == "finished"

    # the unchanged file after --more: finished at its larger budget
    again = searchlab("run", str(study), *store, env=env, cwd=tmp_path)
    assert again.returncode == 2 and "already finished" in again.stderr
    # another change: one line naming the key and the two ways on; nothing starts
    study.write_text(text.replace("[-1.0, 0.0, 1.0]", "[-1.0, 0.0, 2.0]"))
    changed = searchlab("run", str(study), *store, env=env, cwd=tmp_path, timeout=120)
    assert changed.returncode == 2 and "Traceback" not in changed.stderr
    lines = [line for line in changed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, changed.stderr
    assert "space.x1.grid[2]: 1.0 -> 2.0" in lines[0]
    assert "--restart" in lines[0] and "new name" in lines[0]
    client, children, parents = child_runs(env["MLFLOW_TRACKING_URI"], "more-grid")
    assert len(parents) == 1 and len(children) == 6


def test_an_interrupted_study_given_a_larger_budget_goes_on(tmp_path):
    study = tmp_path / "intr.yaml"
    text = f"""name: more-intr
workload: {{function: "test_workloads_lib:slow_curve", path: "{REPO / 'tests'}", args: {{sleep: 1.0}}}}
metric: {{name: loss, mode: min}}
space: {{x1: {{uniform: [0, 1]}}}}
search: {{algorithm: optuna, seed: 1}}
budget: {{trials: TRIALS, concurrency: 2, max_epochs: 4}}
"""  # noqa: E501 (the study file's workload line)
    study.write_text(text.replace("TRIALS", "6"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db",
           "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "searchlab", "run", str(study), "--storage",
           str(tmp_path / "store")]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    journal = tmp_path / "store" / "more-intr" / "method-journal.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:
        if journal.exists() and journal.read_text().count('"kind": "tell"') >= 2:
            break
        time.sleep(0.3)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err[-2000:]
    told = journal.read_text().count('"kind": "tell"')
    assert 2 <= told < 6, "the study finished before it could be interrupted"

    study.write_text(text.replace("TRIALS", "8"))
    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "continuing study 'more-intr'" in r.stderr and "budget.trials: 6 -> 8" in r.stderr
    assert "8 trials (8 completed)" in r.stdout, r.stdout[-2000:]
    client, children, parents = child_runs(env["MLFLOW_TRACKING_URI"], "more-intr")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 8 and all(c.info.status == "FINISHED" for c in children)
    assert len({c.data.tags["searchlab.trial_id"] for c in children}) == 8
    for c in children:
        steps = [m.step for m in client.get_metric_history(c.info.run_id, "loss")]
        assert sorted(steps) == [1, 2, 3, 4]  # every step once


def test_a_study_out_of_time_goes_on_with_a_longer_time_limit(study_file, run_in_process):
    text = f"""name: more-time
workload: {{function: "test_workloads_lib:slow_curve", path: "{REPO / 'tests'}", args: {{sleep: 1.0}}}}
metric: {{name: loss, mode: min}}
space: {{x1: {{uniform: [0, 1]}}}}
budget: {{trials: 40, concurrency: 2, max_epochs: 2, time_limit: LIMIT}}
"""  # noqa: E501 (the study file's workload line)
    path = study_file(text.replace("LIMIT", "6s"))
    first = run_in_process(path, tracking=False)
    assert 1 <= len(first.rows) < 40
    state_file = first.study_dir / "searchlab.json"
    spent = json.loads(state_file.read_text())["elapsed_s"]
    assert spent >= 6

    # the same file: finished, its time used up
    from searchlab.errors import SearchlabError

    with pytest.raises(SearchlabError, match="already finished"):
        run_in_process(path, tracking=False)
    path.write_text(text.replace("LIMIT", "14s"))
    more = run_in_process(path, tracking=False)
    assert len(more.rows) > len(first.rows)
    assert len(more.rows) < 40  # out of time again (the time it had counts: test_more_trials)
    state = json.loads(state_file.read_text())
    assert state["budget"]["budget.time_limit"] == 14 and state["elapsed_s"] >= 14
