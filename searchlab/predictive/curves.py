"""Learning-curve files and MLflow history: where a warm-started predictor gets its curves.

A curve file is a compressed ``.npz`` with ``configs`` (a JSON list of flat configurations),
``metrics`` (a JSON list of metric names) and one array ``curve.<metric>`` (configs x epochs) per
metric. ``benchmarks/record_curves.py`` writes one; the ``replay`` workload serves one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CurveSet:
    configs: list[dict[str, Any]]
    curves: dict[str, np.ndarray]  # metric -> (configs x epochs)

    @property
    def epochs(self) -> int:
        return next(iter(self.curves.values())).shape[1]

    def save(self, path: str | Path) -> None:
        arrays = {f"curve.{m}": a.astype(np.float32) for m, a in self.curves.items()}
        np.savez_compressed(path, configs=np.array(json.dumps(self.configs)),
                            metrics=np.array(json.dumps(list(self.curves))),
                            **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> CurveSet:
        with np.load(path, allow_pickle=False) as data:
            configs = json.loads(str(data["configs"]))
            metrics = json.loads(str(data["metrics"]))
            curves = {m: np.asarray(data[f"curve.{m}"], dtype=float) for m in metrics}
        return cls(configs, curves)


def from_mlflow(tracking_uri: str | None, workload: str, metric: str, max_t: int,
                max_runs: int = 1000) -> tuple[list[dict[str, Any]], list[list[float]]]:
    """Finished curves of earlier trials of ``workload`` logged by searchlab's MLflow writer.

    Child runs carry the tags ``searchlab.role=trial`` and ``searchlab.workload=<name>``, their
    configuration as params and the metric's history with ``step`` = epoch. Only runs whose
    history covers epochs 1..``max_t`` are returned.
    """
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return [], []
    runs = client.search_runs(
        experiments,
        filter_string=(f"tags.`searchlab.role` = 'trial' and "
                       f"tags.`searchlab.workload` = '{workload}'"),
        max_results=max_runs)
    configs, curves = [], []
    for run in runs:
        by_step = {m.step: m.value for m in client.get_metric_history(run.info.run_id, metric)}
        if any(e not in by_step for e in range(1, max_t + 1)):
            continue
        configs.append({k: _parse(v) for k, v in run.data.params.items()})
        curves.append([by_step[e] for e in range(1, max_t + 1)])
    return configs, curves


def _parse(text: str) -> Any:
    """MLflow stores params as text: numbers and booleans back to their type."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)

