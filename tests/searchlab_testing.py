"""Helpers shared by the test modules (a plain module: `conftest` names clash across folders)."""

from __future__ import annotations

from pathlib import Path

from searchlab.execution.ray_start import free_port  # noqa: F401 - for the test modules

TESTS = Path(__file__).parent
REPO = TESTS.parent


def child_runs(uri: str, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment}"
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    return client, [r for r in runs if r.data.tags.get("searchlab.role") == "trial"], \
        [r for r in runs if r.data.tags.get("searchlab.role") == "study"]
