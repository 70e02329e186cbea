"""The study file: parsing, validation errors (file, line, key path, suggestion), the space."""

from __future__ import annotations

import pytest

from searchlab.errors import SpecError
from searchlab.spec.parse import load_study, parse_text
from searchlab.spec.space import Conditional, Float, Int

BASE = """\
name: t
workload: sphere
metric: {name: loss, mode: min}
space:
  x1: {uniform: [-1, 1]}
budget: {trials: 4}
"""


def err(text: str) -> SpecError:
    with pytest.raises(SpecError) as e:
        parse_text(text, "s.yaml")
    return e.value


def test_quickstart_parses_into_typed_models(tmp_path):
    loaded = load_study("spaces/quickstart.yaml")
    s = loaded.study
    assert s.name == "quickstart" and s.metric.mode == "max"
    assert isinstance(s.space.params["lr"], Float) and s.space.params["lr"].log
    opt = s.space.params["optimizer"]
    assert isinstance(opt, Conditional) and set(opt.options) == {"sgd", "adam"}
    assert s.stopping.name == "asha" and s.stopping.settings.grace_period == 2
    assert s.search.name == "optuna" and s.search.settings.sampler == "tpe"
    assert s.budget.trials == 32 and s.budget.concurrency == 2
    assert len(loaded.hash) == 16


@pytest.mark.parametrize("text, line, path, words", [
    (BASE + "budgett: {trials: 3}\n", 7, "budgett", "did you mean 'budget'"),
    (BASE.replace("trials: 4", "trails: 4"), 6, "budget.trails", "did you mean 'trials'"),
    (BASE.replace("uniform: [-1, 1]", "unifrom: [-1, 1]"), 5, "space.x1.unifrom",
     "did you mean 'uniform'"),
    (BASE.replace("uniform: [-1, 1]", "uniform: [1, -1]"), 5, "space.x1.uniform",
     "low must be below high"),
    (BASE.replace("uniform: [-1, 1]", "loguniform: [0, 1]"), 5, "space.x1.loguniform[0]",
     "low > 0"),
    (BASE.replace("mode: min", "mode: mni"), 3, "metric.mode", "'min' or 'max'"),
    (BASE.replace("trials: 4", "trials: -2"), 6, "budget.trials", "greater than or equal to 1"),
    (BASE.replace("trials: 4", "trials: 4, time_limit: soon"), 6, "budget.time_limit", "duration"),
    (BASE + "stopping: {scheduler: ahsa}\n", 7, "stopping.scheduler", "did you mean 'asha'"),
    (BASE + "stopping: {scheduler: asha, grace: 2}\n", 7, "stopping.grace",
     "did you mean 'grace_period'"),
    (BASE + "search: {algorithm: optuna, sampler: tpee}\n", 7, "search.sampler", "'tpe'"),
    (BASE + "search: {algorithm: optuna, sampler: cmaes, startup: 3}\n", 7, "search",
     "tpe and gp samplers"),
    (BASE + "search: {algorithm: random, startup: 3}\n", 7, "search.startup",
     "unknown key 'startup'"),
    (BASE + "search: {algorithm: optuna, repeats: 3}\n", 7, "search.repeats",
     "unknown key 'repeats'"),
    (BASE + "search: {algorithm: grid}\n", 7, "search.algorithm",
     "cannot enumerate the continuous"),
    (BASE + "method: {name: cdtt}\n", 7, "method.name", "did you mean 'cdt'"),
    (BASE.replace("x1: {uniform: [-1, 1]}", "x1: {choice: []}"), 5, "space.x1.choice",
     "non-empty list"),
    (BASE.replace("x1: {uniform: [-1, 1]}", "x1: {int: [1, 5], step: 0}"), 5, "space.x1.int",
     "positive"),
    (BASE.replace("x1: {uniform: [-1, 1]}", "x1: {uniform: [0, 1.0e400]}"), 5,
     "space.x1.uniform[1]", "finite"),
    (BASE.replace("x1: {uniform: [-1, 1]}", "x.1: {uniform: [0, 1]}"), 5, "space.x.1",
     "not a valid parameter name"),
    (BASE.replace("workload: sphere\n", ""), None, None, "missing required key 'workload'"),
    (BASE + "name: again\n", 7, None, "duplicate key 'name'"),
    ("name: [unclosed\n", 2, None, "invalid YAML"),
    ("- a\n- b\n", 1, None, "must be a mapping"),
    ("", None, None, "empty"),
])
def test_errors_name_file_line_and_path(text, line, path, words):
    e = err(text)
    # the error these words are about (a file may hold others: all are reported)
    e = next((one for one in getattr(e, "errors", [e]) if words in str(one)), e)
    assert e.file == "s.yaml"
    assert e.line == line, str(e)
    if path is not None:
        assert e.path == path, str(e)
    assert words in str(e), str(e)
    assert "\n" not in str(e)  # one short line


def test_non_utf8_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_bytes(b"name: t\nworkload: \xff\xfe\n")
    with pytest.raises(SpecError, match="not valid UTF-8") as e:
        load_study(p)
    assert e.value.line == 2


def test_unsafe_yaml_tags_are_refused():
    e = err("name: !!python/object/apply:os.system ['echo pwned']\n")
    assert "not allowed" in str(e)
    e = err("name: !!python/name:os.system\n")
    assert "invalid YAML" in str(e)


