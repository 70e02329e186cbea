"""CDT on the user's own bandit and data: references, data files, the protocol, the settings'
errors (file:line), the summary, without Ray (the example through Ray and MLflow:
test_cdt_example.py)."""

from __future__ import annotations

import json
import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from searchlab import refs
from searchlab.errors import SpecError
from searchlab.methods.cdt.adapter import cdt_workload, trial_configs
from searchlab.methods.cdt.datafiles import load_classification, load_contextual
from searchlab.methods.cdt.environments import DataBandit
from searchlab.methods.cdt.simulate import run
from searchlab.spec.parse import load_study
from searchlab.workloads.api import Context

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "cdt_own_bandit"
SPACE = {"alpha": {"low": 0.01, "high": 3.0, "scale": "log"},
         "lam": {"low": 0.01, "high": 10.0, "scale": "log"}}
RIDGE = {"label": "ridge", "class": "my_bandit:RidgeUCB", "path": str(EXAMPLE), "args": {},
         "hyperparameters": SPACE}

GREEDY = '''
import numpy as np

class Greedy:
    """Epsilon-greedy on a ridge estimate: hyperparameters eps and lam."""
    def __init__(self, dim, arms, rng, scale=1.0):
        self.G, self.b, self.rng, self.scale = np.zeros((dim, dim)), np.zeros(dim), rng, scale
        self.seen = []

    def select(self, contexts, hyper):
        if self.rng.random() < hyper["eps"]:
            return int(self.rng.integers(len(contexts)))
        theta = np.linalg.solve(self.G + hyper["lam"] * np.eye(len(self.b)), self.b)
        return int(np.argmax(contexts @ theta))

    def update(self, arm, context, reward):
        self.seen.append(arm)
        self.G += np.outer(context, context)
        self.b += reward * context
'''


def _project(tmp_path: Path, study: str, module: str = GREEDY) -> Path:
    """A user's project: a study file, a bandit module in code/ (a fresh module name per
    test: Python imports a module once per process), a small contextual CSV."""
    name = "bandits_" + re.sub(r"\W", "_", tmp_path.name)
    study = study.replace("mybandits:", f"{name}:")
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / f"{name}.py").write_text(textwrap.dedent(module))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    rewards = x @ rng.normal(size=(3, 4)) + 0.1 * rng.normal(size=(200, 4))
    cols = ["f0", "f1", "f2", "reward_a", "reward_b", "reward_c", "reward_d"]
    np.savetxt(tmp_path / "logged.csv", np.column_stack([x, rewards]), delimiter=",",
               header=",".join(cols), comments="", fmt="%.5f")
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(study))
    return path


STUDY = """
name: own
method:
  name: cdt
  environments:
    - {kind: data, file: logged.csv, horizon: 200}
  bandits:
    - linucb
    - name: greedy
      class: mybandits:Greedy
      path: code
      args: {scale: 2.0}
      hyperparameters:
        eps: {low: 0.001, high: 0.5}
        lam: {low: 0.1, high: 10}
  tuners: [cdt, oracle]
  oracle_grid: {alpha: [0.1, 1], eps: [0.01, 0.1]}
  seeds: 2
  chunks: 20
"""


def _load(path: Path):
    with refs.reading(path):
        return load_study(path)


# ---------------------------------------------------------------------------- refs


