"""The PFN stopping rule without Ray (PFNRule, PFNTrialRule), and through the Ray adapter with
fake trials (``model: pfn``); the study file's settings."""

import subprocess
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest

from searchlab.predictive.pfn import WEIGHTS, StudyPrediction
from searchlab.predictive.pfn_rule import PFNRule

EPOCHS = 20
T = np.arange(1, EPOCHS + 1)


def rising(level, tau=3.0, start=0.5):
    return start + (level - start) * (1 - np.exp(-T / tau))


class Stub:
    """A predictor whose distribution of a curve's final is uniform on [last, last + 0.1]."""

    def predict(self, curves, max_t, mode="max"):
        borders = np.linspace(-1.0, 2.0, 31)  # space z = v + 1 (hi 0, scale 1): bin of z
        probs = np.zeros((len(curves), 30))
        for i, c in enumerate(curves):
            probs[i, int(np.clip(np.floor((float(c[-1]) + 2.0) * 10), 0, 29))] = 1.0
        return StudyPrediction(probs, borders, 0.0, 1.0, 1.0)


def test_rule_stops_a_loser_against_the_rank_reference_and_keeps_the_leader():
    rule = PFNRule(Stub(), EPOCHS, delta=0.05, reference="rank", rank=1, min_seen=2)
    curves = {"a": [0.1, 0.2, 0.31], "b": [0.1, 0.22], "c": [0.0, 0.05], "d": [0.6, 0.71]}
    loser = rule.decide("c", curves, finals={})
    assert loser is not None and loser.stop and loser.p_beat == 0.0
    assert loser.reference == pytest.approx(0.75, abs=0.06)  # d's estimate, the best
    assert set(loser.estimates) == set(curves)
    leader = rule.decide("d", curves, finals={})
    assert leader is not None and not leader.stop and leader.p_beat == 1.0
    assert leader.reference == pytest.approx(0.35, abs=0.06)  # a's estimate, the best other


def test_rule_waits_for_min_seen_others_or_a_finished_trial():
    curves = {"a": [0.1, 0.2], "b": [0.3]}
    assert PFNRule(Stub(), EPOCHS, min_seen=2, rank=1).decide("a", curves, {}) is None
    best = PFNRule(Stub(), EPOCHS, reference="best", min_seen=1)
    assert best.decide("a", curves, {}) is None
    verdict = best.decide("a", curves, {"z": 0.9})
    assert verdict is not None and verdict.reference == 0.9 and verdict.stop
    assert "z" not in verdict.estimates  # a finished trial keeps its final value


def test_rule_rejects_bad_settings_and_unknown_trials():
    with pytest.raises(ValueError, match="rank"):
        PFNRule(Stub(), EPOCHS, rank=3, min_seen=2)
    with pytest.raises(ValueError, match="mode"):
        PFNRule(Stub(), EPOCHS, mode="up")
    with pytest.raises(ValueError, match="no curve"):
        PFNRule(Stub(), EPOCHS, min_seen=1).decide("x", {"a": [0.1]}, {})


# --- the rule as a TrialRule, told results directly (no Ray) ----------------------------------
needs_weights = pytest.mark.skipif(not WEIGHTS.exists(), reason="no shipped weights")


def tell(rule, trial_id, values):
    """Report ``values`` epoch by epoch; the epochs run (fewer when the rule stopped it)."""
    for epoch, value in enumerate(values, start=1):
        if rule.on_result(trial_id, {"x": trial_id}, epoch, float(value)):
            rule.on_end(trial_id, {"x": trial_id}, epoch, float(value))
            return epoch
    rule.on_end(trial_id, {"x": trial_id}, len(values), float(values[-1]))
    return len(values)


def test_trial_rule_with_a_stub_network_follows_rungs_min_epoch_and_keep_top():
    from searchlab.predictive.factory import PredictiveSettings
    from searchlab.predictive.pfn_rule import PFNTrialRule

    decisions = []
    settings = PredictiveSettings(model="pfn", reference="rank", rank=1, min_seen=2, delta=0.05,
                                  min_epoch=3, rungs=[3, 5])
    rule = PFNTrialRule(settings, Stub(), max_t=EPOCHS, mode="max",
                        on_decision=decisions.append)
    assert rule.ready is False and rule.own_ready  # the network needs no finished trial
    for name, level in (("a", 0.3), ("b", 0.35), ("c", 0.8)):
        assert tell(rule, name, np.full(EPOCHS, level)) == EPOCHS  # too few others to compare
    assert rule.best == 0.8 and rule.finished == {"a", "b", "c"}
    assert tell(rule, "d", np.full(EPOCHS, 0.2)) == 3  # the first rung at or after min_epoch
    assert {d.epoch for d in decisions} <= {3, 5} and decisions[-1].source == "pfn"
    assert decisions[-1].best == 0.8 and decisions[-1].p_beat_best == 0.0
    assert rule.stopped == {"d"} and rule.state()["prefix"]["d"] == [0.2] * 3
    guarded = PFNTrialRule(settings.model_copy(update={"keep_top": 0.5}), Stub(), max_t=EPOCHS,
                           mode="max")
    for name, level in (("a", 0.1), ("b", 0.15), ("c", 0.8)):
        tell(guarded, name, np.full(EPOCHS, level))
    assert tell(guarded, "d", np.full(EPOCHS, 0.2)) == EPOCHS  # 2nd of 4 at its epochs: kept


