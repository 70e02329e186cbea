"""Hypertraining on tiny data: dropout goes up when the network overfits."""

from __future__ import annotations

import math

import pytest
import torch

from searchlab.methods.stn.hyper import HyperSpec
from searchlab.methods.stn.settings import STNSettings
from searchlab.methods.stn.train import hypertrain, load_split, train_fixed

DROPOUTS = [HyperSpec(n, "uniform", 0.0, 0.95, 0.05)
            for n in ("dropout_in", "dropout1", "dropout2")]

# 100 training digits, a 1200-unit MLP: it fits the training set within a few epochs, so the
# validation loss asks for more regularisation.
TINY = STNSettings(model="mlp", data="digits", train_size=100, val_size=300, epochs=25,
                   warmup_epochs=5, batch_size=25, train_steps=1, hyper_lr=0.03, rank=16)


@pytest.fixture(scope="module")
def split():
    torch.set_num_threads(1)
    return load_split(TINY)


@pytest.mark.parametrize("variant", ["stn", "delta_stn"])
def test_dropout_rises_when_the_model_overfits(split, variant: str) -> None:
    hist = list(hypertrain(TINY, DROPOUTS, delta=variant == "delta_stn", seed=0, split=split))
    assert any(h["train_loss"] < 0.5 * h["val_loss"] for h in hist)  # it does overfit
    start = sum(h.init for h in DROPOUTS) / 3
    end = sum(hist[-1][h.name] for h in DROPOUTS) / 3
    assert end > start + 0.05, {h.name: hist[-1][h.name] for h in DROPOUTS}
    assert all(math.isfinite(h["val_loss"]) for h in hist)
    # no hyperparameter moves during warm-up
    assert hist[TINY.warmup_epochs - 1]["dropout1"] == pytest.approx(0.05, rel=1e-4)


def test_fixed_training_and_every_model_runs(split) -> None:
    small = TINY.model_copy(update={"epochs": 2, "warmup_epochs": 1})
    hist = list(train_fixed(small, {"dropout1": 0.2}, seed=0, split=split))
    assert len(hist) == 2 and hist[-1]["val_accuracy"] > 0.2
    cnn = STNSettings(model="cnn", data="digits", train_size=64, val_size=64, epochs=2,
                      warmup_epochs=1, batch_size=16, train_steps=1)
    specs = [HyperSpec("cutout_holes", "int", 0, 2, 1),
             HyperSpec("cutmix_prob", "uniform", 0, 1, 0.2),
             HyperSpec("shift", "uniform", 0, 2, 0.5),
             HyperSpec("weight_decay", "loguniform", 1e-6, 1e-2, 1e-4)]
    for delta in (False, True):
        rows = list(hypertrain(cnn, specs, delta=delta, seed=0))
        assert math.isfinite(rows[-1]["val_loss"]) and "cutout_holes" in rows[-1]
    lm = STNSettings(model="lstm", corpus_chars=4000, seq_len=16, train_size=64, val_size=16,
                     epochs=2, warmup_epochs=1, batch_size=16, train_steps=1)
    for delta in (False, True):
        rows = list(hypertrain(lm, [HyperSpec("dropout_hidden", "uniform", 0, 0.9, 0.1)],
                               delta=delta, seed=0))
        assert rows[-1]["val_loss"] < math.log(128) + 0.5