def test_references_resolve_from_the_study_files_directory(tmp_path, monkeypatch) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "tool_for_refs_test.py").write_text("VALUE = 41\n")
    (tmp_path / "data.csv").write_text("a\n1\n")
    study = str(tmp_path / "study.yaml")
    monkeypatch.chdir("/")
    assert refs.resolve("tool_for_refs_test:VALUE", study, "pkg") == 41
    assert refs.locate("data.csv", study) == tmp_path / "data.csv"
    with refs.reading(study):
        assert refs.study_file_of() == study
    assert refs.study_file_of({"study_file": "x.yaml"}) == "x.yaml"
    with pytest.raises(ValueError, match=r"file 'nope.csv' not found .*looked in "
                       + str(tmp_path)):
        refs.locate("nope.csv", study)
    with pytest.raises(ValueError, match="not a reference of the form 'package.module:name'"):
        refs.resolve("no_colon", study)
    with pytest.raises(ValueError, match="cannot import module 'no_such_mod_xyz'"):
        refs.resolve("no_such_mod_xyz:A", study)
    with pytest.raises(ValueError, match="has no 'MISSING'"):
        refs.resolve("tool_for_refs_test:MISSING", study, "pkg")
    (tmp_path / "pkg" / "raises_on_import_xyz.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ValueError, match="raised RuntimeError: boom"):
        refs.resolve("raises_on_import_xyz:A", study, "pkg")


# ---------------------------------------------------------------------------- data files


def test_contextual_data_from_csv_npz_and_npy(tmp_path) -> None:
    rng = np.random.default_rng(1)
    x, r, m = rng.normal(size=(30, 2)), rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    np.savez(tmp_path / "d.npz", contexts=x, rewards=r, means=m)
    np.save(tmp_path / "d.npy", np.column_stack([x, r]))
    header = "x0,x1,reward_0,reward_1,reward_2,mean_0,mean_1,mean_2"
    np.savetxt(tmp_path / "d.csv", np.column_stack([x, r, m]), delimiter=",", header=header,
               comments="", fmt="%.17g")
    for name in ("d.npz", "d.csv"):
        d = load_contextual(str(tmp_path / name))
        np.testing.assert_allclose(d.contexts, x)
        np.testing.assert_allclose(d.rewards, r)
        np.testing.assert_allclose(d.means, m)
    d = load_contextual(str(tmp_path / "d.npy"), arms=3)
    np.testing.assert_allclose(d.rewards, r) and np.testing.assert_allclose(d.contexts, x)
    assert d.means is None
    with pytest.raises(ValueError, match="needs 'arms: K'"):
        load_contextual(str(tmp_path / "d.npy"))


@pytest.mark.parametrize("content, message", [
    ("x,reward_a\n1,2\n", "at least 2"),
    ("x,reward_a,reward_b\n1,2,\n", "NaN or infinite"),
    ("x,reward_a,reward_b\nred,2,3\n", "'x' not numeric"),
    ("x,reward_a,reward_b,mean_a\n1,2,3,4\n", "1 'mean_' columns for 2"),
    ("reward_a,reward_b\n1,2\n", "no feature columns"),
])
def test_bad_contextual_csv_says_what_is_wrong(tmp_path, content: str, message: str) -> None:
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(ValueError, match=message):
        load_contextual(str(tmp_path / "bad.csv"))


def test_classification_file_with_named_classes(tmp_path) -> None:
    (tmp_path / "c.csv").write_text("a,b,kind\n1,2,cat\n3,4,dog\n5,6,cat\n")
    X, y = load_classification(str(tmp_path / "c.csv"), "kind")
    assert X.shape == (3, 2) and y.tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="no label column 'label'"):
        load_classification(str(tmp_path / "c.csv"))
    np.savez(tmp_path / "c.npz", X=X, y=np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="at least 2 classes"):
        load_classification(str(tmp_path / "c.npz"))


def test_data_bandit_encodes_shared_contexts_and_takes_the_regret_on_the_means(tmp_path) -> None:
    x = np.array([[3.0, 4.0], [0.0, 1.0]])
    rewards = np.array([[1.0, 0.0], [0.0, 1.0]])
    means = np.array([[0.7, 0.2], [0.1, 0.9]])
    np.savez(tmp_path / "d.npz", contexts=x, rewards=rewards, means=means)
    env = DataBandit(np.random.default_rng(0), str(tmp_path / "d.npz"), horizon=2, order="file")
    assert (env.K, env.d, env.T) == (2, 4, 2)
    (block,) = env.blocks(np.random.default_rng(0))
    # arm k sees the row in block k, the largest context scaled to norm 1
    np.testing.assert_allclose(block.contexts[0], [[0.6, 0.8, 0, 0], [0, 0, 0.6, 0.8]])
    np.testing.assert_allclose(block.means, means)
    np.testing.assert_allclose(block.rewards, rewards)
    with pytest.raises(ValueError, match="longer than the file"):
        DataBandit(np.random.default_rng(0), str(tmp_path / "d.npz"), horizon=3, order="file")


