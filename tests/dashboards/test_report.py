"""The HTML report: self-contained, and the traces each panel draws from the fake studies."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest

from searchlab.dashboard import figures_in

STATUS_COLORS = {"completed": "#2e7d32", "early_stopped": "#8d99ae", "diverged": "#ef6c00",
                 "failed": "#c62828", "running": "#6a1b9a"}


def values(v: object) -> list:
    """A plotly JSON array, plain or typed (``{"dtype": ..., "bdata": ...}``), as a list."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)  # type: ignore[call-overload]


def title(fig: dict) -> str:
    return fig["layout"].get("title", {}).get("text", "")


@pytest.fixture(scope="module")
def page(report: Path) -> str:
    return report.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def figs(page: str) -> dict[str, dict]:
    out = {title(f): f for f in figures_in(page)}
    assert len(out) == len(figures_in(page)), "figure titles should be unique"
    return out


def one(figs: dict[str, dict], prefix: str) -> dict:
    found = [f for t, f in figs.items() if t.startswith(prefix)]
    assert len(found) == 1, (prefix, list(figs))
    return found[0]


def test_page_is_self_contained_with_plotly_inlined_once(page: str) -> None:
    from plotly.offline import get_plotlyjs

    assert page.count(get_plotlyjs()[:80]) == 1
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)  # the browser test checks no request leaves


def test_every_panel_has_a_section(page: str) -> None:
    for heading in ("Best so far", "Learning curves", "Parallel coordinates",
                    "Parameter importance",
                    "CDT regret", "Predicted final values", "Result", "Stored analyses"):
        assert f"<h2>{heading}</h2>" in page
    assert "Panels with nothing to show" not in page
    # the summary table names every execution and its best trial
    for name in ("mnist-asha-1", "mnist-asha-2", "mnist-random-1", "bandit-cdt-1",
                 "lr-free-suite-1", "stn-reference-1"):
        assert f"<td>{name}</td>" in page


def test_best_so_far_overlays_studies_on_the_same_metric(figs: dict, fake_store) -> None:
    fig = one(figs, "Best val_accuracy so far")
    lines = [t for t in fig["data"] if t["mode"] == "lines"]
    names = {t["name"] for t in lines}
    assert names == {"mnist-asha · mnist-asha-1", "mnist-asha · mnist-asha-2", "mnist-random"}
    asha = fake_store.studies["mnist-asha"]["executions"]
    expected = {"mnist-asha · mnist-asha-1": asha[0]["best_value"],
                "mnist-asha · mnist-asha-2": asha[1]["best_value"],
                "mnist-random": fake_store.studies["mnist-random"]["executions"][0]["best_value"]}
    for t in lines:
        x, y = values(t["x"]), values(t["y"])
        assert y == sorted(y), "best so far of a max metric never decreases"
        assert x == sorted(x) and x[0] >= 0
        if t["name"] in expected:
            assert y[-1] == pytest.approx(expected[t["name"]])
    # one line against wall time (xaxis) and one against trials (xaxis2) per execution
    assert sorted(t.get("xaxis", "x") for t in lines) == ["x"] * 3 + ["x2"] * 3
    assert not any(t.startswith(("Best cum_regret", "Best time_to_target")) for t in figs), \
        "bandit runs and benchmark cells are not trials of one configuration"
    assert not any(t.startswith("lr-free-suite") and "by epoch" in t for t in figs)


def test_learning_curves_are_coloured_by_status(figs: dict, fake_store) -> None:
    fig = one(figs, "mnist-asha: val_accuracy by epoch")
    statuses = [s for ex in fake_store.studies["mnist-asha"]["executions"] for s in ex["statuses"]]
    counts = {s: statuses.count(s) for s in set(statuses) if s != "failed"}  # failed: no metrics
    drawn = {t["name"].split(" (")[0]: t for t in fig["data"]}
    assert set(drawn) == set(counts)
    for status, trace in drawn.items():
        assert trace["name"] == f"{status} ({counts[status]})"
        assert trace["line"]["color"] == STATUS_COLORS[status]
        assert values(trace["y"]).count(None) == counts[status]  # one gap after each curve
    running = one(figs, "mnist-random: val_accuracy by epoch")
    assert any(t["name"] == "running (1)" for t in running["data"])


def test_parallel_coordinates_cover_the_space(figs: dict) -> None:
    (trace,) = [t for name, f in figs.items() if name.startswith("mnist-asha:")
                for t in f["data"] if t["type"] == "parcoords"]
    dims = {d["label"]: d for d in trace["dimensions"]}
    assert set(dims) == {"batch_size", "dropout", "log10(lr)", "optimizer",
                         "optimizer.sgd.momentum", "val_accuracy"}
    assert dims["optimizer"]["ticktext"] == ["adam", "sgd"]
    assert dims["optimizer.sgd.momentum"]["ticktext"][0] == "n/a"  # conditional on sgd
    assert dims["batch_size"]["tickvals"] == [32, 64, 128]
    n = len(values(dims["val_accuracy"]["values"]))
    assert all(len(values(d["values"])) == n for d in dims.values())


