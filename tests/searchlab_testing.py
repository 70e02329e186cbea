"""Helpers shared by the test modules (a plain module: `conftest` names clash across folders)."""

from __future__ import annotations

import socket
from pathlib import Path

TESTS = Path(__file__).parent
REPO = TESTS.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_runs(uri: str, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment}"
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    return client, [r for r in runs if r.data.tags.get("searchlab.role") == "trial"], \
        [r for r in runs if r.data.tags.get("searchlab.role") == "study"]
