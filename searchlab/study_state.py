"""A study's directory: where it lives, whether it can be written, and its small state file
(spec hash, parent MLflow run, running/finished) that decides between resume and a new run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from searchlab.errors import SearchlabError

STATE_FILE = "searchlab.json"
MIN_FREE_BYTES = 50 * 2**20


def storage_root(study_storage: str | None, option: str | None) -> Path:
    return Path(option or study_storage or os.path.join(".searchlab", "studies")).resolve()


def check_storage(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".searchlab-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise SearchlabError(f"storage directory {root} is not writable: {e.strerror}") from None
    free = shutil.disk_usage(root).free
    if free < MIN_FREE_BYTES:
        raise SearchlabError(f"storage directory {root} has only {free // 2**20} MiB free; "
                             f"searchlab needs at least {MIN_FREE_BYTES // 2**20} MiB")


def read_state(study_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((study_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def write_state(study_dir: Path, state: dict[str, Any]) -> None:
    study_dir.mkdir(parents=True, exist_ok=True)
    tmp = study_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(study_dir / STATE_FILE)


def is_resumable(study_dir: Path) -> bool:
    """Whether Ray Tune saved the study's state (its experiment checkpoint) to resume from."""
    return any(study_dir.glob("experiment_state-*.json"))


def set_aside_damaged(study_dir: Path) -> list[tuple[str, str]]:
    """Rename every experiment_state-*.json in ``study_dir`` that is not whole JSON (a kill -9
    while Tune wrote it) to ``<name>.damaged``, so that Ray Tune resumes from the newest whole
    one instead of failing on it and starting the experiment over; nothing is deleted. Returns
    (damaged name, name kept aside) for each."""
    moved = []
    for path in sorted(study_dir.glob("experiment_state-*.json")):
        try:
            json.loads(path.read_text())
        except (OSError, ValueError):  # cut short, or not text at all
            aside = path.with_name(path.name + ".damaged")
            path.replace(aside)
            moved.append((path.name, aside.name))
    return moved
