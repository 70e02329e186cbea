"""The scheduler's decisions on synthetic curves, driven with fake trials (no Ray cluster)."""

from dataclasses import dataclass, field

import numpy as np
import pytest
from ray.tune.schedulers import TrialScheduler

from searchlab.predictive.factory import PredictiveFactory, PredictiveSettings, build_scheduler
from searchlab.predictive.predictor import CurvePredictor
from searchlab.predictive.scheduler import PredictiveScheduler
from searchlab.spec.space import flat_config
from searchlab.stopping.base import SchedulerContext
from searchlab.tracking import annotations

from .synthetic import curve, pool

EPOCHS = 12


@dataclass(eq=False)
class FakeTrial:
    trial_id: str
    config: dict = field(default_factory=dict)
    status: str = "RUNNING"


def run_trial(scheduler, trial, values):
    """Feed results until the scheduler stops the trial; return the epochs it ran."""
    for epoch, value in enumerate(values, start=1):
        action = scheduler.on_trial_result(None, trial, {"training_iteration": epoch, "acc": value})
        if action == TrialScheduler.STOP or epoch == len(values):
            scheduler.on_trial_complete(None, trial, {"training_iteration": epoch, "acc": value})
            return epoch
        assert action == TrialScheduler.CONTINUE
    return len(values)


def make(min_finished=10, delta=0.05, **kw):
    s = PredictiveScheduler(CurvePredictor(EPOCHS), metric="acc", mode="max",
                            min_finished=min_finished, delta=delta, **kw)
    s.on_trial_add(None, FakeTrial("x"))
    return s


def warm_up(scheduler, n=10, seed=0):
    configs, curves = pool(n, EPOCHS, seed)
    for i, (c, y) in enumerate(zip(configs, curves)):
        assert run_trial(scheduler, FakeTrial(f"w{i}", {"hp": c}), y) == EPOCHS
    return curves[:, -1].max()


def test_no_stopping_before_min_finished():
    s = make(min_finished=8)
    configs, curves = pool(7, EPOCHS)
    for i, (c, y) in enumerate(zip(configs, curves)):
        run_trial(s, FakeTrial(f"t{i}", {"hp": c}), y)
    assert not s.ready and s.predictor.n == 7
    bad = FakeTrial("bad", {"hp": {"a": 0.1, "tau": 3.0, "opt": "sgd"}})
    assert run_trial(s, bad, curve(0.1, 3.0, EPOCHS)) == EPOCHS


def test_stops_a_clearly_bad_trial_early_and_keeps_a_better_one():
    s = make()
    best = warm_up(s)
    bad = FakeTrial("bad", {"hp": {"a": 0.25, "tau": 3.0, "opt": "adam"}})
    good = FakeTrial("good", {"hp": {"a": best + 0.05, "tau": 3.0, "opt": "adam"}})
    assert run_trial(s, bad, curve(0.25, 3.0, EPOCHS)) <= 3
    assert run_trial(s, good, curve(best + 0.05, 3.0, EPOCHS)) == EPOCHS
    assert s.stopped_by_rule == {"bad"}
    assert s._best == pytest.approx(curve(best + 0.05, 3.0, EPOCHS)[-1])  # the new best


def test_decisions_are_annotated_with_prediction_probability_and_reason():
    annotations.drain()
    decisions = []
    s = make(on_decision=decisions.append)
    warm_up(s)
    run_trial(s, FakeTrial("bad", {"hp": {"a": 0.25, "tau": 3.0, "opt": "sgd"}}), curve(0.25, 3.0, EPOCHS))
    notes = [a for a in annotations.drain() if a.trial_id == "bad"]
    assert notes and all({"predicted_final", "p_beat_best"} <= set(a.metrics) for a in notes)
    assert "predictive: P(final beats best" in notes[-1].tags["searchlab.stop_reason"]
    assert decisions[-1].stop and decisions[-1].p_beat_best < 0.05
    assert decisions[-1].predicted_final == pytest.approx(0.25, abs=0.08)
    r2 = s.report_r2()
    assert r2["0.5"] > 0.8
    study = annotations.drain()
    assert "predictor_r2.json" in study[-1].texts


def test_min_epoch_and_last_epoch_are_never_decided():
    s = make(min_epoch=3)
    warm_up(s)
    trial = FakeTrial("bad", {"hp": {"a": 0.2, "tau": 3.0, "opt": "sgd"}})
    assert run_trial(s, trial, curve(0.2, 3.0, EPOCHS)) == 3


def test_mode_min():
    s = PredictiveScheduler(CurvePredictor(EPOCHS), metric="loss", mode="min", min_finished=8)
    configs, curves = pool(10, EPOCHS)
    for i, (c, y) in enumerate(zip(configs, curves)):
        for e, v in enumerate(1 - y, start=1):
            s.on_trial_result(None, FakeTrial(f"w{i}", {"hp": c}), {"training_iteration": e, "loss": v})
    assert s.ready and s._best == pytest.approx((1 - curves[:, -1]).min())
    bad = FakeTrial("bad", {"hp": {"a": 0.2, "tau": 3.0, "opt": "sgd"}})
    actions = [s.on_trial_result(None, bad, {"training_iteration": e, "loss": v})
               for e, v in enumerate(1 - curve(0.2, 3.0, EPOCHS), start=1)]
    assert TrialScheduler.STOP in actions[:4]