def test_space_kinds_and_flatten():
    s = parse_text(BASE.replace("x1: {uniform: [-1, 1]}", """x1: {uniform: [-1, 1]}
  n: {int: [1, 9], step: 2}
  q: {qint: [0, 100, 10]}
  c: {choice: [a, b]}
  g: {grid: [1, 2]}
  k: 7
  opt:
    choice:
      sgd: {m: {uniform: [0, 1]}}
      none: {}"""), "s.yaml").study.space
    assert s.params["n"] == Int(1, 9, step=2)
    assert s.params["q"] == Int(0, 100, step=10)
    assert s.has_grid and s.has_conditional
    names = [n for n, _ in s.walk()]
    assert "opt.sgd.m" in names
    nested = {"x1": 0.1, "n": 3, "q": 10, "c": "a", "g": 1, "k": 7,
              "opt": {"__option__": "sgd", "m": 0.5}}
    flat = s.flatten(nested)
    assert flat == {"x1": 0.1, "n": 3, "q": 10, "c": "a", "g": 1, "k": 7, "opt": "sgd",
                    "opt.sgd.m": 0.5}
    assert s.flatten(flat) == flat  # idempotent on flat (Optuna) configs
    assert s.flatten({**nested, "opt": {"__option__": "none"}})["opt"] == "none"


def test_grid_size_counts_conditional_branches():
    s = parse_text("""name: g
workload: sphere
metric: {name: loss, mode: min}
search: {algorithm: grid}
space:
  a: {grid: [1, 2, 3]}
  b: {choice: [x, y]}
  o:
    choice:
      p: {r: {int: [1, 3]}}
      q: {}
""", "s.yaml").study.space
    assert s.grid_size() == 3 * 2 * (3 + 1)


def test_grid_parameter_rejected_for_model_based_search():
    e = err(BASE.replace("x1: {uniform: [-1, 1]}", "x1: {grid: [1, 2]}")
            + "search: {algorithm: optuna}\n")
    assert "cannot enumerate grid parameter 'x1'" in str(e)


def test_durations():
    s = parse_text(BASE.replace("trials: 4", "trials: 4, time_limit: 2m, trial_timeout: 1.5h"),
                   "s").study
    assert s.budget.time_limit == 120 and s.budget.trial_timeout == 5400


def test_yaml_12_floats_are_numbers():
    s = parse_text(BASE.replace("uniform: [-1, 1]", "loguniform: [1e-4, 1E+2]"), "s").study
    assert s.space.params["x1"].low == 1e-4 and s.space.params["x1"].high == 100.0


def test_tpe_models_from_a_third_of_the_budget_unless_told():
    from searchlab.searchers.optuna import sampler, startup_trials

    assert [startup_trials(None, n) for n in (None, 4, 10, 30, 300)] == [10, 2, 3, 10, 10]
    assert startup_trials(5, 10) == 5
    study = parse_text(BASE + "search: {algorithm: optuna, startup: 4}\n", "s.yaml").study
    assert study.search.settings.startup == 4
    assert sampler("tpe", 0, 4)._n_startup_trials == 4


MANY = """\
name: t
workload: sphere
metric: {name: loss, mode: mni}
space:
  x1: {unifrom: [-1, 1]}
  x2: {uniform: [1, -1]}
budget: {trials: -4, concurency: 2}
stopping: {scheduler: asha, grace: 2}
search: {algorithm: optuna, sampler: tpee}
extra: 1
"""


def test_every_error_in_the_file_is_reported_at_once(tmp_path):
    """Eight mistakes in eight keys of six blocks: all eight, in the order of their lines, each
    on a line of its own with file:line, and the command exits 2."""
    import subprocess
    import sys

    p = tmp_path / "s.yaml"
    p.write_text(MANY)
    r = subprocess.run([sys.executable, "-m", "searchlab", "validate", str(p)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    expected = [(3, "metric.mode"), (5, "space.x1.unifrom"), (6, "space.x2.uniform"),
                (7, "budget.trials"), (7, "budget.concurency"), (8, "stopping.grace"),
                (9, "search.sampler"), (10, "extra")]
    assert len(lines) == len(expected), r.stderr
    for line, (number, path) in zip(lines, expected):
        assert line.startswith(f"searchlab: error: {p}:{number}: {path}: "), r.stderr
    assert "Traceback" not in r.stderr


def test_the_checks_across_blocks_report_every_error_too():
    text = ("name: m\nmethod: {name: cdt, seeds: 1}\nworkload: sphere\n"
            "metric: {name: loss, mode: min}\nspace: {x: {uniform: [0, 1]}}\nbudget: {trials: 3}\n")
    e = err(text)
    assert [(one.line, one.path) for one in e.errors] == [
        (3, "workload"), (4, "metric"), (5, "space"), (6, "budget.trials")], str(e)


def test_errors_past_the_bound_are_counted():
    from searchlab.errors import SpecErrors
    from searchlab.spec.parse import MAX_ERRORS

    text = BASE.replace("budget: {trials: 4}", "budget:\n  trials: 4\n"
                        + "".join(f"  typo{i}: 1\n" for i in range(MAX_ERRORS + 7)))
    e = err(text)
    assert isinstance(e, SpecErrors) and len(e.errors) == MAX_ERRORS and e.more == 7
    assert e.lines()[-1] == "s.yaml: 7 more error(s) not shown; fix these first"
    assert [one.line for one in e.errors] == list(range(8, 8 + MAX_ERRORS))


def test_one_error_is_a_plain_spec_error_and_line_breaks_stay_on_its_line():
    e = err(BASE.replace("workload: sphere", 'workload: "no\\rsuch"'))
    assert type(e) is SpecError and "no\\rsuch" in str(e) and len(str(e).splitlines()) == 1


def test_several_errors_pickle():
    import pickle

    e = err(MANY)
    again = pickle.loads(pickle.dumps(e))
    assert str(again) == str(e) and again.lines() == e.lines()
