import numpy as np
import pytest

from searchlab.predictive.features import FeatureBuilder, curve_features


def test_curve_features_are_curve_differences_and_t():
    f = curve_features([1.0, 3.0, 4.0, 4.5])
    np.testing.assert_allclose(f, [1, 3, 4, 4.5, 2, 1, 0.5, -1, -0.5, 4])


def test_curve_features_of_short_curves():
    assert curve_features([0.7]).tolist() == [0.7, 1.0]
    assert curve_features([0.7, 0.8]).tolist() == pytest.approx([0.7, 0.8, 0.1, 2.0])


def test_hyperparameters_numeric_log_one_hot_and_conditional():
    configs = [
        {"lr": 1e-4, "layers": 2, "opt": "sgd", "opt.sgd.momentum": 0.9, "bn": True},
        {"lr": 1e-1, "layers": 3, "opt": "adam", "opt.adam.beta2": 0.99, "bn": False},
    ]
    fb = FeatureBuilder.fit(configs)
    assert fb.log_scaled == {"lr"}  # spans three decades; layers does not
    assert set(fb.optional) == {"opt.sgd.momentum", "opt.adam.beta2"}
    assert dict(fb.categories) == {"bn": ("False", "True"), "opt": ("adam", "sgd")}
    x = fb.encode(configs[0])
    assert len(x) == fb.width
    named = dict(zip(["layers", "lr", "opt.adam.beta2", "opt.sgd.momentum"], x[:4]))
    assert named == {"layers": 2.0, "lr": pytest.approx(-4.0), "opt.adam.beta2": 0.0,
                     "opt.sgd.momentum": 0.9}
    one_hot = x[4:8]  # bn: False, True; opt: adam, sgd
    assert one_hot.tolist() == [0, 1, 0, 1]
    present = x[8:]  # optional keys, sorted: opt.adam.beta2, opt.sgd.momentum
    assert present.tolist() == [0, 1]


def test_unseen_category_and_missing_keys_encode_as_zeros():
    fb = FeatureBuilder.fit([{"opt": "sgd", "lr": 0.1}, {"opt": "adam", "lr": 0.2}])
    assert fb.encode({"opt": "rmsprop"}).tolist() == [0.0, 0.0, 0.0]


def test_transform_many_truncates_each_curve():
    fb = FeatureBuilder.fit([{"a": 1.0}, {"a": 2.0}])
    X = fb.transform_many([{"a": 1.0}, {"a": 2.0}], [[1, 2, 3, 4], [2, 3, 4, 5]], t=3)
    assert X.shape == (2, 3 + 2 + 1 + 1 + 1)
    assert X[1, :3].tolist() == [2, 3, 4] and X[1, -1] == 2.0
