"""Each trial's reported results on disk, for the study's resume.

When a driver is killed, the results its MLflow writer had not written yet are lost from memory;
the resumed study fills them in (:meth:`searchlab.tracking.writer.MLflowWriter.reconcile`) from
this log: one JSON line per result in ``<trial dir>/results.jsonl``. It replaces Ray Tune's
``JsonLoggerCallback``, whose ``result.json`` Tune reads back into a pandas DataFrame for *every*
trial when ``tune.run`` returns: seconds and hundreds of MB at 10,000 trials
(``benchmarks/scale_10k.py``), where the log is read only for the trials a resume needs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ray.tune import Callback

from searchlab.tracking.tracker import json_default

FILE = "results.jsonl"


class TrialResultLog(Callback):
    """Appends each result Tune receives to its trial's :data:`FILE`."""

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                        result: dict[str, Any], **info: Any) -> None:
        # the trial's directory in the study's storage (Tune's driver-side staging copy,
        # ``local_path``, reaches it only when Tune syncs: a kill -9 loses what was not synced)
        path = getattr(trial, "path", None)
        if not path or "://" in str(path):
            path = getattr(trial, "local_path", None)
        if not path:
            return
        try:
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, FILE), "a") as f:
                f.write(json.dumps(result, default=json_default) + "\n")
        except OSError:  # a full disk: the study goes on; only a resume would miss these rows
            pass


def read_results(trial_dir: str | None) -> list[dict[str, Any]]:
    """The results logged in ``trial_dir`` (oldest first); a line cut short by a kill is
    skipped."""
    if not trial_dir:
        return []
    rows = []
    try:
        with open(os.path.join(trial_dir, FILE)) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        return []
    return rows
