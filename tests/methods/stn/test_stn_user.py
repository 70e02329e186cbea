"""STN on the user's own model and data: references found from the study file, the preflight's
one-line errors, the docs' "On your own problem" snippets as written, the example's model
(batch norm, label smoothing, Delta-STN), the summary against the plain run, the dashboard's
"Result" panel, and (slow) the example run with the CLI from a fresh directory into MLflow."""

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
from searchlab.methods.local import run_local
from searchlab.preflight import preflight_study
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


def test_code_path_and_references_follow_the_study_file(tmp_path, monkeypatch, fresh_modules):
    """``method.path`` is made absolute from the study file's directory when the file is read
    (not the current directory), defaults to that directory for a model or data given by
    reference, stays None for the built-ins; the settings list the references for the
    preflight, and a path that is not a directory is an error at its line."""
    project = tmp_path / "project"
    (project / "code").mkdir(parents=True)
    study = project / "study.yaml"
    body = ("name: refs\nmethod:\n  name: stn\n  model: mynet:Net\n  data: mydata:digits\n"
            "  path: code\nspace:\n  dropout: {uniform: [0.0, 0.5]}\n")
    study.write_text(body)
    monkeypatch.chdir(tmp_path)  # elsewhere: the path follows the study file, not the cwd
    settings = load_study(study).study.method.settings
    assert settings.path == settings.code_path() == str(project / "code")
    assert [(r.loc, r.ref, r.what) for r in settings.references()] == \
        [(("model",), "mynet:Net", "model"), (("data",), "mydata:digits", "data")]
    study.write_text(body.replace("  path: code\n", ""))
    assert load_study(study).study.method.settings.path == str(project)
    study.write_text(body.replace("mynet:Net", "mlp").replace("mydata:digits", "digits")
                     .replace("  path: code\n", "").replace("dropout:", "dropout1:"))
    builtin = load_study(study).study.method.settings
    assert builtin.path is None and builtin.references() == []
    study.write_text(body.replace("path: code", "path: nowhere"))
    with pytest.raises(SpecError, match="directory 'nowhere' not found \\(relative paths start "
                                        "at the study file's directory") as e:
        load_study(study)
    assert e.value.line == 6 and "\n" not in str(e.value)


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
    loaded = load_study(project / "study.yaml")
    assert loaded.study.method.settings.path == str(project)
    result = run_local(loaded.study)
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
    (("mynet:Net", "mynet:Nett"), "  model: mynet:Nett", "module 'mynet' \\(.*\\) has no 'Nett'"),
    (("  mixup: {uniform", "  mixing: {uniform"), "  mixing: {uniform",
     "space parameter 'mixing': model 'mynet:Net' does not read it; it tunes cutout_holes, "
     "dropout_hidden, mixup, weight_decay"),
    (("cutout_holes: {int: [0, 3]}", "cutout_holes: {uniform: [0, 3]}"), "  cutout_holes:",
     "declares it discrete; use {int: \\[low, high\\]}"),
    (("{hidden: 64}", "{hiden: 64}"), "  model:", "unexpected keyword argument 'hiden'"),
    (("mydata:digits", "mydata:nothing"), "  data: mydata:nothing", "has no 'nothing'"),
    (("path: .", "path: elsewhere"), "  path: elsewhere", "directory 'elsewhere' not found"),
])
def test_preflight_errors_name_the_line(tmp_path, fresh_modules, edit, line_of, message):
    project = _write_doc_project(tmp_path)
    study = project / "study.yaml"
    study.write_text(study.read_text().replace(*edit))
    line = next(i for i, text in enumerate(study.read_text().splitlines(), 1)
                if text.startswith(line_of))
    with pytest.raises(SpecError, match=message) as e:
        preflight_study(load_study(study))
    assert e.value.line == line and "\n" not in str(e.value)


def test_a_model_that_fails_is_one_line_before_anything_starts(tmp_path, fresh_modules):
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
            preflight_study(load_study(study))


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


def test_the_result_panel_leads_with_the_comparison_and_the_schedules(tmp_path, fresh_modules):
    """STN's analysis leads (dashboards/lead.py, as every draws_own_analysis method's): the
    stn_result table first (each run against the plain run), then the stored schedules figure
    (a panel per hyperparameter and the validation loss, the plain run dashed); the headline is
    the one line the summary table shows."""
    from searchlab.dashboard import Execution, StoredAnalysis, StudyData, load_panels

    project = _write_doc_project(tmp_path)
    study = project / "study.yaml"
    study.write_text(study.read_text().replace("epochs: 10", "epochs: 3"))
    loaded = load_study(study)
    assert loaded.study.method.traits.draws_own_analysis
    analysis = run_local(loaded.study).analysis
    assert analysis.lead_table == "stn_result" and analysis.lead_figures == ("schedules",)
    runs = analysis.tables["stn_runs"]
    assert re.fullmatch(r"STN: stn best val loss \d\.\d{4} \([+-]\d\.\d{4} against plain, "
                        r"\d\.\d\dx its CPU\); plain best val loss \d\.\d{4}",
                        analysis.headline), analysis.headline
    stored = StoredAnalysis(tables=analysis.tables, figures=analysis.figures, text=analysis.text)
    execution = Execution("run", "run", {"searchlab.method": "stn", **analysis.lead_tags()}, 0, 1,
                          (), analysis=stored)
    panel = next(p for p in load_panels() if p.__name__.endswith(".lead"))
    data = [StudyData("my-stn", "1", (execution,))]
    assert panel.applies(data)
    table, schedules = panel.render(data)
    cells = table.data[0].cells.values
    assert table.data[0].header.values[:4] == ("run", "status", "best val loss", "minus plain")
    assert list(cells[0]) == ["stn seed 0", "plain seed 0"]
    assert float(cells[3][0]) == pytest.approx(runs[0]["minus_plain"], abs=1e-3)
    titles = [a.text for a in schedules.layout.annotations]
    assert titles == ["dropout_hidden", "mixup", "cutout_holes", "weight_decay", "val_loss"]
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
    summary = run.stdout  # STN's own result leads, in place of a best-trial table
    assert "STN: small_resnet:SmallResNet" in summary and "best trials of" not in summary
    assert re.search(r"- stn seed 0: best val loss .* (below|above) plain", summary)
    show = subprocess.run([sys.executable, "-m", "searchlab", "show", "stn-resnet"], cwd=fresh,
                          env=env, capture_output=True, text=True, timeout=300)
    assert show.returncode == 0, show.stderr[-2000:]
    assert "STN: small_resnet:SmallResNet" in show.stdout
    assert "schedules (value at the end of epoch):" in show.stdout
    assert "best trials of" not in show.stdout
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
    html = page.read_text()
    lead = html[html.index('<section id="lead">'):]
    lead = lead[:lead.index("</section>")]  # the "Result" panel: STN's table and schedules
    assert "stn-resnet: stn_result (analysis" in lead and "learned schedules" in lead


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