# ---------------------------------------------------------------------------- the protocol


def test_a_user_bandit_plays_exactly_as_the_builtin_it_reimplements() -> None:
    """The example's RidgeUCB is LinUCB with (alpha, lam): every tuner, the 2-D zooming
    included, gives the built-in linucb_reg's regret to the last round."""
    env = {"kind": "linear", "arms": 8, "dim": 4, "horizon": 400}
    for tuner, fixed in (("fixed", [0.3, 0.5]), ("cdt", None), ("theoretical", None),
                         ("op", None)):
        ours = run(env, RIDGE, tuner, 3, fixed=fixed,
                   zooming={"ranges": SPACE}, candidates={"alpha": [0.1, 1], "lam": [1, 3]})
        builtin = run(env, "linucb_reg", tuner, 3, fixed=fixed,
                      zooming={"ranges": SPACE}, candidates={"alpha": [0.1, 1], "lam": [1, 3]})
        np.testing.assert_allclose(ours.regret, builtin.regret, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ours.hyper, builtin.hyper)
    assert ours.names == ("alpha", "lam")


def test_cdt_searches_both_hyperparameters_of_a_user_bandit() -> None:
    env = {"kind": "linear", "arms": 8, "dim": 4, "horizon": 1500}
    res = run(env, RIDGE, "cdt", 0)
    played = res.hyper[30:]
    assert played.shape[1] == 2 and not np.isnan(played).any()
    for j, (low, high) in enumerate(((0.01, 3.0), (0.01, 10.0))):
        assert played[:, j].min() >= low - 1e-12 and played[:, j].max() <= high + 1e-12
        assert played[:, j].max() / played[:, j].min() > 10  # it moves across the box
    assert res.info["active_points_end"] > 3


# ---------------------------------------------------------------------------- the study file


def test_a_user_study_resolves_from_its_directory_and_runs(tmp_path, monkeypatch) -> None:
    path = _project(tmp_path, STUDY)
    monkeypatch.chdir("/")  # references follow the study file, not the current directory
    study = _load(path).study
    s = study.method.settings
    greedy = s.bandits[1]
    assert greedy.path == str(tmp_path / "code") and greedy.args == {"scale": 2.0}
    assert s.environments[0].file == str(tmp_path / "logged.csv")
    assert s.environments[0].rounds == 200
    configs = trial_configs(s)
    # linucb: cdt + 2 alphas; greedy: cdt + 2 eps x 5 lam (spread over its range) -- per seed
    assert len(configs) == 2 * (1 + 2 + 1 + 2 * 5)
    fixed = {c["fixed"] for c in configs if c["bandit"] == "greedy" and c["tuner"] == "fixed"}
    assert "eps=0.01,lam=0.1" in fixed and "eps=0.1,lam=10" in fixed and len(fixed) == 10
    user = next(c for c in configs if c["bandit"] == "greedy" and c["tuner"] == "cdt")
    assert json.loads(user["bandit_spec"])["path"] == str(tmp_path / "code")
    assert "bandit_spec" not in next(c for c in configs if c["bandit"] == "linucb")
    chunks = list(cdt_workload(json.loads(json.dumps(user)), Context(max_epochs=20)))
    assert len(chunks) == 20 and {"eps", "lam"} <= set(chunks[-1])
    assert math.isfinite(chunks[-1]["cum_regret"]) and chunks[-1]["round"] == 200
    run_ = study.method.start(study)
    assert run_.total == len(configs)
    plan = study.method.describe(study)  # what `searchlab validate` prints
    assert any(line.startswith("bandit     greedy: ") and "eps [0.001, 0.5] log, lam [0.1, 10] "
               "log; oracle: 10 fixed values" in line for line in plan), plan
    assert f"env        logged: data, 200 rounds, {tmp_path / 'logged.csv'}" in plan


