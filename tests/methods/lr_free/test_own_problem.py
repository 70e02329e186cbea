"""lr_free on the user's own problem: optimizers and workloads by reference, resolved from the
study file's directory at the preflight (one line with file:line, exit 2, before anything
starts), a user optimizer calibrated and scored beside the built-ins; hostile settings refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from searchlab.errors import SpecError
from searchlab.methods.local import run_local
from searchlab.methods.lr_free.method import LRFreeMethod
from searchlab.methods.lr_free.optimizers import build, optimizer_check, user_spec
from searchlab.methods.lr_free.settings import LRFreeSettings
from searchlab.spec.parse import load_study, parse_text

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "lr_free_own_optimizer"
SYNTH = "searchlab.methods.lr_free.synthetic:synthetic"


def _cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "searchlab", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


# -- hostile settings: refused at validate, with the line --------------------------------------
@pytest.mark.parametrize("line,expected", [
    ("max_tau: .inf", "method.max_tau: Input should be a finite number"),
    ("max_tau: .nan", "method.max_tau: Input should be a finite number"),
    ("max_tau: 1", "method.max_tau: Input should be greater than 1"),
    ("sensitivity_lrs: [.nan, -1]", "method.sensitivity_lrs[0]: Input should be a finite number"),
    ("sensitivity_lrs: [0.1, -1]", "method.sensitivity_lrs[1]: Input should be greater than 0"),
    ("sensitivity_lrs: [1.0e-3, .inf]", "method.sensitivity_lrs[1]: Input should be a finite"),
    ("sensitivity_lrs: []", "method.sensitivity_lrs: List should have at least 1 item"),
    ("repeats: 0", "method.repeats: Input should be greater than or equal to 1"),
    ("max_evaluations: 0", "method.max_evaluations: Input should be greater than or equal to 1"),
    ("seed: -3", "method.seed: Input should be greater than or equal to 0"),
    ("calibration_workloads: []", "method.calibration_workloads: List should have at least 1"),
    ("workloads: []", "method.workloads: List should have at least 1"),
    ("optimizers: []", "method.optimizers: List should have at least 1"),
    ("optimizers: [adam]", "method.optimizers[0].ref: unknown optimizer 'adam'"),
    ("optimizers: [nadamw, nadamw]", "optimizer 'nadamw' is listed twice"),
    ("optimizers: [{ref: 'm:O', defaults: {lr: .nan}}]", "defaults.lr must be a finite number"),
    ("optimizers: [{ref: 'm:O', defaults: {betas: [0.9, .inf]}}]", "must be a finite number"),
    ("optimizers: [{ref: 'm:O', defaults: {seed: 1}}]", "'seed' is reserved"),
    ("optimizers: [{ref: 'm:O', defaults: {warmup: 2}}]", "warmup's fraction of the steps"),
    ("optimizers: [{ref: 'm:O', defaults: {schedule: linear}}]", "'constant' or 'cosine'"),
    ("optimizers: [{ref: 'm:O', space: {lr: {loguniform: [0, 1]}}}]", "needs low > 0"),
    ("optimizers: [{ref: 'm:O', space: {lr: {uniform: [0, .inf]}}}]", "expected a finite number"),
    ("optimizers: [{ref: 'm:O', space: {k: {grid: [1, 2]}}}]", "a calibration space takes"),
    ("optimizers: [{ref: nadamw, defaults: {lr: 1}}]", "'nadamw' is built in"),
    ("workloads: ['a:train', 'b:train']", "share the name 'train'"),
])
def test_hostile_settings_are_refused_with_the_line(line: str, expected: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_text(f"name: t\nmethod:\n  name: lr_free\n  {line}\n")
    assert expected in str(e.value)
    for line in e.value.lines():  # every error in the file, one line each
        assert line.startswith("<study>:") and "\n" not in line


# -- references: resolved from the study file's directory, before anything starts --------------
def test_an_unimportable_workload_stops_validate_and_run_before_any_trial(tmp_path) -> None:
    study = tmp_path / "bad.yaml"
    study.write_text("name: bad\nmethod:\n  name: lr_free\n  optimizers: [nadamw]\n"
                     "  calibration_workloads: [tabular]\n"
                     "  workloads: [tabular, \"nosuch.module:fn\"]\n")
    for command in ("validate", "run"):
        started = time.monotonic()
        proc = _cli(command, str(study), cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith(f"searchlab: error: {study}:6: method.workloads[1]: workload "
                                   "'nosuch.module:fn': cannot import module 'nosuch.module'")
        assert time.monotonic() - started < 60  # no Ray, no MLflow
    assert not (tmp_path / ".searchlab").exists()  # nothing was started or stored


def test_user_references_resolve_next_to_the_study_file_from_any_directory(tmp_path) -> None:
    code = tmp_path / "project"
    code.mkdir()
    (code / "my_opt_x1.py").write_text(
        "import torch\n\ndef sgd(params, lr=0.1, momentum=0.0):\n"
        "    return torch.optim.SGD(params, lr=lr, momentum=momentum)\n\n"
        "def not_an_optimizer(params, **kw):\n    return 3\n")
    (code / "study.yaml").write_text(
        "name: own\nmethod:\n  name: lr_free\n  optimizers:\n    - nadamw\n"
        "    - ref: \"my_opt_x1:sgd\"\n      defaults: {lr: 0.05, momentum: 0.9}\n"
        "      space: {lr: {loguniform: [1.0e-3, 1.0]}, momentum: {uniform: [0.0, 0.99]}}\n"
        f"  workloads: [\"{SYNTH}\"]\n  calibration_workloads: [\"{SYNTH}\"]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = _cli("validate", str(code / "study.yaml"), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    # a factory that returns something else, and a keyword the class does not take: one line
    bad = (code / "study.yaml").read_text().replace("my_opt_x1:sgd", "my_opt_x1:not_an_optimizer")
    (code / "bad.yaml").write_text(bad)
    proc = _cli("validate", str(code / "bad.yaml"), cwd=elsewhere)
    assert proc.returncode == 2
    assert "bad.yaml:6: method.optimizers[1].ref: optimizer 'my_opt_x1:not_an_optimizer': " \
           "fails to build and step with its defaults: TypeError" in proc.stderr
    assert "not a torch.optim.Optimizer" in proc.stderr
    typo = (code / "study.yaml").read_text().replace("momentum: 0.9}",
                                                     "momentum: 0.9, nesterof: 1}")
    (code / "typo.yaml").write_text(typo)
    proc = _cli("validate", str(code / "typo.yaml"), cwd=elsewhere)
    assert proc.returncode == 2 and "unexpected keyword argument 'nesterof'" in proc.stderr
    # method.path: a directory relative to the study file
    (tmp_path / "conf").mkdir()
    moved = (code / "study.yaml").read_text() + "  path: ../project\n"
    (tmp_path / "conf" / "study.yaml").write_text(moved)
    assert _cli("validate", str(tmp_path / "conf" / "study.yaml"), cwd=elsewhere).returncode == 0
    (tmp_path / "conf" / "nopath.yaml").write_text(moved.replace("../project", "../nowhere"))
    proc = _cli("validate", str(tmp_path / "conf" / "nopath.yaml"), cwd=elsewhere)
    assert proc.returncode == 2
    assert "method.path: path '../nowhere' is not a directory" in proc.stderr


# -- the user's optimizer in the registry and the method ---------------------------------------
def test_a_user_optimizer_builds_with_its_schedule_and_modes(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    p = torch.nn.Parameter(torch.ones(3))
    built = build("dowg:DoWG", [p], {"eps_rel": 1e-3, "warmup": 0.1, "schedule": "cosine"}, 10)
    assert type(built.optimizer).__name__ == "DoWG" and built.scheduler is not None
    assert built.optimizer.param_groups[0]["lr"] == pytest.approx(1.0 / 1)  # warmup step 1 of 1
    for _ in range(3):
        p.grad = torch.ones_like(p)
        built.step()
    assert float(p.detach().max()) < 1.0  # it moved downhill
    assert not built.schedule_free

    class Lookahead(torch.optim.SGD):  # schedule-free style: has train() and eval()
        def train(self) -> None:
            self.mode = "train"

        def eval(self) -> None:
            self.mode = "eval"

    import types

    module = types.ModuleType("sl_test_sf_mod")
    module.Lookahead = Lookahead
    monkeypatch.setitem(sys.modules, "sl_test_sf_mod", module)
    sf = build("sl_test_sf_mod:Lookahead", [p], {"lr": 0.1}, 10)
    assert sf.schedule_free and sf.scheduler is None
    sf.eval_mode()
    assert sf.optimizer.mode == "eval"
    # a schedule needs an 'lr' to scale
    module.NoLr = lambda params, **h: torch.optim.Rprop(params)  # Rprop has lr: fine
    assert build("sl_test_sf_mod:NoLr", [p], {"schedule": "cosine"}, 10).scheduler is not None


def test_the_preflight_check_of_a_user_optimizer_says_why() -> None:
    ok = user_spec("torch.optim:SGD", {"lr": 0.1}, {})
    assert optimizer_check(ok)(torch.optim.SGD) is None
    bad = user_spec("torch.optim:SGD", {"lr": 0.1, "betas": [0.9, 0.99]})
    assert "unexpected keyword argument 'betas'" in optimizer_check(bad)(torch.optim.SGD)
    assert "not an optimizer" in optimizer_check(ok)(3.0)


def test_a_user_optimizer_is_calibrated_and_scored_beside_the_builtins() -> None:
    settings = LRFreeSettings.model_validate({
        "optimizers": ["nadamw", {"ref": "torch.optim:SGD", "label": "SGD",
                                  "defaults": {"lr": 0.001, "momentum": 0.9},
                                  "space": {"lr": {"loguniform": [1e-4, 1e-1]},
                                            "nesterov": {"choice": [True, False]},
                                            "momentum": {"uniform": [0.8, 0.99]}}},
                       "torch.optim:Adagrad"],  # bare: its own defaults, nothing to calibrate
        "calibration_workloads": [SYNTH], "workloads": [SYNTH], "calibration_trials": 6,
        "repeats": 1, "sensitivity_workload": None})
    study = parse_text("name: t\nmethod: {name: lr_free}\n").study
    study = study.model_copy(update={"method": LRFreeMethod(settings)})
    run = study.method.start(study)
    out = run_local(study)
    assert len(out.results) == run.total == (6 + 6 + 1) * 1 + 3 * 1 * 2 * 1
    assert all(r.status == "completed" for r in out.results), [r.error for r in out.results]
    calibration = [r for r in out.analysis.tables["calibration"]
                   if r["optimizer"] == "torch.optim:SGD"]
    assert len(calibration) == 6 and calibration[0]["lr"] == 0.001  # the defaults first
    assert {type(r["nesterov"]) for r in calibration[1:]} == {bool}
    assert len([r for r in out.analysis.tables["calibration"]
                if r["optimizer"] == "torch.optim:Adagrad"]) == 1
    table = {r["optimizer"]: r for r in out.analysis.tables["scores"]}
    assert table["torch.optim:SGD"]["label"] == "SGD" and table["torch.optim:SGD"]["yours"]
    assert table["torch.optim:SGD"]["lr_free"] is False  # it has an lr
    assert table["torch.optim:Adagrad"]["lr_free"] is True  # nothing says lr: taken as lr-free
    # the synthetic optimum is lr 3e-3: calibration moves SGD from lr 1e-3 towards it
    sgd = out.analysis.tables["calibrated_hparams"]["torch.optim:SGD"]
    assert abs(__import__("math").log10(sgd["lr"] / 3e-3)) < abs(__import__("math").log10(1 / 3))
    assert "SGD (yours)" in out.analysis.text
    assert out.analysis.lead_table == "scores"
    assert out.analysis.lead_tags()["searchlab.lead_figures"].startswith("performance_profiles")
    # user optimizers stay out of the paper's ordering check (built-in lr-free methods only)
    assert out.analysis.tables["ordering"]["mean_lr_free_defaults"] is None


def test_the_example_study_validates_and_names_its_own_code() -> None:
    loaded = load_study(EXAMPLE / "study.yaml")
    s = loaded.study.method.settings
    assert "dowg:DoWG" in s.names and "my_workload:cancer_mlp" in s.workloads
    assert {r.ref for r in s.references()} == {"dowg:DoWG", "my_workload:cancer_mlp"}