def test_restarted_trial_overwrites_its_curve():
    s = make()
    t = FakeTrial("t", {"hp": {"a": 0.5}})
    for e in (1, 2, 3, 1, 2):
        s.on_trial_result(None, t, {"training_iteration": e, "acc": e / 10})
    assert s._curve("t", 2) == [0.1, 0.2]


def test_factory_builds_from_study_settings_and_warm_starts_from_a_curve_file(tmp_path):
    from searchlab.predictive.curves import CurveSet

    configs, curves = pool(12, EPOCHS)
    path = tmp_path / "curves.npz"
    CurveSet([flat_config({"hp": c}) for c in configs], {"acc": curves}).save(path)
    settings = PredictiveFactory.settings_model.model_validate(
        {"delta": 0.1, "min_finished": 10, "warm_start": {"file": str(path)}})
    ctx = SchedulerContext(metric="acc", mode="max", max_epochs=EPOCHS, space=None, seed=0,
                           study_name="t")
    s = PredictiveFactory().build(settings, ctx).scheduler
    assert s.predictor.n == 12 and not s.ready  # no best of this study yet
    run_trial(s, FakeTrial("first", {"hp": configs[0]}), curves[0])
    assert s.ready  # one finished trial of its own: stopping starts at once
    assert run_trial(s, FakeTrial("bad", {"hp": {"a": 0.2, "tau": 3.0, "opt": "sgd"}}),
                     curve(0.2, 3.0, EPOCHS)) < EPOCHS


def test_settings_are_validated():
    with pytest.raises(Exception, match="delta"):
        PredictiveSettings.model_validate({"delta": 1.5})
    with pytest.raises(Exception, match="extra"):
        PredictiveSettings.model_validate({"regresor": "svr"})
    with pytest.raises(ValueError, match="min_finished"):
        PredictiveScheduler(CurvePredictor(5), min_finished=1)
    assert np.isfinite(PredictiveSettings().delta)


# --- beyond the paper: conformal probabilities, rank reference, prior ----------------------------
def test_rank_reference():
    from searchlab.predictive.rule import rank_reference

    assert rank_reference([0.1, 0.9, 0.5, 0.7], 1) == 0.9
    assert rank_reference([0.1, 0.9, 0.5, 0.7], 3) == 0.5
    assert rank_reference([0.1, 0.9], 5) == 0.1  # fewer than k: the worst
    assert rank_reference([0.1, 0.9, 0.5], 1, "min") == 0.1
    with pytest.raises(ValueError, match="at least one"):
        rank_reference([], 1)


def prior_of_other_tasks():
    from searchlab.predictive.prior import PriorPredictor, TaskCurves

    from .synthetic import tasks

    configs, curves, labels = tasks(5, 30, EPOCHS, seed=3)
    return PriorPredictor(TaskCurves(configs, curves, labels), EPOCHS)


def test_prior_and_rank_reference_stop_before_any_trial_finished():
    """With a prior of other tasks and the rank reference, the rule acts as soon as `min_seen`
    trials have an estimate: a bad trial is stopped although no trial of the study finished."""
    decisions = []
    s = PredictiveScheduler(CurvePredictor(EPOCHS), metric="acc", mode="max", min_finished=10,
                            prior=prior_of_other_tasks(), takeover=10, calibration="conformal",
                            reference="rank", rank=2, min_seen=4, rungs=[1, 2, 3, 4, 6, 8],
                            on_decision=decisions.append)
    good = [FakeTrial(f"g{i}", {"hp": {"a": 0.8 + 0.02 * i, "tau": 3.0, "opt": "adam"}})
            for i in range(4)]
    for i, trial in enumerate(good):  # four good trials reach epoch 3 and stay running
        for e, v in enumerate(curve(0.8 + 0.02 * i, 3.0, 3), start=1):
            assert s.on_trial_result(None, trial, {"training_iteration": e, "acc": v}) == "CONTINUE"
    assert s.predictor.n == 0 and s.ready
    bad = FakeTrial("bad", {"hp": {"a": 0.3, "tau": 3.0, "opt": "adam"}})
    stopped_at = run_trial(s, bad, curve(0.3, 3.0, EPOCHS))
    assert stopped_at <= 4 and s.stopped_by_rule == {"bad"}
    last = decisions[-1]
    assert last.source == "prior" and last.stop
    estimates = sorted(v for k, v in s._estimates.items() if k.startswith("g"))
    assert len(estimates) == 4 and last.best == pytest.approx(estimates[-2])  # rank 2
    assert all(d.epoch in (1, 2, 3, 4, 6, 8) for d in decisions)


