"""STN on the user's own model and data: references found from the study file, the preflight's
one-line errors, the docs' "On your own problem" snippets as written, the example's model
(batch norm, label smoothing, Delta-STN), the summary against the plain run, the dashboard
panel, and (slow) the example run with the CLI from a fresh directory into MLflow."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from searchlab_testing import REPO

from searchlab.errors import SpecError
from searchlab.methods import get_method
from searchlab.methods.local import run_local
from searchlab.refs import bind_method_path, resolve
from searchlab.spec.parse import load_study

DOCS = (REPO / "docs" / "stn.md").read_text()
EXAMPLE = REPO / "examples" / "stn_resnet"


def _section(title: str) -> str:
    start = DOCS.index(f"## {title}\n")
    end = DOCS.find("\n## ", start + 1)
    return DOCS[start:end]


def _write_doc_project(tmp_path: Path) -> Path:
    """The section's files (code blocks whose first line is ``# <file name>``) in a folder."""
    project = tmp_path / "project"
    project.mkdir()
    blocks = re.findall(r"```(?:python|yaml)\n# (\S+)\n(.*?)```", _section("On your own problem"),
                        re.S)
    assert {name for name, _ in blocks} == {"mynet.py", "mydata.py", "study.yaml"}
    for name, body in blocks:
        (project / name).write_text(body)
    return project


@pytest.fixture
def fresh_modules():
    """Forget the user modules a test imported (tests write modules of the same names)."""
    before = set(sys.modules)
    path = list(sys.path)
    yield
    for name in set(sys.modules) - before:
        if name in ("mynet", "mydata", "small_resnet", "fashion_data", "badnet"):
            del sys.modules[name]
    sys.path[:] = path


def test_references_are_found_from_the_study_file(tmp_path, monkeypatch, fresh_modules):
    code = tmp_path / "project" / "code"
    code.mkdir(parents=True)
    (code / "refmod_a.py").write_text("class Thing:\n    class Inner:\n        pass\n")
    study_file = str(tmp_path / "project" / "study.yaml")
    monkeypatch.chdir(tmp_path)  # elsewhere: the path follows the study file, not the cwd
    assert resolve("refmod_a:Thing.Inner", study_file, "code").__name__ == "Inner"
    for ref, path, message in [
        ("refmod_a", "code", "not a reference of the form"),
        ("refmod_a:Nope", "code", "module 'refmod_a' has no 'Nope'"),
        ("refmod_missing:Thing", "code", "cannot import module 'refmod_missing' \\(looked in "),
        ("refmod_a:Thing", "nowhere", "'nowhere' is not a directory \\(relative paths start at "
                                      "the study file's directory"),
    ]:
        with pytest.raises(ValueError, match=message) as e:
            resolve(ref, study_file, path)
        assert "\n" not in str(e.value)


def test_docs_project_validates_and_runs_as_written(tmp_path, monkeypatch, capsys,
                                                    fresh_modules):
    """The section's three files as written: `searchlab validate` from another directory, then
    the study (in process, without Ray); the summary leads with STN against the plain run."""
    from searchlab.cli import main

    project = _write_doc_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "project/study.yaml"]) == 0
    out = capsys.readouterr().out
    assert "valid study 'my-stn'" in out and f"code in {project}" in out
    loaded = bind_method_path(load_study(project / "study.yaml"))
    assert loaded.study.method.path == str(project)
    result = run_local(get_method("stn"), loaded.study.method, loaded.study)
    assert [(r.request.config["variant"], r.status) for r in result.results] == \
        [("stn", "completed"), ("plain", "completed")]
    stn, plain = result.results
    assert {"dropout_hidden", "mixup", "cutout_holes", "weight_decay", "sigma.mixup"} <= \
        set(stn.history[-1])
    assert plain.history[-1]["mixup"] == pytest.approx(0.05)  # the initial value, held fixed
    text = result.analysis.text.splitlines()
    assert text[0] == "STN: mynet:Net on mydata:digits, 10 epochs (2 warm-up)"
    assert re.match(r"- stn seed 0: best val loss \d\.\d{4} \(epoch \d+\), \d\.\d{4} (below|above) "
                    r"plain \(\d\.\d{4}\).*x plain\); final dropout_hidden", text[2])
    runs = result.analysis.tables["stn_runs"]
    assert runs[0]["minus_plain"] == pytest.approx(runs[0]["best_val_loss"] -
                                                   runs[1]["best_val_loss"])
    assert len(result.analysis.tables["stn_schedules"]) == 2 * 10