def _error(tmp_path: Path, study: str, module: str = GREEDY) -> SpecError:
    path = _project(tmp_path, study, module)
    from searchlab.preflight import preflight_study

    with pytest.raises(SpecError) as e, refs.reading(path):
        preflight_study(load_study(path))  # as `searchlab validate` does: parse, then preflight
    return e.value


def _line(study: str, text: str) -> int:
    return next(i for i, line in enumerate(textwrap.dedent(study).splitlines(), 1) if text in line)


@pytest.mark.parametrize("change, module, where, message", [
    ("class: mybandits:Greedy", "", "class: mybandits:Nope", "module 'bandits_.*' .*has no 'Nope'"),
    ("class: mybandits:Greedy", "", "class: nowhere:Greedy", "cannot import module 'nowhere'"),
    ("path: code", "", "path: elsewhere", "directory 'elsewhere' not found"),
    ("file: logged.csv", "", "file: missing.csv", "file 'missing.csv' not found"),
    ("args: {scale: 2.0}", "", "args: {scale: 2.0, color: red}", "__init__.*color"),
    ("", "    def update(self, arm, context, reward):", "class: mybandits:Greedy",
     "has no method update"),
    ("", "        return int(np.argmax(contexts @ theta))", "name: greedy",
     "select returned 7, not an arm index in \\[0, 4\\)"),
    ("", "        self.b += reward * context", "name: greedy",
     "update raised NameError: name 'oops' is not defined"),
])
def test_a_broken_user_bandit_or_file_fails_validation_at_its_line(
        tmp_path, change: str, module: str, where: str, message: str) -> None:
    study, code = STUDY, GREEDY
    if change:
        study = study.replace(change, where)
    elif "update(self" in module:
        code = code.replace(module, "    def update_(self, arm, context, reward):")
    elif "argmax" in module:
        code = code.replace(module, "        return 7")
    else:
        code = code.replace(module, "        self.b += reward * oops")
    err = _error(tmp_path, study, code)
    assert err.file.endswith("study.yaml") and err.line == _line(study, where), str(err)
    assert re.search(message, str(err)), str(err)


@pytest.mark.parametrize("bad, message", [
    ("zooming: {confidence: .inf}", "finite number"),
    ("zooming: {confidence: .nan}", "finite number"),
    ("zooming: {confidence: 0}", "greater than 0"),
    ("zooming: {detect_threshold: -1}", "greater than 0"),
    ("zooming: {restart_period: 0}", "greater than or equal to 1"),
    ("zooming: {ranges: {alpha: {low: 0.1, high: .inf}}}", "finite number"),
    ("oracle_grid: {alpha: [.nan, 1]}", "finite number"),
    ("oracle_grid: {alpha: []}", "at least 1 item"),
    ("candidates: {alpha: [1, -.inf]}", "finite number"),
    ("regularization: .inf", "finite number"),
    ("seeds: 0", "greater than or equal to 1"),
    ("chunks: -3", "greater than or equal to 1"),
    ("environments: [{kind: linear, noise: .nan}]", "finite number"),
    ("environments: [{kind: linear, arms: 0}]", "greater than or equal to 2"),
    ("environments: [{kind: nonstationary, change_points: [5], phase_noise: [1, -1], "
     "horizon: 20}]", "greater than or equal to 0"),
])
def test_hostile_numbers_are_refused_at_validate(bad: str, message: str) -> None:
    from searchlab.spec.parse import parse_text

    text = f"""
    name: hostile
    method:
      name: cdt
      bandits: [linucb]
      {bad}
    """
    with pytest.raises(SpecError, match=message) as e:
        parse_text(textwrap.dedent(text))
    assert e.value.line == 6  # the line of the key in the study text below


def test_theoretical_needs_the_bandits_own_rate_and_names_stay_distinct(tmp_path) -> None:
    err = _error(tmp_path, STUDY.replace("tuners: [cdt, oracle]", "tuners: [cdt, theoretical]"))
    assert "tuner 'theoretical' needs bandit 'greedy'" in str(err)
    err = _error(tmp_path, STUDY.replace("name: greedy", "name: linucb"))
    assert "'linucb' is a built-in bandit" in str(err)
    assert err.line == _line(STUDY, "name: greedy") and "bandits[1].name" in str(err)


