"""docs/deep_ga.md, "On your own problem": every snippet runs as written, as a user would run
it (the module and the study file written from the page into an empty directory)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from searchlab_testing import REPO

DOC = (REPO / "docs" / "deep_ga.md").read_text()
SECTION = DOC[DOC.index("## On your own problem"):]
SECTION = SECTION[:SECTION.index("\n## ", 5)] if "\n## " in SECTION[5:] else SECTION


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", SECTION, re.S)


def _file(first_line: str) -> str:
    found = [b for lang in ("python", "yaml") for b in _blocks(lang)
             if b.startswith(first_line + "\n")]
    assert len(found) == 1, f"one block starting {first_line!r}"
    return found[0]


@pytest.fixture()
def user_dir(tmp_path, monkeypatch):
    """An empty directory with the page's module and study file; a module name of its own."""
    (tmp_path / "my_problem.py").write_text(_file("# my_problem.py"))
    (tmp_path / "study.yaml").write_text(_file("# study.yaml"))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("my_problem", None)
    yield tmp_path
    sys.modules.pop("my_problem", None)


def test_the_section_has_the_snippets_it_promises() -> None:
    assert [b.splitlines()[0] for b in _blocks("python")] == ["# my_problem.py", "# try_it.py"]
    assert _blocks("yaml")[0].startswith("# study.yaml")
    assert _blocks("bash") == ["searchlab validate study.yaml\nsearchlab run study.yaml\n"
                               "searchlab replay reach\n"]


def test_trying_it_in_python_runs_as_written(user_dir, capsys) -> None:
    exec(compile(_file("# try_it.py"), "try_it.py", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[:3]] == ["1", "2", "3"]
    assert out[3].startswith("elite: (") and "final score: -" in out[3]


def test_the_study_validates_and_a_mistake_is_one_line_at_its_key(user_dir, capsys) -> None:
    from searchlab.cli import main

    assert main(["validate", "study.yaml"]) == 0
    assert "valid study 'reach'" in capsys.readouterr().out
    # the page's example of a mistake: a policy with the wrong number of outputs
    code = (user_dir / "my_problem.py").read_text()
    (user_dir / "my_problem.py").write_text(code.replace(
        "nn.Linear(16, action_space.shape[0]), nn.Tanh())",
        "nn.Linear(16, action_space.shape[0] + 1), nn.Tanh())").replace(
        "self.register_buffer(\"high\", high)", "self.register_buffer(\"high\", high[:1])"))
    sys.modules.pop("my_problem", None)
    assert main(["validate", "study.yaml"]) == 2
    err = capsys.readouterr().err
    expected = re.search(r"e\.g\. `(study\.yaml:\d+: method\.policy: [^`]*)`",
                         SECTION.replace("\n", " ")).group(1)
    assert expected in err, err


@pytest.mark.slow
def test_the_commands_run_as_written(user_dir) -> None:
    """validate, run (Ray Tune, MLflow in ./.searchlab), replay, as the page's bash block."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AIR_NEW_OUTPUT": "0"}
    env.pop("MLFLOW_TRACKING_URI", None)
    outputs = []
    for line in _blocks("bash")[0].splitlines():
        args = line.split()
        assert args[0] == "searchlab"
        proc = subprocess.run([sys.executable, "-m", "searchlab", *args[1:]], env=env,
                              capture_output=True, text=True, timeout=900, cwd=user_dir)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        outputs.append(proc.stdout)
    summary = outputs[1]
    assert "Deep GA on my_problem:make_env: 2 runs" in summary
    assert re.search(r"replay it: searchlab replay reach --trial \w+", summary)
    assert "mean return" in outputs[2]
    assert list(Path(user_dir).glob("elite_strip_*.png"))
