"""docs/lr_free.md, "On your own problem", run as a user would: its files written into an empty
directory, its commands run there (through Ray Tune into MLflow), and the error lines it shows
produced by the same typos."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "lr_free.md"


def _section() -> str:
    text = DOC.read_text()
    start = text.index("\n## On your own problem\n")
    end = text.index("\n## ", start + 5)
    return text[start:end]


def _blocks(section: str) -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def _run(command: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "RAY_AIR_NEW_OUTPUT": "0"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_docs_own_problem_section_runs_as_written(tmp_path) -> None:
    section = _section()
    files, commands = {}, []
    for lang, body in _blocks(section):
        first = body.splitlines()[0]
        if lang in ("python", "yaml"):
            m = re.match(r"# file: (\S+)", first)
            assert m, f"a {lang} block without '# file: NAME': {first}"
            files[m.group(1)] = body
        elif lang == "bash":
            commands += [line.split() for line in body.splitlines() if line.strip()]
    assert set(files) == {"my_optimizer.py", "my_problem.py", "my_loop.py", "study.yaml"}
    assert [c[:2] for c in commands] == [["searchlab", "validate"], ["searchlab", "run"],
                                         ["searchlab", "show"]]
    project = tmp_path / "project"
    project.mkdir()
    for name, body in files.items():
        (project / name).write_text(body)
    outputs = []
    for command in commands:
        proc = _run([sys.executable, "-m", *command], cwd=project)
        assert proc.returncode == 0, (command, proc.stdout[-3000:], proc.stderr[-3000:])
        outputs.append(proc.stdout)
    ran, shown = outputs[1], outputs[2]
    for out in (ran, shown):
        assert out.lstrip().startswith("AlgoPerf scores"), out[:500]
        assert "| Nesterov SGD (yours) | no |" in out
        assert "best trials of" not in out
        assert "held out (never calibrated on): own_loop, tabular" in out
    # every trial completed, and the user's optimizer reached its target somewhere
    row = next(line for line in ran.splitlines() if line.startswith("| Nesterov SGD (yours)"))
    assert float(row.split("|")[4]) > 0.0, row  # calibrated score
    assert "45 trials" not in ran and re.search(r"\n27 trials \(27 completed\)", ran), ran[-800:]

    # the error lines the section shows come from these typos, word for word
    shown_errors = [line.strip() for line in section.splitlines()
                    if line.strip().startswith("searchlab: error:")]
    assert len(shown_errors) == 2
    study = (project / "study.yaml").read_text()
    typos = [study.replace('"my_problem:regression"', '"my_problm:regression"'),
             study.replace("momentum: 0.9, warmup", "momentun: 0.9, warmup")]
    for typo, expected in zip(typos, shown_errors):
        (project / "study.yaml").write_text(typo)
        proc = _run([sys.executable, "-m", "searchlab", "validate", "study.yaml"], cwd=project)
        assert proc.returncode == 2
        got = proc.stderr.strip().replace(str(project), "/home/you/project")
        assert got == expected
