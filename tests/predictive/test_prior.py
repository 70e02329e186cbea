"""The cold-start prior: curves of other tasks, calibrated with whole tasks left out."""

import numpy as np
import pytest

from searchlab.predictive.calibration import conformal_probability
from searchlab.predictive.prior import PriorPredictor, TaskCurves

from .synthetic import tasks

EPOCHS = 12


def corpus(n_tasks=6, per_task=25, seed=0):
    configs, curves, labels = tasks(n_tasks, per_task, EPOCHS, seed)
    return TaskCurves(configs, curves, labels)


def test_leave_one_task_out_and_round_trip(tmp_path):
    c = corpus()
    rest = c.without(["task2"])
    assert "task2" not in rest.tasks and len(rest.curves) == len(c.curves) - 25
    c.save(tmp_path / "c.npz")
    back = TaskCurves.load(tmp_path / "c.npz")
    assert back.tasks == c.tasks and back.configs == c.configs
    assert np.allclose(back.curves, c.curves, atol=1e-6)
    both = rest + TaskCurves(c.configs[:3], c.curves[:3, :EPOCHS - 2], ["x"] * 3)
    assert both.epochs == EPOCHS - 2 and len(both.curves) == len(rest.curves) + 3
    with pytest.raises(ValueError, match="length"):
        TaskCurves(c.configs[:2], c.curves[:3], c.tasks[:3])


@pytest.mark.parametrize("normalized", [False, True])
def test_prior_predicts_an_unseen_task_with_calibrated_probabilities(normalized):
    """Trained on five tasks, the prior's conformal tail probabilities on the sixth match the
    observed frequencies (within sampling noise), and its point predictions beat 'no gain'."""
    full = corpus(n_tasks=6, per_task=40)
    prior = PriorPredictor(full.without(["task5"]), EPOCHS, normalized=normalized, folds=5)
    held = [(cfg, y) for cfg, y, t in zip(full.configs, full.curves, full.tasks) if t == "task5"]
    t = 3
    errors, stated, hits = [], [], []
    for cfg, y in held:
        mean, residuals = prior.distribution(cfg, y[:t])
        errors.append(mean - y[-1])
        for q in (0.2, 0.5, 0.8):  # thresholds spread over the task's finals
            threshold = float(np.quantile(full.curves[-40:, -1], q))
            stated.append(conformal_probability(mean, residuals, threshold))
            hits.append(y[-1] > threshold)
    naive = [y[t - 1] - y[-1] for _, y in held]
    assert np.sqrt(np.mean(np.square(errors))) < 0.5 * np.sqrt(np.mean(np.square(naive)))
    stated, hits = np.array(stated), np.array(hits)
    # calibration in the large: mean stated probability close to the observed frequency
    assert abs(stated.mean() - hits.mean()) < 0.12
    # confident stops are rarely wrong
    assert hits[stated < 0.05].mean() <= 0.1 if (stated < 0.05).any() else True
    assert prior.residuals(t).shape == (200,)


def test_prior_matches_prefixed_study_keys():
    c = corpus()
    prior = PriorPredictor(c, EPOCHS)
    cfg, y = c.configs[0], c.curves[0]
    plain = prior.predict(cfg, y[:4]).mean
    nested = prior.predict({f"hp.{k}": v for k, v in cfg.items()}, y[:4]).mean
    assert nested == pytest.approx(plain)
    without = PriorPredictor(c, EPOCHS, use_config=False).predict({"other": 1}, y[:4])
    assert np.isfinite(without.mean) and without.std > 0


def test_prior_input_errors():
    c = corpus(n_tasks=2, per_task=4)
    with pytest.raises(ValueError, match="epochs"):
        PriorPredictor(c, EPOCHS + 1)
    with pytest.raises(ValueError, match="at least 10"):
        PriorPredictor(c.without(["task1"]), EPOCHS)
    with pytest.raises(ValueError, match="regressor"):
        PriorPredictor(c, EPOCHS, regressor="gp")


def test_lcbench_corpus_leaves_the_task_out():
    from searchlab.workloads import lcbench

    if not lcbench.available():
        pytest.skip("LCBench surrogate not available (SEARCHLAB_YAHPO_DATA)")
    from searchlab.predictive.prior import lcbench_corpus

    c = lcbench_corpus(per_task=3, epochs=10, exclude=["3945"], prefix="hp.")
    assert "3945" not in c.tasks and len(set(c.tasks)) == len(lcbench.surrogate().tasks) - 1
    assert c.curves.shape == (3 * len(set(c.tasks)), 10)
    assert all(k.startswith("hp.") for k in c.configs[0])
