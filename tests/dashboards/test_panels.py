"""Panel discovery, errors, and the small computations behind the panels."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import pytest

from searchlab.dashboard import DashboardError, build_report, figures_in, load_panels
from searchlab.errors import SearchlabError


@pytest.fixture(scope="module")
def panels() -> dict:
    return {m.__name__.rsplit(".", 1)[-1]: m for m in load_panels()}


@pytest.fixture(scope="module")
def common(panels: dict):
    return importlib.import_module(next(iter(panels.values())).__name__.rsplit(".", 1)[0] + "._common")


def test_panels_are_the_files_in_dashboards(panels: dict) -> None:
    files = {p.stem for p in (Path(__file__).parents[2] / "dashboards").glob("[!_]*.py")}
    assert set(panels) == files
    assert list(panels)[:4] == ["best_so_far", "learning_curves", "parallel_coords", "importance"]
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
    assert "Panels with nothing to show for these studies: CDT regret" in page


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


def test_performance_profile(panels: dict) -> None:
    times = {("a", "w1"): [10.0], ("b", "w1"): [20.0],
             ("a", "w2"): [math.inf], ("b", "w2"): [5.0, 7.0]}
    profile = panels["lrfree"].performance_profile(times)
    assert profile == {"a": [1.0, math.inf], "b": [1.0, 2.0]}


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
