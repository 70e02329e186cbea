"""`searchlab validate` prints the trial plan of every method: how many trials, in which phases,
and what one costs (epochs, generations and frames, optimizer steps). The test iterates the
registry, so a new method needs a plan too."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from searchlab import methods
from searchlab.spec.parse import load_study, parse_text

from test_method_keys import MINIMAL


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
    ("spaces/stn_mlp.yaml", ["trials     2 (stn, delta_stn", "15 epochs each",
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
