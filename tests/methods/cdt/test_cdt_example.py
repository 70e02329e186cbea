"""CDT on the user's own problem as a user meets it: the snippets of docs/cdt.md "On your own
problem" run in order in an empty directory, and examples/cdt_own_bandit runs from a fresh
directory (at a tiny budget) -- both through the CLI, Ray Tune and MLflow."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "cdt.md"
EXAMPLE = REPO / "examples" / "cdt_own_bandit"


def section(text: str, heading: str) -> str:
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start: end if end > 0 else len(text)]


def blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of ``text``: (language, code), in order."""
    return [(m.group(1), m.group(2)) for m in
            re.finditer(r"^```(\w+)\n(.*?)^```$", text, flags=re.S | re.M)]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "RAY_AIR_NEW_OUTPUT": "0", "PYTHONPATH": str(REPO)}


def _searchlab(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "searchlab", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"searchlab {' '.join(args)}:\n{proc.stdout[-3000:]}\n" \
                                 f"{proc.stderr[-3000:]}"
    return proc


def test_every_snippet_of_on_your_own_problem_runs(tmp_path) -> None:
    code = blocks(section(DOC.read_text(), "On your own problem"))
    assert [lang for lang, _ in code] == ["python", "python", "yaml", "bash"]
    project = tmp_path / "project"
    project.mkdir()
    env = _env(tmp_path)
    outputs = []
    for lang, text in code:
        first = text.splitlines()[0]
        if first.startswith("# file: "):  # a file of the project
            (project / first[len("# file: "):].strip()).write_text(text)
        elif lang == "python":
            subprocess.run([sys.executable, "-c", text], cwd=project, env=env, check=True,
                           timeout=120)
        else:
            for line in text.splitlines():
                words = shlex.split(line)
                assert words[0] == "searchlab", line
                outputs.append(_searchlab(words[1:], project, env).stdout)
    assert (project / "logged.csv").is_file() and (project / "my_bandit.py").is_file()
    validate, run, show = outputs
    assert "valid study 'my-cdt'" in validate
    study = yaml.safe_load((project / "study.yaml").read_text())["method"]
    # the run's closing summary and `show` lead with CDT's regret table, not a best-trial table
    for out in (run, show):
        assert "best trials of" not in out
        assert "logged / ridge_ts (oracle: 4 fixed values)" in out
        table = out[out.index("logged / ridge_ts"):]
        for tuner in ("cdt", "theoretical", "best fixed: v=", "worst fixed: v="):
            line = next(x for x in table.splitlines() if x.strip().startswith(tuner))
            assert f"  {study['seeds']}  " in line and " ± " in line and "%" in line, line
    assert "18 trials (18 completed)" in show  # (cdt + theoretical + 4 fixed pairs) x 3 seeds


def test_the_example_runs_from_a_fresh_directory_into_mlflow(tmp_path) -> None:
    import mlflow

    example = tmp_path / "cdt_own_bandit"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("data", "__pycache__"))
    env = _env(tmp_path)
    subprocess.run([sys.executable, "make_data.py"], cwd=example, env=env, check=True,
                   timeout=120)
    doc = yaml.safe_load((example / "study.yaml").read_text())
    m = doc["method"]  # the example at a tiny budget
    m.update(seeds=2, chunks=10, oracle_grid={"alpha": [0.1, 1], "lam": [0.1, 1]})
    for e in m["environments"]:
        e["horizon"] = 300
    (example / "tiny.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    fresh = tmp_path / "elsewhere"
    fresh.mkdir()  # the references in the study file follow the file, not the working directory
    _searchlab(["validate", str(example / "tiny.yaml")], fresh, env)
    run = _searchlab(["run", str(example / "tiny.yaml"), "--storage", str(tmp_path / "store")],
                     fresh, env).stdout
    assert "clicks / ridge_ucb (oracle: 4 fixed values)" in run
    assert "digits-pca8 / ridge_ucb (oracle: 4 fixed values)" in run

    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("cdt-own-bandit")
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    # 2 environments x (cdt + theoretical + 4 fixed pairs) x 2 seeds
    assert len(children) == 2 * 6 * 2
    assert {r.data.params["bandit"] for r in children} == {"ridge_ucb"}
    assert {r.data.params["environment"] for r in children} == {"clicks", "digits-pca8"}
    cdt = next(r for r in children if r.data.params["tuner"] == "cdt_no_restart")
    assert '"confidence": 0.15' in cdt.data.params["zooming"]
    for hp in ("alpha", "lam"):  # both hyperparameters tuned, per chunk
        history = client.get_metric_history(cdt.info.run_id, hp)
        assert len(history) >= 9 and len({round(h.value, 6) for h in history}) > 1
    assert "ridge_ucb: cdt_no_restart" in parent.data.tags["searchlab.headline"]
    path = client.download_artifacts(parent.info.run_id, "analysis/final_regret.json",
                                     str(tmp_path))
    rows = yaml.safe_load(Path(path).read_text())
    assert {(r["environment"], r["tuner"]) for r in rows if r["kind"] == "tuner"} == {
        (e, t) for e in ("clicks", "digits-pca8") for t in ("cdt_no_restart", "theoretical")}
    assert sum(r.get("best_fixed", False) for r in rows) == 2
