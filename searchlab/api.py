"""The Python API: run a study from a notebook or a script, and read finished studies back.

    import searchlab

    result = searchlab.run({"name": "demo", "workload": "sphere", ...}, quiet=True)
    result.to_dataframe()                 # one row per trial, every metric it reported
    result.tables()                       # the method's analysis tables, as DataFrames
    searchlab.load("demo")                # the same table, read back from MLflow later
    searchlab.load_tables("demo")         # the same analysis tables, read back

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
    """Run (or resume) a study; returns the runner's ``StudyResult`` (``to_dataframe()``,
    ``tables()``)."""
    from searchlab.runner import RunOptions, run_study

    loaded = load_spec(study)
    valid = [f.name for f in dataclasses.fields(RunOptions)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise SearchlabError(f"unknown option '{unknown[0]}' for searchlab.run; valid: "
                             f"{', '.join(valid)}")
    return run_study(loaded, RunOptions(**options))


def load(name: str, tracking_uri: str | None = None) -> Any:
    """The trials of the latest execution of study ``name`` as a pandas DataFrame, read from
    MLflow (``tracking_uri``: default MLFLOW_TRACKING_URI, else ./.searchlab/mlflow.db)."""
    from searchlab.show import read_study

    stored = read_study(name, tracking_uri)
    return results_frame(stored)


def results_frame(result: Any) -> Any:
    """A study's trials (a ``StudyResult`` or a study read from MLflow) as a pandas DataFrame:
    ``trial_id``, ``status``, the metric (None for failed and diverged trials), ``epochs``,
    ``run_id``, ``error``, every other metric the trials reported (their latest values; a
    multi-objective study's further objectives first), then the flat config as
    ``config/<name>`` (Ray Tune's names)."""
    import pandas as pd

    records = []
    for r in result.rows:
        rec = {"trial_id": r.trial_id, "status": r.status, result.metric: r.value,
               "epochs": r.epochs, "run_id": r.run_id, "error": r.error}
        rec.update({k: v for k, v in getattr(r, "metrics", {}).items() if k not in rec})
        rec.update({f"config/{k}": v for k, v in r.config.items()})
        records.append(rec)
    frame = pd.DataFrame.from_records(records, columns=_columns(result, records))
    frame.attrs.update(metric=result.metric, mode=result.mode, study=result.name)
    return frame


def load_tables(name: str, tracking_uri: str | None = None) -> dict[str, Any]:
    """The method's analysis tables of the latest execution of study ``name`` (what
    ``result.tables()`` gave when it ran), read from MLflow, as pandas DataFrames by name."""
    from searchlab.show import read_tables

    return table_frames(read_tables(name, tracking_uri))


def table_frames(tables: dict[str, Any]) -> dict[str, Any]:
    """A method's analysis tables (``Analysis.tables``: JSON-able data) as pandas DataFrames:
    a list of records is one row each; a mapping of records, one row each with the key as the
    index; a mapping of lists, one column each; a mapping of plain values, one row. What has no
    table's shape (a single number) is left out."""
    frames = {}
    for name, data in tables.items():
        frame = _table_frame(data)
        if frame is not None:
            frames[name] = frame
    return frames


def _table_frame(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, list):
        if all(isinstance(r, dict) for r in data):
            return pd.DataFrame.from_records(data)
        return pd.DataFrame({"value": data})
    if not isinstance(data, dict):
        return None
    values = list(data.values())
    if values and all(isinstance(v, dict) for v in values):
        return pd.DataFrame.from_dict(data, orient="index")
    if values and all(isinstance(v, list) for v in values):
        return pd.DataFrame({k: pd.Series(v, dtype=object if not v else None)
                             for k, v in data.items()})
    return pd.DataFrame([data])


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
    metrics: set[str] = set()
    for rec in records:
        config += [k for k in rec if k.startswith("config/") and k not in config]
        metrics.update(k for k in rec if k not in base and not k.startswith("config/"))
    first = [m for m, _ in getattr(result, "objectives", ())[1:] if m in metrics]
    others = first + sorted(metrics - set(first))
    return base + others + config
