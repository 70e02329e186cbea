"""The lr_free method through run_local: calibration finds a known optimum; a tiny suite ends
with scores, profiles, time to target and sensitivity."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from searchlab.methods.base import TrialRequest, TrialResult
from searchlab.methods.local import run_local
from searchlab.methods.lr_free.method import LRFreeMethod, calibration_score
from searchlab.methods.lr_free.settings import LRFreeSettings
from searchlab.spec.parse import load_study, parse_text

SYNTH = "searchlab.methods.lr_free.synthetic:synthetic"
ROOT = Path(__file__).resolve().parents[3]


def _with(settings: LRFreeSettings):
    """A study of the lr_free method with these settings."""
    study = parse_text("name: t\nmethod: {name: lr_free}\n").study
    return study.model_copy(update={"method": LRFreeMethod(settings)})


def _result(values: list[float], target: float) -> TrialResult:
    history = [{"step": 10.0 * (i + 1), "val_metric": v, "target": target}
               for i, v in enumerate(values)]
    return TrialResult("t", TrialRequest({}, len(values)), "completed", history[-1], history)


def test_calibration_score_hand_worked() -> None:
    # target at the first evaluation: ratio 1 -> area 1; the tie-break adds 0.01 * 1
    assert calibration_score([_result([0.1, 0.05], 0.2)], [2]) == pytest.approx(1.01)
    # never: area 0, closeness target / best = 0.5
    assert calibration_score([_result([0.9, 0.4], 0.2)], [2]) == pytest.approx(0.005)
    # reached at evaluation 4 of 10: rho = [tau >= 4] on 100 points in [1, 10] -> area ~ 6/9
    s = calibration_score([_result([0.9, 0.8, 0.7, 0.1] + [0.1] * 6, 0.2)], [10])
    assert s - 0.01 == pytest.approx(6 / 9, abs=0.01)
    # the mean over workloads
    both = calibration_score([_result([0.1, 0.05], 0.2), _result([0.9, 0.4], 0.2)], [2, 2])
    assert both == pytest.approx((1.01 + 0.005) / 2)


def test_calibration_finds_the_known_optimum() -> None:
    settings = LRFreeSettings(optimizers=["adamw"], calibration_workloads=[SYNTH],
                              workloads=[SYNTH], calibration_trials=24, calibration_parallel=1,
                              repeats=1, sensitivity_workload=None)
    study = _with(settings)
    out = run_local(study)
    calibrated = out.analysis.tables["calibrated_hparams"]["adamw"]
    # the synthetic workload is fastest at lr = 3e-3 and beta1 = 0.9; defaults: lr 1e-3
    assert 1.5e-3 < calibrated["lr"] < 6e-3
    assert 0.86 < calibrated["beta1"] < 0.94
    rows = out.analysis.tables["calibration"]
    assert len(rows) == 24 and rows[0]["proposal"] == 0 and rows[0]["lr"] == 1e-3
    assert max(r["score"] for r in rows) > rows[0]["score"]
    ttt = {r["setting"]: r["median_steps"] for r in out.analysis.tables["time_to_target"]}
    assert ttt["calibrated"] < ttt["defaults"]


def test_tiny_suite_through_run_local() -> None:
    loaded = load_study(ROOT / "spaces" / "lr_free_tiny.yaml")
    study = loaded.study
    run = study.method.start(study)
    out = run_local(study)
    # calibration 2 opt x 2 proposals x 1 workload, scoring 2 workloads x 2 opt x 2 settings x
    # 2 repeats, the NadamW sweep of 3 lrs (Prodigy's point is its seed-0 defaults scoring run)
    assert len(out.results) == run.total == 2 * 2 * 1 + 2 * 2 * 2 * 2 + 3
    assert all(r.status == "completed" for r in out.results), [r.error for r in out.results]
    phases = [r.request.tags["lr_free.phase"] for r in out.results]
    # scoring is asked only once every calibration trial has been told
    last_calibration = max(i for i, p in enumerate(phases) if p == "calibration")
    assert min(i for i, p in enumerate(phases) if p == "scoring") > last_calibration
    a = out.analysis
    table = {r["optimizer"]: r for r in a.tables["scores"]}
    assert set(table) == {"prodigy", "nadamw"}
    for row in table.values():
        for key in ("defaults", "calibrated", "defaults_held_out", "calibrated_held_out"):
            assert 0.0 <= row[key] <= 1.0
    assert max(max(r["defaults"], r["calibrated"]) for r in table.values()) == pytest.approx(1.0)
    assert a.tables["workloads"] == {"calibration": ["synthetic"],
                                     "scored": ["synthetic", "tabular"],
                                     "held_out": ["tabular"]}
    assert set(a.figures) == {"performance_profiles", "performance_profiles_held_out",
                              "time_to_target", "lr_sensitivity", "calibration"}
    sweep = [r for r in a.tables["sensitivity"] if r["setting"] == "sensitivity"]
    assert sorted(r["lr"] for r in sweep) == [1e-4, 1e-2, 1.0]
    assert {r["optimizer"] for r in a.tables["sensitivity"]
            if r["setting"] == "defaults"} == {"prodigy"}
    assert a.metrics["compute.trials"] == len(out.results)
    assert "ordering.defaults_below_calibrated" in a.metrics
    json.dumps(a.tables, allow_nan=False)
    json.dumps(a.figures)
    assert "Prodigy" in a.text and "NAdamW" in a.text
    assert all(math.isfinite(v) for v in a.metrics.values())


def test_replay_is_deterministic() -> None:
    settings = LRFreeSettings(optimizers=["prodigy", "adamw"], calibration_workloads=[SYNTH],
                              workloads=[SYNTH], calibration_trials=3, repeats=1,
                              sensitivity_workload=None)
    study = _with(settings)
    a = run_local(study)
    b = run_local(study)
    assert [r.request.config for r in a.results] == [r.request.config for r in b.results]


def test_settings_errors_are_one_line() -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        LRFreeSettings(optimizers=["adam"])
    with pytest.raises(ValueError, match="unknown workload 'mnist'"):
        LRFreeSettings(workloads=["mnist"])
    from searchlab.errors import SpecError

    # the parser enforces what the method refuses, with the file's line
    with pytest.raises(SpecError, match=r"<study>:3: .*does not use 'workload'"):
        parse_text("name: t\nmethod: {name: lr_free}\nworkload: sphere\n")


def test_the_torch_free_name_tables_match_the_optimizers_and_workloads() -> None:
    from searchlab.methods.lr_free import optimizers, settings, workloads

    assert tuple(optimizers.OPTIMIZERS) == settings.OPTIMIZERS
    assert all(o in optimizers.OPTIMIZERS for o in settings.BASELINES)
    for name, ref in settings.WORKLOADS.items():
        assert ref == f"{workloads.MODULE}:{name}" and callable(getattr(workloads, name))
