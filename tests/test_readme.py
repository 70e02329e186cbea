"""The README's examples run as written, and every command-line argument has help (issue 15)."""

from __future__ import annotations

import argparse
import re

import pytest
from searchlab_testing import REPO

from searchlab.cli import _parser, main

README = (REPO / "README.md").read_text()


def _block(lang: str, containing: str) -> str:
    blocks = [b for b in re.findall(rf"```{lang}\n(.*?)```", README, re.S) if containing in b]
    assert len(blocks) == 1, f"one README {lang} block with {containing!r}"
    return blocks[0]


def _arguments(parser: argparse.ArgumentParser, path: str):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{path} {name}", "(the command itself)", helps.get(name)
                yield from _arguments(sub, f"{path} {name}")
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield path, "/".join(action.option_strings) or action.dest, action.help


def test_every_command_and_argument_has_help():
    missing = [f"{cmd}: {arg}" for cmd, arg, text in _arguments(_parser(), "searchlab")
               if not text or text == argparse.SUPPRESS]
    assert not missing, missing
    commands = {cmd for cmd, _, _ in _arguments(_parser(), "searchlab")}
    assert {"searchlab run", "searchlab validate", "searchlab show", "searchlab ui"} <= commands


def test_quickstart_validates_as_the_readme_says(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert "searchlab run spaces/quickstart.yaml" in README
    assert main(["validate", "spaces/quickstart.yaml"]) == 0
    assert "valid study 'quickstart'" in capsys.readouterr().out


def test_the_readme_study_file_parses():
    from searchlab.spec.parse import parse_text

    study = parse_text(_block("yaml", "name: quickstart"), "README.md").study
    assert study.name == "quickstart" and study.budget.trials == 32


def test_the_readme_promises_only_what_exists():
    from searchlab import methods, stopping

    assert "and more (see" not in README
    assert "cdt" in methods.REGISTRY and "predictive" in stopping.REGISTRY
    for status in ("completed", "early_stopped", "failed", "diverged", "timed_out", "interrupted"):
        assert f"`{status}`" in README


def test_testing_a_workload_alone_runs_as_written():
    exec(compile(_block("python", "from searchlab.workloads.api import Context"), "README", "exec"),
         {})


@pytest.mark.slow
def test_the_python_api_example_runs_as_written(ray_cluster, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # it tracks into ./.searchlab
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    scope: dict = {}
    exec(compile(_block("python", "import searchlab"), "README", "exec"), scope)
    assert len(scope["frame"]) == 4
    assert set(scope["frame"]["trial_id"]) == set(scope["result"].to_dataframe()["trial_id"])
