"""LCBench learning curves from the YAHPO Gym surrogate (Pfisterer et al. 2022), read directly.

YAHPO Gym's ``lcbench`` surrogate is an ONNX network mapping ``(OpenML task, epoch, 7
hyperparameters)`` to six outputs; this module reads it with onnxruntime so that ``yahpo-gym``
(which pins old ConfigSpace/numpy) is not needed. The encoding follows the files next to the
model: ``x_cat`` is the task's integer code from ``encoding.json``; ``x_cont`` holds, in this
order, ``epoch, batch_size, learning_rate, momentum, weight_decay, num_layers, max_units,
max_dropout`` on their natural scale (the model applies its own transforms); the outputs are
``time, val_accuracy (0-100), val_cross_entropy, val_balanced_accuracy, test_cross_entropy,
test_balanced_accuracy``.

The data directory is ``$SEARCHLAB_YAHPO_DATA`` (default: ``<repo>/../shared/data/yahpo_data``);
it holds ``lcbench/model.onnx``, ``config_space.json`` and ``encoding.json``. The data is
Apache-2.0 (LCBench, Zimmer et al. 2021) and is not copied into the repository.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from searchlab.workloads.api import Context

MAX_EPOCHS = 52
HYPERPARAMETERS = ("batch_size", "learning_rate", "momentum", "weight_decay", "num_layers",
                   "max_units", "max_dropout")
OUTPUTS = ("time", "val_accuracy", "val_cross_entropy", "val_balanced_accuracy",
           "test_cross_entropy", "test_balanced_accuracy")
#: the study-file space of the surrogate (config_space.json), in searchlab's language.
SPACE: dict[str, Any] = {
    "batch_size": {"int": [16, 512], "log": True},
    "learning_rate": {"loguniform": [1e-4, 1e-1]},
    "momentum": {"uniform": [0.1, 0.99]},
    "weight_decay": {"uniform": [1e-5, 1e-1]},
    "num_layers": {"int": [1, 5]},
    "max_units": {"int": [64, 1024], "log": True},
    "max_dropout": {"uniform": [0.0, 1.0]},
}


def data_dir() -> Path:
    """Where the YAHPO data lives (``$SEARCHLAB_YAHPO_DATA`` or the shared default)."""
    env = os.environ.get("SEARCHLAB_YAHPO_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "yahpo_data"


def available() -> bool:
    d = data_dir() / "lcbench"
    return (d / "model.onnx").is_file() and (d / "encoding.json").is_file()


class Surrogate:
    """The ONNX surrogate of one data directory; :meth:`curves` evaluates many configs at once."""

    def __init__(self, directory: Path | None = None) -> None:
        import onnxruntime as ort

        d = (directory or data_dir()) / "lcbench"
        if not (d / "model.onnx").is_file():
            raise FileNotFoundError(
                f"the LCBench surrogate is not at {d}/model.onnx; set SEARCHLAB_YAHPO_DATA to the "
                "yahpo_data directory (https://github.com/slds-lmu/yahpo_data)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(d / "model.onnx"), options,
                                             providers=["CPUExecutionProvider"])
        self._codes: dict[str, int] = json.loads(
            (d / "encoding.json").read_text())["OpenML_task_id"]
        space = json.loads((d / "config_space.json").read_text())
        self.tasks: tuple[str, ...] = tuple(
            next(h["choices"] for h in space["hyperparameters"] if h["name"] == "OpenML_task_id"))

    def curves(self, task: str, configs: Sequence[Mapping[str, Any]], epochs: int = MAX_EPOCHS,
               output: str = "val_accuracy") -> np.ndarray:
        """An array (configs x epochs) of ``output`` at epochs 1..``epochs``."""
        task = str(task)
        if task not in self._codes or task not in self.tasks:
            raise ValueError(f"unknown LCBench task {task!r}; valid: {', '.join(self.tasks)}")
        if not 1 <= epochs <= MAX_EPOCHS:
            raise ValueError(f"LCBench has epochs 1..{MAX_EPOCHS}, not {epochs}")
        col = OUTPUTS.index(output)
        ep = np.arange(1, epochs + 1, dtype=np.float32)
        hp = np.array([[float(c[k]) for k in HYPERPARAMETERS] for c in configs], dtype=np.float32)
        n = len(configs)
        x_cont = np.concatenate([np.repeat(ep, n)[:, None], np.tile(hp, (epochs, 1))], axis=1)
        x_cat = np.full((n * epochs, 1), self._codes[task], dtype=np.int32)
        out = self._session.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0]
        return out[:, col].reshape(epochs, n).T.astype(float)


@lru_cache(maxsize=2)
def surrogate(directory: str | None = None) -> Surrogate:
    return Surrogate(Path(directory) if directory else None)


def sample_configs(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` configurations drawn uniformly (log-uniformly where the space says log)."""
    rng = np.random.default_rng(seed)

    def logu(lo: float, hi: float) -> float:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    return [{
        "batch_size": int(round(logu(16, 512))),
        "learning_rate": logu(1e-4, 1e-1),
        "momentum": float(rng.uniform(0.1, 0.99)),
        "weight_decay": float(rng.uniform(1e-5, 1e-1)),
        "num_layers": int(rng.integers(1, 6)),
        "max_units": int(round(logu(64, 1024))),
        "max_dropout": float(rng.uniform(0.0, 1.0)),
    } for _ in range(n)]


def lcbench(config: dict[str, Any], ctx: Context, task: str = "3945") -> Iterator[dict[str, float]]:
    """Report the surrogate's validation accuracy (percent) and cross-entropy epoch by epoch.

    ``config`` holds the seven LCBench hyperparameters; ``task`` is the OpenML task id (one of
    34). A resumed trial continues after its last checkpointed epoch.
    """
    epochs = min(ctx.max_epochs, MAX_EPOCHS)
    model = surrogate()
    acc = model.curves(task, [config], epochs, "val_accuracy")[0]
    ce = model.curves(task, [config], epochs, "val_cross_entropy")[0]
    start = int(ctx.restored["epoch"]) + 1 if ctx.restored else 1
    for epoch in range(start, epochs + 1):
        ctx.checkpoint({"epoch": epoch})
        yield {"val_accuracy": float(acc[epoch - 1]), "val_cross_entropy": float(ce[epoch - 1])}


def _preflight(task: str = "3945", **_: Any) -> str | None:
    """Why ``lcbench`` cannot run here (the surrogate or onnxruntime missing), or None."""
    import importlib.util

    d = data_dir() / "lcbench"
    if not available():
        return (f"the LCBench surrogate is not at {d} (model.onnx, encoding.json); set "
                "SEARCHLAB_YAHPO_DATA to the yahpo_data directory "
                "(https://github.com/slds-lmu/yahpo_data)")
    if importlib.util.find_spec("onnxruntime") is None:
        return "the LCBench surrogate needs onnxruntime: pip install onnxruntime"
    codes = json.loads((d / "encoding.json").read_text()).get("OpenML_task_id", {})
    if codes and str(task) not in codes:
        return f"unknown LCBench task {task!r}; valid: {', '.join(sorted(codes))}"
    return None


lcbench.preflight = _preflight  # type: ignore[attr-defined]
