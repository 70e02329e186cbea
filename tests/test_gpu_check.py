"""scripts/gpu_check.sh, the prepared check for a GPU machine, runs end to end as a dry run: one
logical GPU on a local Ray cluster, trials on the CPU, small sizes."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from searchlab_testing import REPO

pytestmark = pytest.mark.slow


def test_gpu_check_dry_run_prints_one_json_line_with_every_part(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    r = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "--dry-run"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["dry_run"] is True
    for part in ("packing", "deep_ga", "stn", "lr_free"):
        assert "error" not in summary[part], (part, summary[part])
    packing = summary["packing"]
    # 8 trials at gpu: 0.25 on the one (logical) GPU: four at a time, all given GPU 0
    assert packing["trials"] == 8 and packing["completed"] == 8
    assert packing["most_at_once"] == 4
    assert packing["ray_gpu_ids"] == ["0"] and packing["cuda_visible_devices"] == ["0"]
    assert packing["devices"] == ["cpu"]  # a logical GPU: no CUDA device to use
    ga = summary["deep_ga"]
    assert ga["population"] == 1000 and ga["cpu_frames_per_s"] > 0
    assert summary["stn"]["status"] == "completed" and summary["stn"]["value"] is not None
    trials = summary["lr_free"]["trials"]
    assert set(trials) == {"prodigy", "adamw"}
    assert all(t["status"] == "completed" and t["val_error"] is not None for t in trials.values())
