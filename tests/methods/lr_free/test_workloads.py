"""The five built-in workloads run through the common loop (one evaluation each)."""

from __future__ import annotations

import math

import pytest

from searchlab.methods.lr_free import workloads as W
from searchlab.workloads.api import Context


@pytest.mark.parametrize("name", list(W.WORKLOADS))
def test_workload_reports_one_evaluation(name: str) -> None:
    fn = getattr(W, name)
    rows = list(fn({"optimizer": "adamw", "seed": 0}, Context(max_epochs=1)))
    assert len(rows) == 1
    row = rows[0]
    assert set(row) >= {"step", "train_loss", "val_loss", "val_metric", "target", "reached",
                        "seconds"}
    assert row["step"] == W.BUDGETS[(name, "small")][1]
    assert math.isfinite(row["val_metric"]) and row["target"] > 0


def test_bad_size_and_config_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="size must be"):
        list(W.tabular({"optimizer": "adamw"}, Context(), size="huge"))
    with pytest.raises(ValueError, match="no 'optimizer'"):
        list(W.tabular({}, Context()))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(W.WORKLOADS))
def test_full_size_builds_and_steps(name: str, monkeypatch) -> None:
    """The GPU-sized models and data run two steps on CPU (shapes, data, targets exist)."""
    monkeypatch.setitem(W.BUDGETS, (name, "full"), (2, 2))
    rows = list(getattr(W, name)({"optimizer": "nadamw", "seed": 0}, Context(max_epochs=1),
                                 size="full"))
    assert len(rows) == 1 and math.isfinite(rows[0]["val_metric"])
