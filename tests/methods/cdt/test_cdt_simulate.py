"""Small end-to-end runs of the algorithm (no Ray), environments, settings and the adapter."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from searchlab.methods.cdt.adapter import CDTMethod, cdt_workload, trial_configs
from searchlab.methods.cdt.environments import (
    ClassificationBandit,
    NonStationaryBandit,
    SyntheticBandit,
    fashion_mnist_available,
)
from searchlab.methods.cdt.settings import CDTSettings
from searchlab.methods.cdt.simulate import TUNERS, run
from searchlab.spec.parse import parse_text
from searchlab.workloads.api import Context

SMALL = {"kind": "linear", "arms": 20, "dim": 5, "horizon": 600}


@pytest.mark.parametrize("tuner", [t for t in TUNERS if t != "fixed"])
@pytest.mark.parametrize("bandit", ["linucb", "lints", "linucb_reg"])
def test_every_tuner_runs_every_bandit(bandit: str, tuner: str) -> None:
    res = run(SMALL, bandit, tuner, seed=0)
    assert res.regret.shape == (600,) and np.all(np.diff(res.regret) >= -1e-12)
    assert res.hyper.shape == (600, 2 if bandit == "linucb_reg" else 1)
    warm = 30 if tuner.startswith("cdt") else 0
    assert np.isnan(res.hyper[:warm]).all() and not np.isnan(res.hyper[warm:]).any()


def test_runs_are_reproducible_and_share_the_environment_draws() -> None:
    a, b = run(SMALL, "lints", "cdt", 3), run(SMALL, "lints", "cdt", 3)
    np.testing.assert_array_equal(a.regret, b.regret)
    # common random numbers: the same seed gives every tuner the same contexts and noise
    e1, e2 = (SyntheticBandit(np.random.default_rng([3, 0]), 20, 5, 600) for _ in range(2))
    b1, b2 = next(e1.blocks(np.random.default_rng(7))), next(e2.blocks(np.random.default_rng(7)))
    np.testing.assert_array_equal(b1.contexts, b2.contexts)


def test_learning_beats_random_play() -> None:
    env = {"kind": "linear", "arms": 20, "dim": 5, "horizon": 3000, "noise": 0.1}
    learnt = run(env, "linucb", "fixed", 0, fixed=[0.1]).regret[-1]
    random_arms = run(env, "linucb", "cdt", 0, zooming={"warmup": 3000}).regret[-1]
    assert learnt < 0.3 * random_arms


def test_glm_bandits_on_logistic_rewards() -> None:
    env = {"kind": "logistic", "arms": 20, "dim": 5, "horizon": 800}
    for bandit in ("ucbglm", "glmts"):
        res = run(env, bandit, "cdt", 0)
        assert np.isfinite(res.regret[-1]) and res.regret[-1] > 0


def test_nonstationary_phases() -> None:
    env = NonStationaryBandit(np.random.default_rng(0), 10, 3, 100, change_points=(40,),
                              phase_noise=(0.0, 2.0), redraw_theta=True, fresh_subspace=False,
                              phase_fixed_arms=None)
    blk = next(env.blocks(np.random.default_rng(1), 100))
    np.testing.assert_allclose(blk.rewards[:40], blk.means[:40])  # noiseless first phase
    np.testing.assert_allclose(blk.means[:40], blk.contexts[:40] @ env.thetas[0])
    np.testing.assert_allclose(blk.means[40:], blk.contexts[40:] @ env.thetas[1])
    assert np.std(blk.rewards[40:] - blk.means[40:]) > 1.0


def test_nonstationary_fresh_subspaces_and_fixed_arms() -> None:
    env = NonStationaryBandit(np.random.default_rng(0), 5, 4, 100, change_points=(50,),
                              phase_noise=(1.0, 0.0), fresh_subspace=True,
                              phase_fixed_arms=(True, False), jitter=0.0)
    blk = next(env.blocks(np.random.default_rng(1), 100))
    assert (blk.contexts[:50, :, 2:] == 0).all() and (blk.contexts[50:, :, :2] == 0).all()
    np.testing.assert_array_equal(blk.contexts[0], blk.contexts[49])  # the same arms every round
    assert not np.array_equal(blk.contexts[50], blk.contexts[99])


def test_classification_bandit_rewards_the_right_class() -> None:
    env = ClassificationBandit(np.random.default_rng(0), "iris", pca_dim=2, horizon=50)
    assert (env.K, env.d) == (3, 6)
    blk = next(env.blocks(np.random.default_rng(0)))
    assert (blk.means.sum(1) == 1).all()
    # arm k's context is zero outside block k
    ctx = blk.contexts.reshape(50, 3, 3, 2)
    for k in range(3):
        others = [j for j in range(3) if j != k]
        assert (ctx[:, k, others, :] == 0).all()
    res = run({"kind": "classification", "dataset": "digits", "pca_dim": 6, "horizon": 2000},
              "linucb", "cdt", 0)
    assert res.regret[-1] < 0.5 * 2000  # far better than the 90% error of random play


@pytest.mark.skipif(not fashion_mnist_available(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_bandit() -> None:
    res = run({"kind": "classification", "dataset": "fashion_mnist", "pca_dim": 8, "horizon": 500},
              "linucb", "cdt", 0)
    assert res.regret[-1] < 500


def test_settings_from_a_study_file() -> None:
    text = """
    name: cdt-small
    method:
      name: cdt
      environments:
        - {kind: linear, arms: 10, dim: 3, horizon: 200}
        - {kind: nonstationary, arms: 10, dim: 3, horizon: 200, change_points: [100], phase_noise: [1.0, 0.1], phase_fixed_arms: [true, false]}
      bandits: [linucb, linucb_reg]
      tuners: [cdt, oracle]
      seeds: 2
      oracle_grid: {alpha: [0.1, 1], lam: [1]}
      zooming: {confidence: 0.5, ranges: {alpha: {low: 0.0, high: 3.0, scale: linear}}}
      chunks: 10
    """  # noqa: E501 (the study file's second environment)
    study = parse_text(text).study
    method = study.method
    assert isinstance(method, CDTMethod) and isinstance(method.settings, CDTSettings)
    assert method.settings.environments[1].label == "nonstationary-K10-d3"
    run = method.start(study)
    requests = []
    while not run.done:
        requests.append(run.ask(f"t{len(requests)}"))
    configs = [r.config for r in requests]
    # 2 envs x (linucb: cdt + 2 oracle values; linucb_reg: cdt + 2 x 1 values) x 2 seeds
    assert len(configs) == run.total == 2 * (3 + 3) * 2
    assert method.objective(study).metric == "cum_regret"
    assert {r.length for r in requests} == {10}
    assert len({frozenset(c) for c in configs}) == 1  # the same keys in every trial
    assert {c["fixed"] for c in configs} == {"-", "alpha=0.1", "alpha=1", "alpha=0.1,lam=1",
                                             "alpha=1,lam=1"}


def test_environments_of_different_horizons_have_their_own_length_and_label() -> None:
    from searchlab.methods.local import run_local

    text = """
    name: cdt-horizons
    method:
      name: cdt
      environments:
        - {kind: linear, arms: 10, dim: 5, horizon: 100}
        - {kind: linear, arms: 10, dim: 5, horizon: 1000}
      bandits: [linucb]
      tuners: [theoretical]
      seeds: 1
      chunks: 200
    """
    study = parse_text(text).study
    out = run_local(study)
    by_env = {r.request.config["environment"]: r for r in out.results}
    assert set(by_env) == {"linear-K10-d5-T100", "linear-K10-d5-T1000"}
    assert by_env["linear-K10-d5-T100"].request.length == 100
    assert by_env["linear-K10-d5-T1000"].request.length == 200
    assert all(r.status == "completed" for r in out.results)
    assert len(by_env["linear-K10-d5-T100"].history) == 100
    table = out.analysis.tables["final_regret"]
    assert {row["environment"] for row in table} == set(by_env)


@pytest.mark.parametrize("bad, message", [
    ("tuners: [cdt, bogus]", "tuners"),
    ("confidnce: 1", "unknown key 'confidnce'"),
    ("environments: [{kind: nonstationary, change_points: [5], phase_noise: [1.0]}]",
     "phase_noise needs 2"),
    ("tuners: [op]\n      candidates: {v: [1]}", "candidates has no values for alpha"),
    ("tuners: [tl_authors]\n      candidates: {v: [1]}", "candidates has no values for alpha"),
    ("zooming: {ranges: {alpah: {low: 0.1, high: 1}}}", "unknown hyperparameter 'alpah'"),
])
def test_settings_errors_say_what_is_wrong(bad: str, message: str) -> None:
    from searchlab.errors import SpecError

    text = f"""
    name: bad
    method:
      name: cdt
      bandits: [linucb]
      {bad}
    """
    with pytest.raises(SpecError, match=message):
        parse_text(text)


def test_workload_reports_the_downsampled_curve() -> None:
    s = CDTSettings.model_validate({"environments": [SMALL], "bandits": ["linucb"],
                                    "tuners": ["cdt"], "seeds": 1, "chunks": 50})
    config = json.loads(json.dumps(trial_configs(s)[0]))  # configs survive JSON (MLflow params)
    chunks = list(cdt_workload(config, Context(max_epochs=50)))
    assert len(chunks) == 50
    assert [c["round"] for c in chunks][-1] == 600
    assert all(b["cum_regret"] >= a["cum_regret"] for a, b in zip(chunks, chunks[1:]))
    assert "alpha" not in chunks[0] or chunks[0]["alpha"] > 0  # the first chunk is mostly warm-up
    assert "alpha" in chunks[-1] and "seconds" in chunks[-1] and "restarts" in chunks[-1]
    assert chunks[-1]["cum_regret"] == pytest.approx(run(SMALL, "linucb", "cdt", 0).regret[-1])


def test_cdt_variants_and_zooming_settings_reach_the_tuner() -> None:
    from searchlab.methods.cdt.bandits import BANDITS
    from searchlab.methods.cdt.simulate import default_restart_period, make_environment, make_tuner

    rng = np.random.default_rng(0)
    env = make_environment(SMALL, rng)
    b = BANDITS["linucb"](env.d, 1.0)
    default = make_tuner("cdt", b, env, rng)  # the default: restarts on detected shifts only
    assert default.H is None and default.detect_w == 200 and default.detect_discount is None
    assert default.discount is None and default.confidence == 0.3 and default.post == 1.0
    paper = make_tuner("cdt_paper", b, env, rng)  # the paper's: a hard restart every H = T^(3/4)
    assert paper.H == default_restart_period(600, 1) == math.ceil(600 ** 0.75)
    assert paper.discount is None and paper.detect_w is None
    soft = make_tuner("cdt_soft", b, env, rng)
    assert soft.discount == 0.2 and soft.H == paper.H and soft.detect_w is None
    det = make_tuner("cdt_detect", b, env, rng)
    assert (det.discount == 0.2 and det.H == paper.H and det.detect_w == 200
            and det.detect_discount is None)
    only = make_tuner("cdt_detect_only", b, env, rng)
    assert only.H is None and only.detect_w == 200 and only.confidence == 0.3
    assert make_tuner("cdt_detect_only", b, env, rng, zooming={"restart_period": 99}).H == 99
    assert make_tuner("cdt", b, env, rng, zooming={"restart_period": 99}).H == 99
    assert make_tuner("cdt_no_restart", b, env, rng, zooming={"detect_window": 50}).detect_w is None
    s = CDTSettings.model_validate({"tuners": ["cdt_soft"], "zooming": {"restart_discount": 0.5,
                                                                        "detect_window": 64}})
    z = s.zooming.model_dump(exclude_none=True)
    tuned = make_tuner("cdt_soft", b, env, rng, zooming=z)
    assert tuned.discount == 0.5 and tuned.detect_w == 64
    z = CDTSettings.model_validate({"zooming": {"confidence": 0.6}}).zooming.model_dump(
        exclude_none=True)
    assert make_tuner("cdt", b, env, rng, zooming=z).confidence == 0.6


def test_cdt_is_cdt_detect_only_under_its_new_name() -> None:
    a, b = run(SMALL, "lints", "cdt", 1), run(SMALL, "lints", "cdt_detect_only", 1)
    np.testing.assert_array_equal(a.regret, b.regret)


def test_the_default_tuner_list_leads_with_the_default_cdt() -> None:
    tuners = CDTSettings().tuners
    assert tuners[0] == "cdt" and "cdt_paper" in tuners


def test_authors_op_and_tl_are_built_on_the_same_candidates() -> None:
    from searchlab.methods.cdt.bandits import BANDITS
    from searchlab.methods.cdt.simulate import make_environment, make_tuner
    from searchlab.methods.cdt.tuners import BetaOPTuner, OPTuner, TLTuner

    rng = np.random.default_rng(0)
    env = make_environment(SMALL, rng)
    b = BANDITS["lints"](env.d, 1.0)
    ours_op, authors_op = make_tuner("op", b, env, rng), make_tuner("op_authors", b, env, rng)
    assert isinstance(ours_op, OPTuner) and isinstance(authors_op, BetaOPTuner)
    np.testing.assert_array_equal(ours_op.cands, authors_op.cands)
    ours_tl, authors_tl = make_tuner("tl", b, env, rng), make_tuner("tl_authors", b, env, rng)
    assert (isinstance(authors_tl, TLTuner) and ours_tl.range == (-1.0, 1.0)
            and authors_tl.range is None)
    assert authors_op.cands[:, 0].tolist() == [0.5, 1, 3, 5, 7]  # the paper's set
    s = CDTSettings.model_validate({"tuners": ["tl_authors"], "candidates": {"v": [0.1, 0.2]},
                                    "bandits": ["lints"]})
    authors = make_tuner("tl_authors", b, env, rng, candidates=s.candidates)
    assert authors.cands[:, 0].tolist() == [0.1, 0.2]


def test_lints_searches_down_to_near_greedy_and_a_range_without_scale_is_log() -> None:
    from searchlab.methods.cdt.bandits import BANDITS
    from searchlab.methods.cdt.simulate import make_environment, make_tuner

    rng = np.random.default_rng(0)
    env = make_environment(SMALL, rng)
    (v,) = make_tuner("cdt", BANDITS["lints"](env.d, 1.0), env, rng).space
    assert (v.low, v.high, v.scale) == (0.001, 4.0, "log")
    assert math.isclose(v.value(0.5), math.sqrt(0.004))  # half the search is on v < 0.063
    # a range given as a plain dict (the Python API) means the same as in a study file: log scale
    plain = make_tuner("cdt", BANDITS["lints"](env.d, 1.0), env, rng,
                       zooming={"ranges": {"v": {"low": 0.01, "high": 1.0}}}).space[0]
    study = CDTSettings.model_validate({"zooming": {"ranges": {"v": {"low": 0.01, "high": 1.0}}}})
    from_file = make_tuner("cdt", BANDITS["lints"](env.d, 1.0), env, rng,
                           zooming=study.zooming.model_dump(exclude_none=True)).space[0]
    assert plain == from_file and plain.scale == "log"