def test_importance_is_fanova_over_shared_parameters(figs: dict) -> None:
    fig = one(figs, "mnist-asha: fANOVA importance")
    (bar,) = fig["data"]
    scores = dict(zip(values(bar["y"]), values(bar["x"]), strict=True))
    assert set(scores) == {"lr", "batch_size", "dropout", "optimizer"}
    assert sum(scores.values()) == pytest.approx(1.0)
    assert max(scores, key=scores.get) == "lr"  # the fake accuracy depends mostly on lr


def test_cdt_regret_has_a_band_and_a_mean_per_tuner(figs: dict, fake_store) -> None:
    facts = fake_store.studies["bandit-cdt"]
    for bandit, hp in facts["bandits"].items():
        fig = one(figs, f"bandit-cdt, linear-d5, {bandit}: cumulative regret")
        bands = [t for t in fig["data"] if t.get("fill") == "toself"]
        means = [t for t in fig["data"] if t.get("fill") != "toself"]
        labels = [*facts["tuners"], f"best fixed ({facts['best_fixed'].format(hp=hp)})"]
        assert sorted(t["name"] for t in means) == sorted(f"{k} (n={facts['seeds']})"
                                                          for k in labels)
        assert len(bands) == len(means)
        final = {}
        for band, mean in zip(bands, means, strict=True):
            y, ys = values(mean["y"]), values(band["y"])
            assert values(mean["x"]) == list(range(1, facts["chunks"] + 1))
            high, low = ys[: len(y)], ys[len(y):][::-1]
            assert all(lo <= m <= hi for lo, m, hi in zip(low, y, high, strict=True))
            assert high[-1] > low[-1]  # three seeds: a band of some width
            final[mean["name"].split(" (")[0]] = y[-1]
        assert final["cdt"] < final["op"] < final["theoretical"]
        chosen = one(figs, f"bandit-cdt, linear-d5, {bandit}: {hp} chosen")
        assert chosen["layout"]["yaxis"]["title"]["text"] == hp
        # the section leads with CDT's own table: every seed of each tuner, the best fixed value
        table = one(figs, f"bandit-cdt, linear-d5, {bandit}: final regret over seeds")
        titles = list(figs)
        assert titles.index(title(table)) < titles.index(title(fig))
        cells = [values(c) for c in table["data"][0]["cells"]["values"]]
        best = facts["best_fixed"].format(hp=hp)
        assert cells[0] == ["cdt", "op", "theoretical", f"best fixed: {best}",
                            f"worst fixed: {hp}=0.1"]
        assert set(cells[1]) == {str(facts["seeds"])} and all(" ± " in c for c in cells[2])
        assert cells[3][3] == "+0.0 %" and cells[3][0].startswith("-")  # cdt beats the oracle
        assert cells[4][0] == "" and all(" ± " in c for c in cells[4][1:])
    assert not any("round chosen" in t or "seconds chosen" in t for t in figs)


def test_the_study_table_leads_with_cdts_result_not_a_single_run(page: str) -> None:
    row = next(r for r in re.findall(r"<tr>.*?</tr>", page) if "bandit-cdt" in r)
    assert "linear-d5/linucb: cdt " in row and "% over best fixed (alpha=1)" in row


def test_predicted_against_actual_final_values(figs: dict, fake_store) -> None:
    fig = one(figs, "cifar-predictive: predicted vs actual")
    diagonal, points = fig["data"]
    assert values(diagonal["x"]) == values(diagonal["y"])
    # one point per epoch of each completed trial (12 epochs each)
    assert len(values(points["x"])) == 12 * fake_store.studies["cifar-predictive"]["n_completed"]
    p_beat = one(figs, "cifar-predictive: probability of beating")
    assert {t["name"].split(" (")[0] for t in p_beat["data"]} == {"completed", "early_stopped"}
    stopped = next(t for t in p_beat["data"] if t["name"].startswith("early_stopped"))
    assert any("p_beat_best=" in (s or "") for s in stopped["text"])  # the stop reason


