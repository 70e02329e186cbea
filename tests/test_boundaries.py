"""The line between pure code and adapters: these modules import with Ray and MLflow blocked."""

from __future__ import annotations

import subprocess
import sys

RAY_FREE = [
    "searchlab.spec.parse", "searchlab.spec.models", "searchlab.spec.space", "searchlab.status",
    "searchlab.results", "searchlab.study_state", "searchlab.methods", "searchlab.methods.base",
    "searchlab.methods.local", "searchlab.methods.search", "searchlab.searchers",
    "searchlab.searchers.variants", "searchlab.searchers.optuna", "searchlab.searchers.nevergrad",
    "searchlab.methods.cdt.adapter", "searchlab.methods.cdt.tuners",
    "searchlab.methods.cdt.simulate", "searchlab.predictive.predictor",
    "searchlab.predictive.features", "searchlab.predictive.rule", "searchlab.predictive.curves",
    "searchlab.predictive.calibration", "searchlab.predictive.prior", "searchlab.pareto",
    "searchlab.workloads", "searchlab.workloads.api", "searchlab.workloads.datasets",
    "searchlab.methods.deep_ga.algorithm", "searchlab.methods.deep_ga.encoding",
    "searchlab.methods.deep_ga.novelty", "searchlab.methods.deep_ga.policies",
    "searchlab.methods.deep_ga.envs", "searchlab.methods.deep_ga.maze",
    "searchlab.methods.deep_ga.method", "searchlab.methods.deep_ga.workload",
    "searchlab.methods.deep_ga.gym_envs", "searchlab.methods.deep_ga.modules",
    "searchlab.methods.deep_ga.check", "searchlab.methods.deep_ga.analysis", "searchlab.refs",
    "searchlab.methods.lr_free.scoring", "searchlab.methods.lr_free.optimizers",
    "searchlab.methods.lr_free.workloads", "searchlab.methods.lr_free.method",
    "searchlab.methods.stn.layers", "searchlab.methods.stn.hyper", "searchlab.methods.stn.train",
    "searchlab.methods.stn.method", "searchlab.methods.stn.problem",
    "searchlab.methods.stn.analysis", "searchlab.stn", "searchlab.refs", "searchlab.registry",
    "searchlab.stopping", "searchlab.stopping.base", "searchlab.stopping.builtin",
    "searchlab.stopping.rule", "searchlab.predictive.core", "searchlab.predictive.factory",
]

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("ray", "mlflow"):
            raise ImportError(f"blocked: {name}")
        return None
sys.meta_path.insert(0, Block())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
print("ok")
"""


def test_pure_modules_import_without_ray_or_mlflow():
    proc = subprocess.run([sys.executable, "-c", BLOCKER, *RAY_FREE], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"


def test_ray_private_attributes_are_read_in_one_marked_function():
    """Ray's private API (an underscore attribute of a Ray object) appears only in
    searchlab.stopping.adapter.resume_bracket, which a test pins (tests/stopping)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "searchlab"
    private = re.compile(r"\b(_trial_info|_process_bracket|_schedule_trial_save|_metric|_mode|"
                         r"_supports_buffered_results|_local_tuner|_tune_config)\b")
    hits = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if private.search(line)]
    text = (root / "stopping" / "adapter.py").read_text()
    body = text[text.index("def resume_bracket("):]
    start = text[:text.index("def resume_bracket(")].count("\n") + 1
    inside = {f"stopping/adapter.py:{start + i}" for i in range(body.count("\n") + 1)}
    assert hits and set(hits) <= inside, sorted(set(hits) - inside)


def test_the_blocker_blocks():
    proc = subprocess.run([sys.executable, "-c", BLOCKER, "searchlab.execution.driver"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "blocked: ray" in proc.stderr
