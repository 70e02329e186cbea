import numpy as np
import pytest

from searchlab.predictive.curves import CurveSet
from searchlab.workloads import lcbench as lc
from searchlab.workloads.api import Context
from searchlab.workloads.replay import replay

needs_yahpo = pytest.mark.skipif(not lc.available(), reason="YAHPO LCBench data not found "
                                 "(set SEARCHLAB_YAHPO_DATA)")


@needs_yahpo
def test_lcbench_curves_are_plausible_accuracies():
    configs = lc.sample_configs(20, seed=3)
    for task in ("3945", "7593", "34539", "126025", "189909"):
        acc = lc.surrogate().curves(task, configs)
        assert acc.shape == (20, 52)
        assert np.all((acc > 0) & (acc <= 100.5))
        assert np.median(acc[:, -1] - acc[:, 0]) > 0  # curves mostly improve
        assert acc[:, -1].max() > 50


@needs_yahpo
def test_lcbench_workload_reports_epoch_by_epoch_and_resumes():
    config = lc.sample_configs(1, seed=0)[0]
    full = list(lc.lcbench(config, Context(max_epochs=10), task="7593"))
    assert len(full) == 10 and {"val_accuracy", "val_cross_entropy"} <= set(full[0])
    expected = lc.surrogate().curves("7593", [config], 10)[0]
    np.testing.assert_allclose([m["val_accuracy"] for m in full], expected, rtol=1e-6)
    resumed = list(lc.lcbench(config, Context(max_epochs=10, restored={"epoch": 6}), task="7593"))
    assert [m["val_accuracy"] for m in resumed] == [m["val_accuracy"] for m in full[6:]]
    with pytest.raises(ValueError, match="unknown LCBench task"):
        list(lc.lcbench(config, Context(max_epochs=2), task="1"))


def test_lcbench_data_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SEARCHLAB_YAHPO_DATA", str(tmp_path))
    assert lc.data_dir() == tmp_path and not lc.available()
    with pytest.raises(FileNotFoundError, match="SEARCHLAB_YAHPO_DATA"):
        lc.Surrogate()


def test_replay_serves_recorded_curves_by_config_or_index(tmp_path):
    configs = [{"lr": 0.1, "opt": "sgd"}, {"lr": 0.01, "opt": "adam"}]
    acc = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    path = tmp_path / "c.npz"
    CurveSet(configs, {"acc": acc, "loss": 1 - acc}).save(path)
    out = list(replay({"lr": 0.01, "opt": "adam", "extra": 1}, Context(max_epochs=5),
                      curves=str(path)))
    assert [m["acc"] for m in out] == pytest.approx([0.4, 0.5, 0.6])
    assert out[0]["loss"] == pytest.approx(0.6)
    assert [m["acc"] for m in replay({"curve": 0}, Context(max_epochs=2), curves=str(path))] == \
        pytest.approx([0.1, 0.2])
    with pytest.raises(KeyError, match="no recorded curve"):
        list(replay({"lr": 0.5, "opt": "sgd"}, Context(), curves=str(path)))


@pytest.mark.slow
def test_record_fashion_curves(tmp_path):
    """benchmarks/record_curves.py --workload fashion: real training curves in a curve file
    (Fashion-MNIST when the Debian package is installed, else the digits fallback)."""
    import importlib.util
    from pathlib import Path

    from searchlab.predictive.curves import CurveSet

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "record_curves.py"
    spec = importlib.util.spec_from_file_location("record_curves", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "fashion.npz"
    module.main(["--workload", "fashion", "--configs", "2", "--epochs", "2", "--train", "200",
                 "--val", "100", "--out", str(out)])
    curves = CurveSet.load(out)
    assert curves.curves["val_accuracy"].shape == (2, 2) and curves.epochs == 2
    assert (curves.curves["val_accuracy"] > 0.1).all()  # better than chance after an epoch