def test_stored_analyses_are_drawn_as_stored(figs: dict, fake_store) -> None:
    facts = fake_store.studies["lr-free-suite"]
    profile = one(figs, "lr-free-suite: performance profile of time to target")
    assert [t["name"] for t in profile["data"]] == facts["optimizers"]
    assert [values(t["y"])[-1] for t in profile["data"]] == [facts["solved"][o]
                                                          for o in facts["optimizers"]]
    assert profile["layout"]["xaxis"]["type"] == "log"  # the stored layout is kept
    solved = one(figs, "lr-free-suite: solved")  # untitled: named by its file
    assert values(solved["data"][0]["y"]) == list(facts["solved"].values())
    summary = one(figs, "lr-free-suite: summary")
    (table,) = summary["data"]
    assert table["type"] == "table"
    assert values(table["cells"]["values"][0]) == [
        f"{o}: reached the target on {v:.0%} of workloads" for o, v in facts["solved"].items()]
    # CDT stores tables and text but no figures: its summary is shown, its regret drawn by its panel
    cdt = values(one(figs, "bandit-cdt: summary")["data"][0]["cells"]["values"][0])
    assert "linear-d5 / linucb (oracle: 2 fixed values)" in cdt
    assert any(line.strip().startswith("best fixed: alpha=1 ") for line in cdt)
    titles = list(figs)
    assert titles.index("lr-free-suite: summary") == titles.index("lr-free-suite: solved") + 1


def test_the_dashboard_command_without_names_reports_every_study_in_the_store(fake_store, tmp_path,
                                                                             capsys) -> None:
    from searchlab.cli import main
    from searchlab.dashboard import study_names

    names = study_names(fake_store.uri)
    assert sorted(names) == sorted(fake_store.studies)  # MLflow's Default experiment is not one
    out = tmp_path / "all.html"
    assert main(["dashboard", "-o", str(out), "--tracking-uri", fake_store.uri]) == 0
    assert f"({len(names)} studies: " in capsys.readouterr().out
    assert len(figures_in(out.read_text(encoding="utf-8"))) > len(names)


def test_the_dashboard_command_does_not_create_a_store_where_there_is_none(tmp_path, capsys):
    from searchlab.cli import main

    missing = tmp_path / "nowhere" / "mlflow.db"
    assert main(["dashboard", "--tracking-uri", f"sqlite:///{missing}"]) == 2
    assert "no MLflow store at" in capsys.readouterr().err
    assert not missing.exists()


def test_a_method_whose_analysis_leads_is_drawn_first(figs: dict, page: str, fake_store) -> None:
    # lr-free-suite tags its parent run searchlab.lead=analysis: its lead table and figure open
    # the page ("Result"), the figure is not drawn again under "Stored analyses", and the
    # overview names no best trial (its trials' values are on different workloads' scales)
    facts = fake_store.studies["lr-free-suite"]
    titles = list(figs)
    # the lead tables open the page: CDT's regret table, then lr-free-suite's table and figure
    assert titles[:3] == ["bandit-cdt: final_regret (analysis/final_regret.json)",
                          "lr-free-suite: time_to_target (analysis/time_to_target.json)",
                          "lr-free-suite: performance profile of time to target"]
    (table,) = figs[titles[1]]["data"]
    assert values(table["header"]["values"]) == ["optimizer", "workload", "time to target"]
    cells = [values(c) for c in table["cells"]["values"]]
    assert len(cells[0]) == len(facts["rows"])
    assert cells[2] == ["-" if r["time_to_target"] is None else f"{r['time_to_target']:.3f}"
                        if isinstance(r["time_to_target"], float) else str(r["time_to_target"])
                        for r in facts["rows"]]
    assert page.index('<section id="lead">') < page.index('<section id="best_so_far">')
    row = re.search(r"<tr><td>lr-free-suite</td>.*?</tr>", page).group(0)
    assert "<td>see Result</td>" in row


def test_stn_leads_with_its_runs_against_the_plain_run(figs: dict, page: str, fake_store) -> None:
    """STN's analysis leads ("Result", as every draws_own_analysis method's): its stn_result
    table (each run against the plain run of its seed), then its schedules (plain dashed)."""
    table = one(figs, "stn-reference: stn_result (analysis/stn_result.json)")
    header = values(table["data"][0]["header"]["values"])
    assert header[:4] == ["run", "status", "best val loss", "minus plain"]
    cells = [values(c) for c in table["data"][0]["cells"]["values"]]
    assert cells[0] == ["stn seed 0", "plain seed 0"]
    assert float(cells[3][0]) == pytest.approx(fake_store.studies["stn-reference"]["minus_plain"],
                                               abs=1e-3)
    assert cells[3][1] == "-"  # the plain run is the baseline
    schedules = one(figs, "stn-reference: STN: learned schedules and validation loss")
    assert [t["line"]["dash"] for t in schedules["data"]] == ["solid", "solid", "dash", "dash"]
    lead = page[page.index('<section id="lead">'):page.index("</section>",
                                                           page.index('<section id="lead">'))]
    assert "stn_result" in lead
    row = re.search(r"<tr><td>stn-reference</td>.*?</tr>", page).group(0)
    # no best trial (STN's runs are not one search): the headline stands where it would
    assert f"<td>{fake_store.studies['stn-reference']['headline']}</td>" in row
