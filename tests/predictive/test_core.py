"""The predictive rule's decisions on synthetic curves, without Ray: the Ray-free core
(:class:`searchlab.predictive.core.PredictiveRule`) driven with scripted fake trials.
(That it imports without Ray: tests/test_boundaries.py; its Ray adapter: test_scheduler.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from searchlab.predictive.core import PredictiveRule
from searchlab.predictive.factory import PredictiveSettings, build_rule
from searchlab.predictive.predictor import CurvePredictor
from searchlab.spec.space import flat_config
from searchlab.tracking import annotations

from .synthetic import curve, pool

EPOCHS = 12


def make(mode: str = "max", prior_model=None, on_decision=None, **settings) -> PredictiveRule:
    """A rule with these settings (``prior_model``: a prior predictor, built already)."""
    return PredictiveRule(PredictiveSettings(**{"min_finished": 10, **settings}),
                          CurvePredictor(EPOCHS), mode=mode, prior=prior_model,
                          on_decision=on_decision)


def run_trial(rule: PredictiveRule, trial_id: str, config: dict, values) -> int:
    """Feed results until the rule stops the trial; return the epochs it ran."""
    flat = flat_config({"hp": config})
    for epoch, value in enumerate(values, start=1):
        stop = rule.on_result(trial_id, flat, epoch, float(value))
        if stop or epoch == len(values):
            rule.on_end(trial_id, flat, epoch, float(value))
            return epoch
    return len(values)


def warm_up(rule: PredictiveRule, n: int = 10, seed: int = 0) -> float:
    configs, curves = pool(n, EPOCHS, seed)
    for i, (c, y) in enumerate(zip(configs, curves)):
        assert run_trial(rule, f"w{i}", c, y) == EPOCHS
    return float(curves[:, -1].max())


def test_no_stopping_before_min_finished():
    rule = make(min_finished=8)
    configs, curves = pool(7, EPOCHS)
    for i, (c, y) in enumerate(zip(configs, curves)):
        run_trial(rule, f"t{i}", c, y)
    assert not rule.ready and rule.predictor.n == 7
    assert run_trial(rule, "bad", {"a": 0.1, "tau": 3.0, "opt": "sgd"},
                     curve(0.1, 3.0, EPOCHS)) == EPOCHS


def test_stops_a_clearly_bad_trial_early_and_keeps_a_better_one():
    rule = make()
    best = warm_up(rule)
    assert run_trial(rule, "bad", {"a": 0.25, "tau": 3.0, "opt": "adam"},
                     curve(0.25, 3.0, EPOCHS)) <= 3
    good = curve(best + 0.05, 3.0, EPOCHS)
    assert run_trial(rule, "good", {"a": best + 0.05, "tau": 3.0, "opt": "adam"}, good) == EPOCHS
    assert rule.stopped == {"bad"}
    assert rule.best == pytest.approx(good[-1])  # the new best


def test_decisions_are_annotated_with_prediction_probability_and_reason():
    annotations.drain()
    decisions = []
    rule = make(on_decision=decisions.append)
    warm_up(rule)
    run_trial(rule, "bad", {"a": 0.25, "tau": 3.0, "opt": "sgd"}, curve(0.25, 3.0, EPOCHS))
    notes = [a for a in annotations.drain() if a.trial_id == "bad"]
    assert notes and all({"predicted_final", "p_beat_best"} <= set(a.metrics) for a in notes)
    assert "predictive: P(final beats best" in notes[-1].tags["searchlab.stop_reason"]
    assert decisions[-1].stop and decisions[-1].p_beat_best < 0.05
    assert decisions[-1].predicted_final == pytest.approx(0.25, abs=0.08)
    r2 = rule.report_r2()
    assert r2["0.5"] > 0.8
    study = annotations.drain()
    assert "predictor_r2.json" in study[-1].texts


def test_min_epoch_and_last_epoch_are_never_decided():
    rule = make(min_epoch=3)
    warm_up(rule)
    assert run_trial(rule, "bad", {"a": 0.2, "tau": 3.0, "opt": "sgd"},
                     curve(0.2, 3.0, EPOCHS)) == 3


def test_mode_min():
    rule = make(mode="min", min_finished=8)
    configs, curves = pool(10, EPOCHS)
    for i, (c, y) in enumerate(zip(configs, curves)):
        run_trial(rule, f"w{i}", c, 1 - y)
    assert rule.ready and rule.best == pytest.approx((1 - curves[:, -1]).min())
    stops = [rule.on_result("bad", {"hp.a": 0.2}, e, float(v))
             for e, v in enumerate(1 - curve(0.2, 3.0, EPOCHS), start=1)]
    assert True in stops[:4]


def test_restarted_trial_overwrites_its_curve():
    rule = make()
    for e in (1, 2, 3, 1, 2):
        rule.on_result("t", {"hp.a": 0.5}, e, e / 10)
    assert rule.curve("t", 2) == [0.1, 0.2]


def test_a_warm_start_file_makes_the_rule_ready_after_one_own_trial(tmp_path):
    from searchlab.predictive.curves import CurveSet

    configs, curves = pool(12, EPOCHS)
    path = tmp_path / "curves.npz"
    CurveSet([flat_config({"hp": c}) for c in configs], {"acc": curves}).save(path)
    settings = PredictiveSettings.model_validate(
        {"delta": 0.1, "min_finished": 10, "warm_start": {"file": str(path)}})
    rule = build_rule(settings, metric="acc", mode="max", max_t=EPOCHS)
    assert rule.predictor.n == 12 and not rule.ready  # no best of this study yet
    run_trial(rule, "first", configs[0], curves[0])
    assert rule.ready  # one finished trial of its own: stopping starts at once
    assert run_trial(rule, "bad", {"a": 0.2, "tau": 3.0, "opt": "sgd"},
                     curve(0.2, 3.0, EPOCHS)) < EPOCHS


def test_settings_are_validated_once_where_they_are_read():
    with pytest.raises(Exception, match="delta"):
        PredictiveSettings.model_validate({"delta": 1.5})
    with pytest.raises(Exception, match="extra"):
        PredictiveSettings.model_validate({"regresor": "svr"})
    with pytest.raises(Exception, match="min_finished"):
        PredictiveSettings(min_finished=1)
    with pytest.raises(Exception, match=r"min_seen \(3\) must be at least rank \(5\)"):
        PredictiveSettings(reference="rank", rank=5, min_seen=3)
    with pytest.raises(Exception, match="keep_top"):
        PredictiveSettings(keep_top=1.0)
    with pytest.raises(Exception, match="calibration"):
        PredictiveSettings.model_validate({"calibration": "isotonic"})
    assert np.isfinite(PredictiveSettings().delta)


# --- beyond the paper: conformal probabilities, rank reference, prior ----------------------------
def prior_of_other_tasks():
    from searchlab.predictive.prior import PriorPredictor, TaskCurves

    from .synthetic import tasks

    configs, curves, labels = tasks(5, 30, EPOCHS, seed=3)
    return PriorPredictor(TaskCurves(configs, curves, labels), EPOCHS)


def test_prior_and_rank_reference_stop_before_any_trial_finished():
    """With a prior of other tasks and the rank reference, the rule acts as soon as `min_seen`
    trials have an estimate: a bad trial is stopped although no trial of the study finished."""
    decisions = []
    rule = make(prior_model=prior_of_other_tasks(), on_decision=decisions.append,
                prior={"takeover": 10}, calibration="conformal", reference="rank", rank=2,
                min_seen=4, rungs=[1, 2, 3, 4, 6, 8])
    for i in range(4):  # four good trials reach epoch 3 and stay running
        for e, v in enumerate(curve(0.8 + 0.02 * i, 3.0, 3), start=1):
            config = flat_config({"hp": {"a": 0.8 + 0.02 * i, "tau": 3.0, "opt": "adam"}})
            assert rule.on_result(f"g{i}", config, e, float(v)) is False
    assert rule.predictor.n == 0 and rule.ready
    stopped_at = run_trial(rule, "bad", {"a": 0.3, "tau": 3.0, "opt": "adam"},
                           curve(0.3, 3.0, EPOCHS))
    assert stopped_at <= 4 and rule.stopped == {"bad"}
    last = decisions[-1]
    assert last.source == "prior" and last.stop
    estimates = sorted(v for k, v in rule.estimates.items() if k.startswith("g"))
    assert len(estimates) == 4 and last.best == pytest.approx(estimates[-2])  # rank 2
    assert all(d.epoch in (1, 2, 3, 4, 6, 8) for d in decisions)


def test_own_predictor_takes_over_from_the_prior_and_conformal_uses_its_residuals():
    decisions = []
    rule = make(min_finished=5, prior={"takeover": 12}, calibration="conformal",
                on_decision=decisions.append)
    warm_up(rule, n=11)  # (without the prior, which would stop some of them)
    rule.prior = prior_of_other_tasks()
    assert rule.ready and not rule.own_ready  # 11 own curves < takeover 12: still the prior
    run_trial(rule, "b1", {"a": 0.2, "tau": 3.0, "opt": "sgd"}, curve(0.2, 3.0, EPOCHS))
    assert decisions[-1].source == "prior"
    top = {"a": 0.99, "tau": 3.0, "opt": "adam"}  # a 12th own curve (the prior, which never saw
    prior, rule.prior = rule.prior, None  # so high a final, would stop it)
    assert run_trial(rule, "top", top, curve(0.99, 3.0, EPOCHS)) == EPOCHS
    rule.prior = prior
    assert rule.own_ready
    run_trial(rule, "b2", {"a": 0.2, "tau": 3.0, "opt": "sgd"}, curve(0.2, 3.0, EPOCHS))
    d = decisions[-1]
    # the conformal p-value of the own predictor, (1 + #residuals above) / (n + 1), is at least
    # 1 / 13 with 12 residuals: it cannot go below delta = 0.05 (that needs 19)
    assert d.source == "own" and d.p_beat_best == pytest.approx(1 / 13) and not d.stop


def test_a_prior_from_a_corpus_file_and_geometric_rungs(tmp_path):
    from searchlab.predictive.prior import TaskCurves

    from .synthetic import tasks

    configs, curves, labels = tasks(4, 10, EPOCHS)
    path = tmp_path / "prior.npz"
    TaskCurves(configs, curves, labels).save(path)
    settings = PredictiveSettings.model_validate(
        {"calibration": "conformal", "reference": "rank", "rank": 2, "min_seen": 3,
         "rungs": "geometric", "prior": {"file": str(path), "takeover": 20}})
    rule = build_rule(settings, metric="acc", mode="max", max_t=EPOCHS)
    assert rule.prior is not None and rule.prior.n == 40 and rule.takeover == 20
    assert rule.rungs == frozenset({1, 2, 3, 4, 6, 8})
    with pytest.raises(ValueError, match="at least 10"):
        build_rule(PredictiveSettings(prior={"mlflow_workloads": []}), metric="acc",
                   mode="max", max_t=EPOCHS)


def test_keep_top_a_stop_needs_the_observed_rank_to_agree():
    """With ``keep_top`` the rule stops a trial only when its value at the epoch is outside the
    best fraction of the other trials' values there; clear losers are still stopped."""
    rule = make(keep_top=0.5)
    rule.curves = {f"o{i}": {2: i / 10} for i in range(10)}
    assert rule.ranked_high("x", 2, 0.75)  # 2 of 10 better: in the best half
    assert not rule.ranked_high("x", 2, 0.35)  # 6 of 10 better
    assert rule.ranked_high("x", 3, 0.0)  # nobody to compare with at epoch 3: never stopped
    low = make(mode="min", keep_top=0.5)
    low.curves = rule.curves
    assert low.ranked_high("x", 2, 0.35) and not low.ranked_high("x", 2, 0.75)
    assert not make().ranked_high("x", 2, 0.35)  # keep_top 0: no guard

    guarded = make(prior_model=prior_of_other_tasks(), prior={"takeover": 10},
                   calibration="conformal", reference="rank", rank=2, min_seen=4,
                   rungs=[1, 2, 3], keep_top=0.5)
    for i in range(4):
        config = flat_config({"hp": {"a": 0.8 + 0.02 * i, "tau": 3.0, "opt": "adam"}})
        for e, v in enumerate(curve(0.8 + 0.02 * i, 3.0, 3), start=1):
            guarded.on_result(f"g{i}", config, e, float(v))
    assert run_trial(guarded, "bad", {"a": 0.3, "tau": 3.0, "opt": "adam"},
                     curve(0.3, 3.0, EPOCHS)) <= 3  # last at every epoch: stopped


def test_the_rule_state_round_trips():
    rule = make()
    warm_up(rule, n=4)
    other = make()
    other.load(rule.state())
    assert other.curves == rule.curves and other.predictor.n == 4