def test_trial_rule_restarted_trial_overwrites_its_curve_and_state_round_trips():
    from searchlab.predictive.factory import PredictiveSettings
    from searchlab.predictive.pfn_rule import PFNTrialRule

    settings = PredictiveSettings(model="pfn", reference="rank", min_seen=1)
    rule = PFNTrialRule(settings, Stub(), max_t=EPOCHS, mode="max")
    for epoch, value in enumerate([0.1, 0.2, 0.3], start=1):
        rule.on_result("a", {}, epoch, value)
    rule.on_result("a", {}, 1, 0.5)  # restarted from its beginning
    assert rule.prefix["a"] == [0.5]
    again = PFNTrialRule(settings, Stub(), max_t=EPOCHS, mode="max")
    again.load(rule.state())
    assert again.prefix == rule.prefix and again.curves == rule.curves


@needs_weights
def test_the_shipped_pfn_stops_losers_and_keeps_the_best_without_ray():
    from searchlab.predictive.factory import PredictiveSettings, build_rule

    decisions = []
    settings = PredictiveSettings(model="pfn", reference="rank", rank=1, min_seen=3,
                                  delta=0.05, min_epoch=2)
    rule = build_rule(settings, metric="acc", mode="max", max_t=EPOCHS,
                      on_decision=decisions.append)
    rng = np.random.default_rng(0)
    levels = rng.uniform(0.6, 0.8, 12).tolist() + [0.95] + rng.uniform(0.55, 0.65, 6).tolist()
    ran = {k: tell(rule, f"t{k}", rising(level) + rng.normal(0, 0.002, EPOCHS))
           for k, level in enumerate(levels)}
    assert ran[12] == EPOCHS  # the best configuration runs to the end
    assert sum(ran[k] < EPOCHS for k in range(13, 19)) >= 4  # most clear losers stop early
    assert decisions and all(d.source == "pfn" for d in decisions)
    assert rule.stopped and all(0.0 <= d.p_beat_best <= 1.0 for d in decisions)


# --- through the Ray adapter (fake trials, no Ray cluster) -------------------------------------
@dataclass(eq=False)
class FakeTrial:
    trial_id: str
    config: dict = field(default_factory=dict)
    status: str = "RUNNING"


def run_trial(scheduler, trial, values):
    from ray.tune.schedulers import TrialScheduler

    for epoch, value in enumerate(values, start=1):
        action = scheduler.on_trial_result(None, trial, {"training_iteration": epoch,
                                                         "acc": value})
        if action == TrialScheduler.STOP or epoch == len(values):
            scheduler.on_trial_complete(None, trial, {"training_iteration": epoch, "acc": value})
            return epoch
    return len(values)


@needs_weights
def test_scheduler_with_the_pfn_in_mode_min():
    from searchlab.predictive.factory import PredictiveSettings, build_scheduler
    from searchlab.predictive.pfn_rule import PFNTrialRule

    settings = PredictiveSettings(model="pfn", reference="rank", min_seen=3, delta=0.05)
    scheduler = build_scheduler(settings, metric="acc", mode="min", max_t=EPOCHS)
    assert isinstance(scheduler.rule, PFNTrialRule)
    ran = [run_trial(scheduler, FakeTrial(f"t{k}", {"a": k}), 2.0 - rising(level))
           for k, level in enumerate([0.7, 0.75, 0.72, 0.9, 0.55, 0.56])]
    assert ran[3] == EPOCHS and min(ran[4:]) < EPOCHS
    assert scheduler.stopped_by_rule


def test_settings_refuse_what_the_pfn_does_not_use():
    from pydantic import ValidationError

    from searchlab.predictive.factory import PredictiveSettings

    with pytest.raises(ValidationError, match="model: pfn does not use prior, calibration"):
        PredictiveSettings(model="pfn", calibration="conformal", prior={"lcbench": True})
    assert PredictiveSettings(model="pfn").model == "pfn"


def test_a_study_file_with_model_pfn_validates_without_torch(tmp_path):
    """``searchlab validate`` reads the settings only: no torch, no weights loaded."""
    study = tmp_path / "s.yaml"
    study.write_text("name: p\nworkload: sphere\nmetric: {name: loss, mode: min}\n"
                     "space: {x: {uniform: [0, 1]}}\nbudget: {trials: 2, max_epochs: 4}\n"
                     "stopping: {scheduler: predictive, model: pfn, reference: rank, "
                     "min_seen: 3}\n")
    code = ("import sys\nfrom searchlab.spec.parse import load_study\n"
            f"study = load_study({str(study)!r}).study\n"
            "assert study.stopping.settings.model == 'pfn'\n"
            "print('torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr[-2000:]
    bad = tmp_path / "bad.yaml"
    bad.write_text(study.read_text().replace("min_seen: 3", "min_seen: 3, fallback: asha"))
    proc = subprocess.run([sys.executable, "-m", "searchlab.cli", "validate", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "model: pfn does not use fallback" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    missing = tmp_path / "missing.yaml"
    missing.write_text(study.read_text().replace("min_seen: 3", "min_seen: 3, weights: no.pt"))
    proc = subprocess.run([sys.executable, "-m", "searchlab.cli", "validate", str(missing)],
                          capture_output=True, text=True, timeout=120)
    out = proc.stderr + proc.stdout
    assert proc.returncode != 0 and "missing.yaml:" in out and "'no.pt' not found" in out, out
    assert "Traceback" not in proc.stderr


def test_rule_and_network_import_without_ray_or_mlflow():
    code = ("import importlib.abc, sys\n"
            "class Block(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.split('.')[0] in ('ray', 'mlflow'):\n"
            "            raise ImportError(name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import searchlab.predictive.pfn_rule, searchlab.predictive.curve_prior\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
