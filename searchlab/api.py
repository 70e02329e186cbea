"""The Python API: run a study from a notebook or a script, and read finished studies back.

    import searchlab

    result = searchlab.run({"name": "demo", "workload": "sphere", ...}, quiet=True)
    result.to_dataframe()                 # one row per trial
    searchlab.load("demo")                # the same table, read back from MLflow later

``run`` takes the study as a dict, as YAML text, or as the path of a study file; errors name the
line and the key as on the command line (a dict is written out as YAML first, so they can).
Keyword options are those of ``searchlab run``: ``storage``, ``restart``, ``quiet``,
``tracking``, ``gpus``, ``address``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from searchlab import refs
from searchlab.errors import SearchlabError


def run(study: dict[str, Any] | str | os.PathLike, **options: Any) -> Any:
    """Run (or resume) a study; returns the runner's ``StudyResult`` with ``to_dataframe()``."""
    from searchlab.runner import RunOptions, run_study

    loaded = load_spec(study)
    valid = [f.name for f in dataclasses.fields(RunOptions)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise SearchlabError(f"unknown option '{unknown[0]}' for searchlab.run; valid: "
                             f"{', '.join(valid)}")
    result = run_study(loaded, RunOptions(**options))
    if not hasattr(result, "to_dataframe"):
        result.to_dataframe = lambda: results_frame(result)
    return result


def load(name: str, tracking_uri: str | None = None) -> Any:
    """The trials of the latest execution of study ``name`` as a pandas DataFrame, read from
    MLflow (``tracking_uri``: default MLFLOW_TRACKING_URI, else ./.searchlab/mlflow.db)."""
    from searchlab.show import read_study

    stored = read_study(name, tracking_uri)
    return results_frame(stored)


def results_frame(result: Any) -> Any:
    """A study's trials (a ``StudyResult`` or a study read from MLflow) as a pandas DataFrame:
    ``trial_id``, ``status``, the metric (None for failed and diverged trials), ``epochs``,
    ``run_id``, ``error``, then the flat config as ``config/<name>`` (Ray Tune's names)."""
    import pandas as pd

    records = []
    for r in result.rows:
        rec = {"trial_id": r.trial_id, "status": r.status, result.metric: r.value,
               "epochs": r.epochs, "run_id": r.run_id, "error": r.error}
        rec.update({f"config/{k}": v for k, v in r.config.items()})
        records.append(rec)
    frame = pd.DataFrame.from_records(records, columns=_columns(result, records))
    frame.attrs.update(metric=result.metric, mode=result.mode, study=result.name)
    return frame


def load_spec(study: dict[str, Any] | str | os.PathLike) -> Any:
    """A study as a dict, YAML text or a file path -> the parsed ``LoadedStudy``."""
    from searchlab.spec.parse import load_study, parse_text

    if isinstance(study, dict):
        import yaml

        return parse_text(yaml.safe_dump(study, sort_keys=False), "<dict>")
    if isinstance(study, os.PathLike):
        with refs.reading(study):  # references in the file resolve from its directory
            return load_study(Path(study))
    if isinstance(study, str):
        one_line = "\n" not in study.strip()
        if one_line and (Path(study).is_file() or study.strip().endswith((".yaml", ".yml"))):
            with refs.reading(study):
                return load_study(Path(study))  # a missing .yaml file: "file not found"
        return parse_text(study, "<text>")
    raise SearchlabError(f"a study is a dict, YAML text or a file path, not {type(study).__name__}")


def _columns(result: Any, records: list[dict[str, Any]]) -> list[str]:
    base = ["trial_id", "status", result.metric, "epochs", "run_id", "error"]
    config: list[str] = []
    for rec in records:
        config += [k for k in rec if k.startswith("config/") and k not in config]
    return base + config
