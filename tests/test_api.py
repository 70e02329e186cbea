"""The Python API and `searchlab show` (issue 15): a real study through Ray and MLflow."""

from __future__ import annotations

import subprocess
import sys

import pytest
from searchlab_testing import REPO

import searchlab
from searchlab.api import load_spec
from searchlab.cli import main
from searchlab.errors import SearchlabError, SpecError


def _study(tmp_path, name="api-sphere") -> dict:
    return {
        "name": name,
        "workload": "sphere",
        "metric": {"name": "loss", "mode": "min"},
        "space": {"x1": {"uniform": [-1, 1]}, "x2": {"uniform": [-1, 1]}},
        "search": {"algorithm": "random", "seed": 3},
        "budget": {"trials": 4, "concurrency": 2, "max_epochs": 1},
        "resources": {"cpu": 1},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    }


def test_import_searchlab_stays_light():
    code = ("import sys, searchlab; heavy = [m for m in ('ray', 'mlflow', 'pandas', 'torch') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout
    assert out.strip() == "[]"


def test_a_bad_study_dict_names_the_line_and_the_key(tmp_path):
    study = _study(tmp_path)
    study["budget"]["trails"] = 3
    with pytest.raises(SpecError) as e:
        load_spec(study)
    assert str(e.value).startswith("<dict>:") and "budget.trails" in str(e.value)
    assert "did you mean 'trials'?" in str(e.value)


def test_unknown_run_option_is_one_clear_error(tmp_path):
    with pytest.raises(SearchlabError, match="unknown option 'verbose'"):
        searchlab.run(_study(tmp_path), verbose=True)


def test_show_and_load_of_a_study_that_is_not_there(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'none.db'}"
    assert main(["show", "nope", "--tracking-uri", uri]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"searchlab: error: no MLflow store at {uri}; pass --tracking-uri (or set "
        "MLFLOW_TRACKING_URI) to where the study was tracked"]
    with pytest.raises(SearchlabError, match="no MLflow store"):
        searchlab.load("nope", tracking_uri=uri)


@pytest.mark.slow
def test_run_a_dict_then_load_and_show_it_from_mlflow(ray_cluster, tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = searchlab.run(_study(tmp_path), storage=str(tmp_path / "store"), quiet=True)
    frame = result.to_dataframe()
    assert len(frame) == 4 and set(frame["status"]) == {"completed"}
    assert list(frame.columns[:6]) == ["trial_id", "status", "loss", "epochs", "run_id", "error"]
    assert {"config/x1", "config/x2"} <= set(frame.columns)
    expected = frame["config/x1"] ** 2 + frame["config/x2"] ** 2
    assert (abs(frame["loss"] - expected) < 1e-9).all()

    loaded = searchlab.load("api-sphere", tracking_uri=uri).set_index("trial_id").sort_index()
    ours = frame.set_index("trial_id").sort_index()
    assert list(loaded.index) == list(ours.index)
    assert (abs(loaded["loss"] - ours["loss"]) < 1e-9).all()
    assert (abs(loaded["config/x1"] - ours["config/x1"]) < 1e-9).all()
    assert list(loaded["epochs"]) == [1, 1, 1, 1] and set(loaded["status"]) == {"completed"}
    assert loaded.attrs == {"metric": "loss", "mode": "min", "study": "api-sphere"}

    capsys.readouterr()
    assert main(["show", "api-sphere", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    best = ours["loss"].idxmin()
    assert "best trials of api-sphere (loss, min)" in out and best in out
    assert out.index(best) < min(out.index(t) for t in ours.index if t != best)
    assert "4 trials (4 completed)" in out

    assert main(["show", "api-spher", "--tracking-uri", uri]) == 2
    assert "did you mean 'api-sphere'?" in capsys.readouterr().err


def test_a_study_is_a_dict_yaml_text_or_a_path(tmp_path):
    study = _study(tmp_path)
    text = "name: t\nworkload: sphere\nmetric: {name: loss, mode: min}\n" \
           "space: {x: {uniform: [0, 1]}}\nbudget: {trials: 2}\n"
    (tmp_path / "s.yml").write_text(text)
    assert load_spec(study).study.name == "api-sphere"
    assert load_spec(text).study.name == "t"
    assert load_spec(str(tmp_path / "s.yml")).study.name == "t"
    assert load_spec(tmp_path / "s.yml").study.name == "t"
    with pytest.raises(SpecError, match="file not found"):
        load_spec(str(tmp_path / "missing.yaml"))


@pytest.mark.slow
def test_every_metric_and_the_analysis_tables_as_dataframes(ray_cluster, tmp_path):
    """A multi-objective study keeps its second objective (and every other metric the trials
    reported) in to_dataframe() and load(); its analysis tables (the Pareto front) come back as
    DataFrames from the result and from MLflow (issue 21, "Results a user can read")."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    study = {
        "name": "api-moo",
        "workload": {"function": "test_objectives:two_losses", "path": str(REPO / "tests")},
        "metric": [{"name": "loss", "mode": "min"}, {"name": "size", "mode": "max"}],
        "space": {"x1": {"uniform": [0.0, 1.0]}},
        "search": {"algorithm": "random", "seed": 2},
        "budget": {"trials": 4, "concurrency": 2},
        "tracking": {"uri": uri},
    }
    result = searchlab.run(study, storage=str(tmp_path / "store"), quiet=True)
    frame = result.to_dataframe()
    assert list(frame.columns[:7]) == ["trial_id", "status", "loss", "epochs", "run_id", "error",
                                       "size"], list(frame.columns)
    assert (abs(frame["size"] - frame["loss"] ** 2) < 1e-9).all()
    loaded = searchlab.load("api-moo", tracking_uri=uri).set_index("trial_id").sort_index()
    ours = frame.set_index("trial_id").sort_index()
    assert (abs(loaded["size"] - ours["size"]) < 1e-9).all()
    assert "time_total_s" in loaded.columns and "time_total_s" in ours.columns

    tables = result.tables()
    pareto = tables["pareto"]
    assert list(pareto.columns) == ["trial_id", "loss", "size"] and len(pareto) >= 1
    stored = searchlab.load_tables("api-moo", tracking_uri=uri)
    assert stored["pareto"].sort_values("trial_id").reset_index(drop=True).equals(
        pareto.sort_values("trial_id").reset_index(drop=True))


def test_analysis_tables_of_every_shape_become_dataframes():
    from searchlab.api import table_frames

    frames = table_frames({
        "records": [{"tuner": "cdt", "regret": 1.5}, {"tuner": "op", "regret": 2.0}],
        "keyed": {"cdt": {"regret": 1.5}, "op": {"regret": 2.0}},
        "lists": {"scored": ["a", "b", "c"], "held_out": ["c"]},
        "row": {"kendall_tau": 0.5, "holds": True},
        "number": 3.0,
    })
    assert set(frames) == {"records", "keyed", "lists", "row"}
    assert list(frames["records"]["regret"]) == [1.5, 2.0]
    assert list(frames["keyed"].index) == ["cdt", "op"]
    assert list(frames["lists"]["scored"]) == ["a", "b", "c"]
    assert frames["lists"]["held_out"].tolist()[0] == "c"
    assert frames["row"].iloc[0]["kendall_tau"] == 0.5