def test_docs_python_snippet_runs_as_written(tmp_path, monkeypatch, capsys, fresh_modules):
    project = _write_doc_project(tmp_path)
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", _section("On your own problem"),
                                         re.S) if b.startswith("from mydata import"))
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    exec(compile(snippet, "docs/stn.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(len(line.split()) == 3 for line in lines)


@pytest.mark.parametrize(("edit", "line_of", "message"), [
    (("mynet:Net", "mynet:Nett"), "  model: mynet:Nett", "module 'mynet' has no 'Nett'"),
    (("  mixup: {uniform", "  mixing: {uniform"), "  mixing: {uniform",
     "space parameter 'mixing': model 'mynet:Net' does not read it; it tunes cutout_holes, "
     "dropout_hidden, mixup, weight_decay"),
    (("cutout_holes: {int: [0, 3]}", "cutout_holes: {uniform: [0, 3]}"), "  cutout_holes:",
     "declares it discrete; use {int: \\[low, high\\]}"),
    (("{hidden: 64}", "{hiden: 64}"), "  model:", "unexpected keyword argument 'hiden'"),
    (("mydata:digits", "mydata:nothing"), "  data: mydata:nothing", "has no 'nothing'"),
    (("path: .", "path: elsewhere"), "  path: elsewhere", "'elsewhere' is not a directory"),
])
def test_preflight_errors_name_the_line(tmp_path, fresh_modules, edit, line_of, message):
    from searchlab.preflight import preflight_method

    project = _write_doc_project(tmp_path)
    study = project / "study.yaml"
    study.write_text(study.read_text().replace(*edit))
    line = next(i for i, text in enumerate(study.read_text().splitlines(), 1)
                if text.startswith(line_of))
    with pytest.raises(SpecError, match=message) as e:
        preflight_method(bind_method_path(load_study(study)))
    assert e.value.line == line and "\n" not in str(e.value)


def test_a_model_that_fails_is_one_line_before_anything_starts(tmp_path, fresh_modules):
    from searchlab.preflight import preflight_method

    project = _write_doc_project(tmp_path)
    (project / "badnet.py").write_text(
        "from mynet import Net\n\n"
        "class Wrong(Net):\n"
        "    def train_forward(self, x, y, values, e):\n"
        "        out = self(x, values, e)\n"
        "        return out, lambda o: self.loss(o, y).mean()\n\n"
        "class Broken(Net):\n"
        "    def forward(self, x, values, e):\n"
        "        raise RuntimeError('shapes do not fit\\nsecond line')\n")
    study = project / "study.yaml"
    text = study.read_text()
    for cls, message in (("Wrong", "the training loss has shape \\(\\), not one value per "
                                   "example \\(2,\\)"),
                         ("Broken", "failed on two training examples: RuntimeError: shapes do "
                                    "not fit$")):
        study.write_text(text.replace("mynet:Net", f"badnet:{cls}"))
        with pytest.raises(SpecError, match=message):
            preflight_method(bind_method_path(load_study(study)))


def test_example_model_batch_norm_label_smoothing_and_delta_stn(fresh_modules, monkeypatch):
    """The example's ResNet (batch norm, label smoothing, shift) on a small digits split: STN and
    Delta-STN (forward-mode AD through batch norm) train, every value stays in its range."""
    from searchlab.stn import HyperSpec, STNSettings, hypertrain

    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.setenv("SEARCHLAB_FASHION_MNIST", "/nonexistent")  # the digits fallback
    import fashion_data

    split = fashion_data.load(train_size=200, val_size=100, test_size=100)
    assert split.name == "digits" and split.x_train.shape[1:] == (1, 8, 8)
    s = STNSettings(model="small_resnet:SmallResNet", data="fashion_data:load", epochs=2,
                    warmup_epochs=1, batch_size=50, train_steps=1, model_args={"width": 4})
    specs = [HyperSpec("label_smoothing", "uniform", 0.0, 0.5, 0.1),
             HyperSpec("shift", "uniform", 0.0, 2.0, 0.5)]
    for delta in (False, True):
        rows = list(hypertrain(s, specs, delta=delta, seed=0, split=split))
        assert len(rows) == 2 and all(r["val_loss"] == r["val_loss"] for r in rows)
        assert 0 <= rows[-1]["label_smoothing"] <= 0.5 and rows[-1]["label_smoothing"] != 0.1


def test_the_stn_panel_draws_the_comparison_and_the_schedules(tmp_path, fresh_modules):
    """dashboards/stn.py from a stored STN analysis: the table first, then one panel per
    hyperparameter and the validation loss, the plain run dashed."""
    from searchlab.dashboard import Execution, StoredAnalysis, StudyData, load_panels

    project = _write_doc_project(tmp_path)
    study = project / "study.yaml"
    study.write_text(study.read_text().replace("epochs: 10", "epochs: 3"))
    loaded = bind_method_path(load_study(study))
    analysis = run_local(get_method("stn"), loaded.study.method, loaded.study).analysis
    stored = StoredAnalysis(tables=analysis.tables, text=analysis.text)
    execution = Execution("run", "run", {"searchlab.method": "stn"}, 0, 1, (), analysis=stored)
    panel = next(p for p in load_panels() if p.__name__.endswith(".stn"))
    data = [StudyData("my-stn", "1", (execution,))]
    assert panel.applies(data)
    table, schedules = panel.render(data)
    cells = table.data[0].cells.values
    assert table.data[0].header.values[:3] == ("run", "best val loss", "minus plain")
    assert list(cells[0]) == ["stn seed 0", "plain seed 0"]
    assert float(cells[2][0]) == pytest.approx(analysis.tables["stn_runs"][0]["minus_plain"],
                                               abs=1e-4)
    titles = [a.text for a in schedules.layout.annotations]
    assert titles == ["cutout_holes", "dropout_hidden", "mixup", "weight_decay", "val_loss"]
    dashes = {t.name: t.line.dash for t in schedules.data}
    assert dashes == {"stn seed 0": "solid", "plain seed 0": "dash"}
    assert not panel.applies([StudyData("x", "2", (Execution("r", "r", {}, 0, 1, ()),))])


@pytest.mark.slow
def test_the_example_runs_from_a_fresh_directory(tmp_path):
    """examples/stn_resnet at a tiny budget, as a user runs it: `searchlab run` (its own Ray
    cluster, Tune, MLflow) from a directory that is not the example's, then `searchlab show`."""
    example = tmp_path / "stn_resnet"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("__pycache__"))
    spec = yaml.safe_load((example / "study.yaml").read_text())
    spec["method"].update(epochs=2, warmup_epochs=1, model_args={"width": 4},
                          data_args={"train_size": 256, "val_size": 128, "test_size": 128})
    (example / "study.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "searchlab", "run", "../stn_resnet/study.yaml"],
                         cwd=fresh, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = run.stdout
    assert summary.index("STN: small_resnet:SmallResNet") < summary.index("best trials of")
    assert re.search(r"- stn seed 0: best val loss .* (below|above) plain", summary)
    show = subprocess.run([sys.executable, "-m", "searchlab", "show", "stn-resnet"], cwd=fresh,
                          env=env, capture_output=True, text=True, timeout=300)
    assert show.returncode == 0, show.stderr[-2000:]
    assert show.stdout.startswith("STN: small_resnet:SmallResNet")
    assert "schedules (value at the end of epoch):" in show.stdout
    from searchlab_testing import child_runs

    client, children, parents = child_runs(uri, "stn-resnet")
    assert sorted(c.data.tags["stn.variant"] for c in children) == ["plain", "stn"]
    for child in children:
        hist = client.get_metric_history(child.info.run_id, "label_smoothing")
        assert sorted(m.step for m in hist) == [1, 2]
    assert parents[0].data.metrics["stn.minus_plain_mean"] == pytest.approx(
        parents[0].data.metrics["stn.best_val_loss_mean"]
        - parents[0].data.metrics["plain.best_val_loss_mean"])
    page = tmp_path / "report.html"
    dash = subprocess.run([sys.executable, "-m", "searchlab", "dashboard", "stn-resnet", "-o",
                           str(page)], cwd=fresh, env=env, capture_output=True, text=True,
                          timeout=300)
    assert dash.returncode == 0, dash.stderr[-2000:]
    assert "<h2>STN against the plain run</h2>" in page.read_text()


def test_summary_of_runs_that_failed_or_lack_a_plain_run():
    from searchlab.methods.base import TrialRequest, TrialResult
    from searchlab.methods.stn.analysis import summarize

    def result(variant, seed, status, vals):
        hist = [{"epoch": i + 1, "val_loss": v, "dropout": 0.1 * (i + 1),
                 "cpu_seconds": 2.0 * (i + 1)} for i, v in enumerate(vals)]
        return TrialResult(f"{variant}{seed}", TrialRequest({"variant": variant, "seed": seed}, 3),
                           status, hist[-1] if hist else {}, hist)

    a = summarize([result("stn", 0, "failed", []), result("plain", 0, "completed", [0.5, 0.4]),
                   result("stn", 1, "early_stopped", [0.6, 0.3]),
                   result("delta_stn", 0, "completed", [0.45, 0.35])],
                  ["dropout"], {"dropout": 0.1}, "net on data")
    lines = a.text.splitlines()
    assert lines[:2] == ["STN: net on data", "initial values: dropout 0.1"]
    assert "- delta_stn seed 0: best val loss 0.3500 (epoch 2), 0.0500 below plain (0.4000); "\
           "4 CPU s (1.00x plain); final dropout 0.2" in lines
    assert "- stn seed 0: failed, no validation loss" in lines
    assert "- stn seed 1: best val loss 0.3000 (epoch 2); 4 CPU s; final dropout 0.2 "\
           "[early_stopped]" in lines  # no plain run of seed 1: no comparison
    assert a.metrics == pytest.approx({"delta_stn.best_val_loss_mean": 0.35,
                                       "delta_stn.minus_plain_mean": -0.05,
                                       "delta_stn.cpu_over_plain_mean": 1.0,
                                       "plain.best_val_loss_mean": 0.4,
                                       "stn.best_val_loss_mean": 0.3})