# ---------------------------------------------------------------------------- the summary


def _result(tuner: str, seed: int, regret: float, fixed: str = "-", status: str = "completed",
            env: str = "logged", bandit: str = "greedy"):
    from searchlab.methods.base import TrialRequest, TrialResult

    config = {"environment": env, "bandit": bandit, "tuner": tuner, "fixed": fixed, "seed": seed}
    return TrialResult(f"{tuner}{fixed}{seed}", TrialRequest(config, 10), status,
                       {"cum_regret": regret} if status == "completed" else {})


def test_the_summary_is_the_regret_table_over_seeds_with_the_best_fixed_value() -> None:
    from scipy import stats

    from searchlab.methods.cdt.analysis import summarize

    cdt, theory = [100.0, 110.0, 130.0], [150.0, 150.0, 180.0]
    good, bad = [90.0, 100.0, 110.0], [200.0, 210.0, 220.0]
    results = [_result("cdt", s, v) for s, v in enumerate(cdt)]
    results += [_result("theoretical", s, v) for s, v in enumerate(theory)]
    results += [_result("fixed", s, v, "eps=0.1,lam=1") for s, v in enumerate(good)]
    results += [_result("fixed", s, v, "eps=0.5,lam=1") for s, v in enumerate(bad)]
    results += [_result("cdt", 3, 0.0, status="failed")]  # a failed run counts for nothing
    a = summarize(results)
    rows = {r["tuner"]: r for r in a.tables["final_regret"]}
    assert rows["cdt"]["seeds"] == 3 and rows["cdt"]["final_regret"] == pytest.approx(340 / 3)
    half = stats.t.ppf(0.975, 2) * np.std(cdt, ddof=1) / math.sqrt(3)
    assert rows["cdt"]["ci95"] == pytest.approx(half)
    assert rows["cdt"]["vs_best_fixed"] == pytest.approx((340 / 3) / 100 - 1)
    assert rows["theoretical"]["cdt_minus"] == pytest.approx(np.mean(np.subtract(cdt, theory)))
    assert rows["fixed eps=0.1,lam=1"]["best_fixed"] and rows["fixed eps=0.1,lam=1"]["kind"] == \
        "fixed"
    assert a.tables["best_fixed"] == [{"environment": "logged", "bandit": "greedy",
                                       "fixed": "eps=0.1,lam=1", "final_regret": 100.0,
                                       "ci95": pytest.approx(stats.t.ppf(0.975, 2) * 10 /
                                                             math.sqrt(3)),
                                       "seeds": 3, "grid_size": 2}]
    assert a.metrics == {"vs_best_fixed.logged.greedy.cdt": pytest.approx(340 / 300 - 1),
                         "vs_best_fixed.logged.greedy.theoretical": pytest.approx(0.6)}
    lines = a.text.splitlines()
    table = lines[lines.index("logged / greedy (oracle: 2 fixed values)") + 1:]
    assert [line.split()[0] for line in table] == ["tuner", "cdt", "theoretical", "best", "worst"]
    assert "113.3 ± " in table[1] and "+13.3 %" in table[1]
    assert table[3].split()[:3] == ["best", "fixed:", "eps=0.1,lam=1"]
    assert a.lead_table == "final_regret"
    assert a.headline == "logged/greedy: cdt +13.3 % over best fixed (eps=0.1,lam=1)"
    # without the default cdt, the paired differences are taken against the CDT variant that ran
    other = summarize([_result("cdt_no_restart", s, v) for s, v in enumerate(cdt)]
                      + [_result("theoretical", s, v) for s, v in enumerate(theory)])
    assert "cdt_no_restart − tuner" in other.text
    assert {r["tuner"]: r.get("paired_against") for r in other.tables["final_regret"]} == {
        "cdt_no_restart": None, "theoretical": "cdt_no_restart"}
