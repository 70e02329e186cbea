"""Panel discovery, errors, and the small computations behind the panels."""

from __future__ import annotations

import dataclasses
import importlib
import math
from pathlib import Path

import pytest

from searchlab.dashboard import (
    DashboardError,
    StoredAnalysis,
    build_report,
    figures_in,
    load_panels,
    load_studies,
)
from searchlab.errors import SearchlabError


@pytest.fixture(scope="module")
def panels() -> dict:
    return {m.__name__.rsplit(".", 1)[-1]: m for m in load_panels()}


@pytest.fixture(scope="module")
def common(panels: dict):
    package = next(iter(panels.values())).__name__.rsplit(".", 1)[0]
    return importlib.import_module(package + "._common")


def test_panels_are_the_files_in_dashboards(panels: dict) -> None:
    files = {p.stem for p in (Path(__file__).parents[2] / "dashboards").glob("[!_]*.py")}
    assert set(panels) == files
    assert list(panels)[:5] == ["lead", "best_so_far", "learning_curves", "parallel_coords",
                                "importance"]
    for module in panels.values():
        assert callable(module.applies) and callable(module.render) and module.TITLE


def test_adding_a_panel_is_adding_a_file(tmp_path: Path, fake_store) -> None:
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "trial_count.py").write_text(
        '"""Trials per study."""\n'
        "import plotly.graph_objects as go\n"
        "TITLE = 'Trial count'\n"
        "def applies(studies):\n    return True\n"
        "def render(studies):\n"
        "    return [go.Figure(go.Bar(x=[s.name for s in studies],"
        " y=[len(s.trials) for s in studies]), layout={'title': {'text': 'count'}})]\n"
    )
    out = build_report(["mnist-random"], tmp_path / "r.html", fake_store.uri, panels_dir=tmp_path)
    page = out.read_text()
    assert "<h2>Trial count</h2>" in page and "Trials per study." in page
    (fig,) = figures_in(page)
    assert fig["data"][0]["y"] == [16]


def test_a_panel_without_render_is_reported(tmp_path: Path) -> None:
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "broken.py").write_text("TITLE = 'x'\ndef applies(studies):\n    return True\n")
    with pytest.raises(TypeError, match="broken.py lacks render"):
        load_panels(tmp_path)


def test_only_applicable_panels_are_drawn(tmp_path: Path, fake_store) -> None:
    page = build_report(["mnist-random"], tmp_path / "r.html", fake_store.uri).read_text()
    assert "<h2>Learning curves</h2>" in page and "<h2>CDT regret</h2>" not in page
    assert "Panels with nothing to show for these studies: Result, CDT regret" in page


def test_unknown_experiment_is_a_clear_error(tmp_path: Path, fake_store) -> None:
    with pytest.raises(DashboardError) as err:
        build_report(["mnist-asha", "no-such-study"], tmp_path / "r.html", fake_store.uri)
    assert isinstance(err.value, SearchlabError)
    message = str(err.value)
    assert "no MLflow experiment named 'no-such-study'" in message
    assert "mnist-asha" in message  # lists what is there
    assert not (tmp_path / "r.html").exists()


def test_experiment_without_searchlab_runs_is_a_clear_error(tmp_path: Path, fake_store) -> None:
    with pytest.raises(DashboardError, match="'Default' holds no searchlab study run"):
        build_report(["Default"], tmp_path / "r.html", fake_store.uri)
    with pytest.raises(DashboardError, match="at least one"):
        build_report([], tmp_path / "r.html", fake_store.uri)


def test_best_so_far(common) -> None:
    assert common.best_so_far([3, 1, 4, 1, 5], "max") == [3, 3, 4, 4, 5]
    assert common.best_so_far([3, 1, 4, 0.5], "min") == [3, 1, 1, 0.5]


def test_mean_band(common) -> None:
    steps, mean, low, high = common.mean_band([{1: 1.0, 2: 2.0}, {1: 3.0, 2: 4.0}, {1: 2.0}])
    assert steps == [1, 2] and mean == [2.0, 3.0]
    half = 1.96 * 1.0 / math.sqrt(3)  # sd 1 over three curves at step 1
    assert low[0] == pytest.approx(2 - half) and high[0] == pytest.approx(2 + half)


def test_parallel_coordinate_dimensions(panels: dict) -> None:
    dim = panels["parallel_coords"].dimension
    assert dim("x", ["1", "1"]) is None  # never varies
    cat = dim("opt", ["sgd", "adam", None])
    assert cat["ticktext"] == ["adam", "sgd", "n/a"] and cat["values"] == [1, 0, 2]
    lr = dim("lr", ["0.0001", "0.1", None])
    assert lr["label"] == "log10(lr)" and lr["ticktext"][0] == "n/a"
    assert lr["values"][:2] == pytest.approx([-4, -1]) and lr["values"][2] < -4
    assert panels["parallel_coords"].colour_range([1, 2, 3, 4, 5], "max") == (2, 5)
    assert panels["parallel_coords"].colour_range([1, 2, 3, 4, 5], "min") == (1, 4)


