import numpy as np
import pytest

from searchlab.predictive.predictor import CurvePredictor

from .synthetic import curve, pool


@pytest.mark.parametrize("regressor", ["svr", "forest", "linear"])
def test_predicts_final_values_of_held_out_curves(regressor):
    configs, curves = pool(60, 20)
    p = CurvePredictor(20, regressor=regressor)
    for c, y in zip(configs[:50], curves[:50]):
        p.add(c, y)
    errors = [p.predict(c, y[:5]).mean - y[-1] for c, y in zip(configs[50:], curves[50:])]
    assert np.sqrt(np.mean(np.square(errors))) < 0.05  # finals spread over 0.2 .. 1.0
    assert p.model(5).r2 > 0.9


def test_spread_from_cv_shrinks_with_more_epochs_seen():
    configs, curves = pool(40, 20)
    p = CurvePredictor(20)
    for c, y in zip(configs, curves):
        p.add(c, y)
    early, late = p.predict(configs[0], curves[0][:2]), p.predict(configs[0], curves[0][:15])
    assert early.std > late.std > 0


def test_ensemble_spread():
    configs, curves = pool(30, 12)
    p = CurvePredictor(12, spread="ensemble", ensemble_size=4)
    for c, y in zip(configs, curves):
        p.add(c, y)
    pred = p.predict(configs[0], curves[0][:4])
    assert pred.std > 0 and abs(pred.mean - curves[0][-1]) < 0.1


def test_models_refit_only_after_growth():
    configs, curves = pool(40, 10)
    p = CurvePredictor(10, refit_growth=0.5)
    for c, y in zip(configs[:20], curves[:20]):
        p.add(c, y)
    first = p.model(3)
    p.add(configs[20], curves[20])
    assert p.model(3) is first  # 1 new curve out of 20: not yet
    for c, y in zip(configs[21:30], curves[21:30]):
        p.add(c, y)
    assert p.model(3) is not first and p.model(3).n_train == 30


def test_r2_by_fraction_and_errors():
    configs, curves = pool(20, 8)
    p = CurvePredictor(8)
    with pytest.raises(ValueError, match="at least 3"):
        p.predict(configs[0], curves[0][:2])
    with pytest.raises(ValueError, match="8 finite values"):
        p.add(configs[0], curves[0][:5])
    for c, y in zip(configs, curves):
        p.add(c, y)
    r2 = p.r2_by_fraction((0.25, 0.5))
    assert set(r2) == {"0.25", "0.5"} and r2["0.5"] > 0.9
    with pytest.raises(ValueError, match="regressor"):
        CurvePredictor(8, regressor="gp")
    assert curve(1.0, 1.0, 3).shape == (3,)