def test_own_predictor_takes_over_from_the_prior_and_conformal_uses_its_residuals():
    decisions = []
    s = PredictiveScheduler(CurvePredictor(EPOCHS), metric="acc", mode="max", min_finished=5,
                            takeover=12, calibration="conformal", on_decision=decisions.append)
    warm_up(s, n=11)  # (without the prior, which would stop some of them)
    s.prior = prior_of_other_tasks()
    assert s.ready and not s.own_ready  # 11 own curves < takeover 12: still the prior
    run_trial(s, FakeTrial("b1", {"hp": {"a": 0.2, "tau": 3.0, "opt": "sgd"}}), curve(0.2, 3.0, EPOCHS))
    assert decisions[-1].source == "prior"
    top = {"a": 0.99, "tau": 3.0, "opt": "adam"}  # a 12th own curve (the prior, which never saw
    prior, s.prior = s.prior, None  # so high a final, would stop it)
    assert run_trial(s, FakeTrial("top", {"hp": top}), curve(0.99, 3.0, EPOCHS)) == EPOCHS
    s.prior = prior
    assert s.own_ready
    run_trial(s, FakeTrial("b2", {"hp": {"a": 0.2, "tau": 3.0, "opt": "sgd"}}), curve(0.2, 3.0, EPOCHS))
    d = decisions[-1]
    # the conformal p-value of the own predictor, (1 + #residuals above) / (n + 1), is at least
    # 1 / 13 with 12 residuals: it cannot go below delta = 0.05 (that needs 19)
    assert d.source == "own" and d.p_beat_best == pytest.approx(1 / 13) and not d.stop


def test_factory_builds_a_prior_from_a_corpus_file(tmp_path):
    from searchlab.predictive.prior import TaskCurves

    from .synthetic import tasks

    configs, curves, labels = tasks(4, 10, EPOCHS)
    path = tmp_path / "prior.npz"
    TaskCurves(configs, curves, labels).save(path)
    settings = PredictiveSettings.model_validate(
        {"calibration": "conformal", "reference": "rank", "rank": 2, "min_seen": 3,
         "rungs": "geometric", "prior": {"file": str(path), "takeover": 20}})
    s = build_scheduler(settings, metric="acc", mode="max", max_t=EPOCHS)
    assert s.prior is not None and s.prior.n == 40 and s.takeover == 20
    assert s.rungs == frozenset({1, 2, 3, 4, 6, 8})
    with pytest.raises(ValueError, match="min_seen"):
        build_scheduler(PredictiveSettings(reference="rank", rank=5, min_seen=3), metric="acc",
                        mode="max", max_t=EPOCHS)
    with pytest.raises(ValueError, match="at least 10"):
        build_scheduler(PredictiveSettings(prior={"mlflow_workloads": []}), metric="acc",
                        mode="max", max_t=EPOCHS)
    with pytest.raises(Exception, match="calibration"):
        PredictiveSettings.model_validate({"calibration": "isotonic"})


def test_keep_top_a_stop_needs_the_observed_rank_to_agree():
    """With ``keep_top`` the rule stops a trial only when its value at the epoch is outside the
    best fraction of the other trials' values there; clear losers are still stopped."""
    s = PredictiveScheduler(CurvePredictor(EPOCHS), metric="acc", mode="max", keep_top=0.5)
    s._curves = {f"o{i}": {2: i / 10} for i in range(10)}
    assert s._ranked_high("x", 2, 0.75)  # 2 of 10 better: in the best half
    assert not s._ranked_high("x", 2, 0.35)  # 6 of 10 better
    assert s._ranked_high("x", 3, 0.0)  # nobody to compare with at epoch 3: never stopped
    s._mode = "min"
    assert s._ranked_high("x", 2, 0.35) and not s._ranked_high("x", 2, 0.75)
    s.keep_top = 0.0
    assert not s._ranked_high("x", 2, 0.35)
    with pytest.raises(ValueError, match="keep_top"):
        PredictiveScheduler(CurvePredictor(EPOCHS), keep_top=1.0)

    guarded = PredictiveScheduler(CurvePredictor(EPOCHS), metric="acc", mode="max",
                                  min_finished=10, prior=prior_of_other_tasks(), takeover=10,
                                  calibration="conformal", reference="rank", rank=2, min_seen=4,
                                  rungs=[1, 2, 3], keep_top=0.5)
    for i in range(4):
        trial = FakeTrial(f"g{i}", {"hp": {"a": 0.8 + 0.02 * i, "tau": 3.0, "opt": "adam"}})
        for e, v in enumerate(curve(0.8 + 0.02 * i, 3.0, 3), start=1):
            guarded.on_trial_result(None, trial, {"training_iteration": e, "acc": v})
    bad = FakeTrial("bad", {"hp": {"a": 0.3, "tau": 3.0, "opt": "adam"}})
    assert run_trial(guarded, bad, curve(0.3, 3.0, EPOCHS)) <= 3  # last at every epoch: stopped
