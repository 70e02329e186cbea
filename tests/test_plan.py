"""`searchlab validate` prints the trial plan of every method: how many trials, in which phases,
and what one costs (epochs, generations and frames, optimizer steps). The test iterates the
registry, so a new method needs a plan too."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from test_method_keys import MINIMAL

from searchlab import methods
from searchlab.spec.parse import load_study, parse_text


@pytest.mark.parametrize("name", list(methods.REGISTRY))
def test_every_method_describes_its_trials(name):
    study = parse_text(MINIMAL[name], "m.yaml").study
    lines = study.method.describe(study)
    assert lines and re.match(r"trials +\d", lines[0]), lines
    assert "at a time" in lines[0], lines
    assert any(re.search(r"epoch|generation|frame|step|round", line) for line in lines), lines


@pytest.mark.parametrize("file, words", [
    ("spaces/lr_free.yaml", ["trials     386 in three phases", "calibration: 128 (8 optimizers "
                             "x 8 proposals x 2 workloads", "scoring: 240", "sensitivity: 18",
                             "100 optimizer steps"]),
    ("spaces/stn_mlp.yaml", ["trials     3 (stn, delta_stn, plain", "15 epochs each",
                             "5 warm-up epochs", "398 weight steps"]),
    ("spaces/deep_ga_maze.yaml", ["trials     6 grid points x 1 GA runs", "100 generations each",
                                  "a generation: 200 episodes, each up to 250 steps",
                                  "a run: up to 20,000 episodes, 5 M frames"]),
    ("spaces/deep_ga_cartpole.yaml", ["trials     5 GA runs (seeds 0..4)",
                                      "up to 330 to pick the elite",
                                      "it stops at elite score 500"]),
])
def test_validate_prints_the_plan(file, words):
    r = subprocess.run([sys.executable, "-m", "searchlab", "validate", file],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for w in words:
        assert w in r.stdout, (w, r.stdout)


def test_the_lr_free_plan_counts_what_the_run_asks_for():
    pytest.importorskip("torch")
    pytest.importorskip("optuna")
    from searchlab.methods.lr_free.method import phases

    for file in ("spaces/lr_free.yaml", "spaces/lr_free_tiny.yaml"):
        study = load_study(file).study
        assert sum(phases(study.method.settings)) == study.method.start(study).total


@pytest.mark.parametrize("file, shown", [
    ("spaces/cdt.yaml", False), ("spaces/stn_mlp.yaml", False), ("spaces/lr_free.yaml", False),
    ("spaces/deep_ga_cartpole.yaml", False), ("spaces/deep_ga_maze.yaml", True),  # searched
    ("spaces/quickstart.yaml", True),
])
def test_validate_names_a_stopping_rule_only_where_the_method_uses_one(file, shown):
    r = subprocess.run([sys.executable, "-m", "searchlab", "validate", file],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert ("  stopping " in r.stdout) is shown, r.stdout


def test_independent_trials_use_the_cores_unless_the_file_says_how_many():
    from searchlab.execution.cores import local_cluster, machine_cores, trials_at_once

    study = load_study("spaces/cdt.yaml").study
    assert study.concurrency_by_cores
    assert local_cluster(study, 0)["CPU"] == machine_cores()
    assert trials_at_once(study, {"CPU": 6.0}) == 6
    assert f"({machine_cores()} on this machine)" in study.method.describe(study)[0]
    written = parse_text(MINIMAL["cdt"] + "budget: {concurrency: 3}\n", "m.yaml").study
    assert not written.concurrency_by_cores
    assert trials_at_once(written, {"CPU": 6.0}) == 3
    assert local_cluster(written, 0)["CPU"] == 3
    searched = load_study("spaces/quickstart.yaml").study
    assert not searched.concurrency_by_cores  # a searcher learns from the trials before


def test_cdt_says_the_expected_length_at_start(tmp_path):
    """A real run: the first line after the study starts says the trials, how many at once (the
    cores) and the expected length, timed on a sample of the trials."""
    from searchlab.execution.cores import machine_cores

    (tmp_path / "s.yaml").write_text(
        "name: cdt-len\nmethod: {name: cdt, environments: [{kind: linear, arms: 10, dim: 3, "
        "horizon: 300}], bandits: [linucb], tuners: [cdt, theoretical], seeds: 2, chunks: 5}\n"
        "tracking: {enabled: false}\n")
    r = subprocess.run([sys.executable, "-m", "searchlab", "run", "s.yaml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert re.search(rf"searchlab: 4 trials, {machine_cores()} at a time \(as many as the "
                     r"cores allow\); expected about \d+ (s|min)", r.stderr), r.stderr


def test_the_start_line_without_an_estimate():
    from searchlab.runner import expected_length

    study = load_study("spaces/quickstart.yaml").study
    assert expected_length(study, 32, 2, False) == "searchlab: 32 trials, 2 at a time"
    assert expected_length(study, None, 2, False) == \
        "searchlab: trials until the budget ends, 2 at a time"