def test_inferred_distributions(panels: dict, fake_store) -> None:
    from searchlab.dashboard import load_studies

    (study,) = load_studies(["mnist-random"], fake_store.uri)
    dists = panels["importance"].infer_distributions(study.trials)
    assert set(dists) == {"lr", "batch_size", "dropout", "optimizer"}  # momentum is conditional
    assert dists["lr"].log and type(dists["batch_size"]).__name__ == "IntDistribution"
    assert type(dists["optimizer"]).__name__ == "CategoricalDistribution"


def test_a_diverged_trials_worst_value_is_not_plotted(fake_store) -> None:
    from searchlab.dashboard import load_studies

    (study,) = load_studies(["mnist-random"], fake_store.uri)
    (trial,) = [t for t in study.trials if t.status == "diverged"]
    # searchlab logs -inf; MLflow hands back -sys.float_info.max; the loader restores -inf
    assert trial.metrics["val_accuracy"] == -math.inf
    assert trial.final("val_accuracy") is None
    assert trial.curve("val_accuracy")[0] == [1, 2]


def test_stored_analysis_is_loaded_from_the_parent_run(fake_store) -> None:
    suite, plain = load_studies(["lr-free-suite", "mnist-random"], fake_store.uri)
    facts = fake_store.studies["lr-free-suite"]
    analysis = suite.latest.analysis
    assert analysis.tables == {"time_to_target": facts["rows"]}
    assert set(analysis.figures) == {"performance_profile", "solved"}
    assert analysis.figures["performance_profile"]["layout"]["title"]["text"] == \
        "performance profile of time to target"
    assert analysis.text.splitlines()[0] == "adam_tuned: reached the target on 100% of workloads"
    assert suite.latest.metrics["solved.dadapt"] == pytest.approx(0.75)  # headline metrics
    assert plain.latest.analysis == StoredAnalysis() and not plain.latest.analysis


def test_an_analysis_that_cannot_be_read_is_said_and_the_rest_drawn(tmp_path: Path,
                                                                     capsys) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("broken", artifact_location=(tmp_path / "a").as_uri())
    run = client.create_run(exp, tags={"searchlab.role": "study"}).info.run_id
    client.log_text(run, "{not json", "analysis/profile.plotly.json")
    client.log_text(run, '{"data": []}', "analysis/fine.plotly.json")
    client.log_text(run, "the summary", "analysis/summary.md")
    (study,) = load_studies(["broken"], uri)
    said = f"run {run}: analysis/profile.plotly.json is not valid JSON"
    assert set(study.latest.analysis.figures) == {"fine"}
    assert study.latest.analysis.text.splitlines()[0] == "the summary"
    assert said in study.latest.analysis.text and said in capsys.readouterr().err
    # an artifact store that cannot be read: the study is still shown, with the reason
    stored = next((tmp_path / "a").rglob("fine.plotly.json"))
    stored.unlink()
    stored.symlink_to(tmp_path / "gone")  # listed, cannot be downloaded
    (study,) = load_studies(["broken"], uri)
    assert study.latest.analysis.text.startswith(f"cannot read the stored analysis of run {run}")
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_stored_figure_plotly_cannot_read_says_why(panels: dict) -> None:
    fig = panels["analysis"].stored_figure("s", "odd", {"data": [{"type": "no_such_trace"}]})
    assert fig.layout.title.text == "s: odd"
    assert "analysis/odd.plotly.json could not be drawn" in fig.layout.annotations[0].text


def _cdt_regret(panels: dict, study) -> dict[str, list[float]]:
    """Mean final regret per drawn tuner in the linucb regret figure."""
    (fig,) = [f for f in panels["cdt"].render([study])
              if f.layout.title.text.startswith(f"{study.name}, linear-d5, linucb: cumulative")]
    return {t.name.split(" (n=")[0]: list(t.y) for t in fig.data if t.fill != "toself"}


def test_cdt_draws_the_stored_best_fixed_value(panels: dict, fake_store) -> None:
    (study,) = load_studies(["bandit-cdt"], fake_store.uri)
    stored = study.latest.analysis
    assert {(r["bandit"], r["fixed"]) for r in stored.tables["best_fixed"]} == \
        {("linucb", "alpha=1"), ("lints", "v=1")}
    assert "best fixed (alpha=1)" in _cdt_regret(panels, study)
    # Whatever the stored table names is drawn (here the worse grid value), not recomputed.
    worse = StoredAnalysis(tables={"best_fixed": [
        {"environment": "linear-d5", "bandit": "linucb", "fixed": "alpha=0.1", "final_regret": 0}]})
    swapped = dataclasses.replace(
        study, executions=(dataclasses.replace(study.latest, analysis=worse),))
    drawn = _cdt_regret(panels, swapped)
    assert set(drawn) == {"cdt", "op", "theoretical", "best fixed (alpha=0.1)"}
    assert (drawn["best fixed (alpha=0.1)"][-1]
            > _cdt_regret(panels, study)["best fixed (alpha=1)"][-1])
    # No stored table: no best-fixed band, and the oracle's other runs are never drawn.
    bare = dataclasses.replace(
        study, executions=(dataclasses.replace(study.latest, analysis=StoredAnalysis()),))
    assert set(_cdt_regret(panels, bare)) == {"cdt", "op", "theoretical"}
