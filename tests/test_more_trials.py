"""More trials later, without a cluster: what an earlier run of a study means for this one
(searchlab.continuation), and a method run that goes on with a larger budget (the Tune adapter
driven by hand, the searchers being Ray Tune's own classes around Optuna and Nevergrad).

A continued searcher must have modelled the earlier trials before it proposes new ones: its
proposals are checked, one by one, against the library itself (plain Optuna or Nevergrad) told
the same earlier trials and results in the same order, and against the library told nothing.
The same on a real cluster and MLflow store: test_more_trials_e2e.py."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from searchlab import continuation
from searchlab.errors import SearchlabError
from searchlab.execution.driver import JOURNAL, MethodSearcher
from searchlab.spec.parse import parse_text

SPHERE = """name: more
workload: sphere
metric: {{name: loss, mode: min}}
space:
  x1: {{uniform: [-2.0, 2.0]}}
  x2: {{uniform: [-2.0, 2.0]}}
search: {{algorithm: {algorithm}, sampler: {sampler}, seed: 3}}
budget: {{trials: {trials}, concurrency: 2}}
"""


def _loaded(trials: int = 6, algorithm: str = "optuna", sampler: str = "tpe", text: str = SPHERE):
    return parse_text(text.format(trials=trials, algorithm=algorithm, sampler=sampler), "s.yaml")


def _plan(loaded, earlier, more=None, status="finished", budget=None):
    state = {"spec_hash": earlier.hash, "status": status,
             "study": continuation.file_data(earlier.document.data),
             "budget": budget or continuation.budget_keys(earlier.study)}
    return continuation.plan(loaded.study, loaded.document.data, loaded.hash, state, more=more,
                             file="s.yaml", study_dir=Path("/tmp/x"))


# ---------------------------------------------------------------------------- the plan
def test_a_larger_budget_continues_and_the_same_file_does_not_grow():
    six, twelve = _loaded(6), _loaded(12)
    go_on = _plan(twelve, six)
    assert go_on.more and go_on.describe() == "budget.trials: 6 -> 12"
    assert go_on.study.budget.trials == 12
    same = _plan(six, six)
    assert not same.more and same.study.budget.trials == 6
    assert "raise budget.trials or run with --more N" in continuation.finished_advice(six.study)


def test_more_adds_to_the_budget_the_study_ran_to_which_never_shrinks():
    six = _loaded(6)
    go_on = _plan(six, six, more=4)
    assert go_on.describe() == "budget.trials: 6 -> 10" and go_on.study.budget.trials == 10
    # the unchanged file after --more 4: the study stays at 10 (resumes there if interrupted)
    after = _plan(six, six, budget={"budget.trials": 10, "budget.time_limit": None})
    assert not after.more and after.study.budget.trials == 10
    again = _plan(six, six, more=5, budget={"budget.trials": 10, "budget.time_limit": None})
    assert again.describe() == "budget.trials: 10 -> 15"


def test_any_other_change_names_the_keys_and_the_two_ways_on():
    six = _loaded(6)
    changed = parse_text(six.document.text.replace("x2: {uniform: [-2.0, 2.0]}",
                                                   "x2: {uniform: [-2.0, 3.0]}")
                         .replace("trials: 6", "trials: 12"), "s.yaml")
    with pytest.raises(SearchlabError) as e:
        _plan(changed, six)
    msg = str(e.value)
    assert "space.x2.uniform[1]: 2.0 -> 3.0" in msg
    assert "budget.trials" not in msg.split("Only a larger budget")[0]  # the budget may grow
    assert "--restart" in msg and "new name (name: more-2)" in msg and "\n" not in msg
    # a smaller budget, a time limit where there was none, a new key: changes like any other
    smaller = _loaded(4)
    with pytest.raises(SearchlabError, match=r"budget\.trials: 6 -> 4"):
        _plan(smaller, six)
    limited = parse_text(six.document.text.replace("concurrency: 2", "concurrency: 2, "
                                                   "time_limit: 1h"), "s.yaml")
    with pytest.raises(SearchlabError, match=r"budget\.time_limit: \(not set\) -> 1h"):
        _plan(limited, six)
    # `search: optuna` and `search: {algorithm: optuna}` are the same file
    short = parse_text(six.document.text.replace(
        "search: {algorithm: optuna, sampler: tpe, seed: 3}", "search: optuna"), "s.yaml")
    longer = parse_text(short.document.text.replace("search: optuna",
                                                    "search: {algorithm: optuna}"), "s.yaml")
    assert not _plan(longer, short).more


def test_a_longer_time_limit_continues():
    a = parse_text(_loaded(6).document.text.replace("concurrency: 2", "concurrency: 2, "
                                                     "time_limit: 90s"), "s.yaml")
    b = parse_text(a.document.text.replace("90s", "3m"), "s.yaml")
    go_on = _plan(b, a)
    assert go_on.describe() == "budget.time_limit: 90.0 -> 180.0"
    assert go_on.budget["budget.time_limit"] == 180


def test_more_where_it_cannot_apply_says_why():
    with pytest.raises(SearchlabError, match="there is none in"):
        continuation.plan(_loaded().study, {}, "h", None, more=3, file="s.yaml",
                          study_dir=Path("/tmp/x"))
    grid = parse_text("name: g\nworkload: sphere\nmetric: {name: loss, mode: min}\n"
                      "space: {x1: {grid: [0, 1, 2]}}\nsearch: grid\n", "g.yaml")
    with pytest.raises(SearchlabError, match="whole passes over its 3 points"):
        _plan(grid, grid, more=4)
    passes = _plan(grid, grid, more=6)
    assert passes.describe() == "search.repeats: 1 -> 3"
    assert passes.study.search.settings.repeats == 3
    cdt = parse_text("name: c\nmethod: {name: cdt, environments: [{kind: linear, arms: 5, "
                     "dim: 3, horizon: 20}], bandits: [linucb], tuners: [op], seeds: 2}\n",
                     "c.yaml")
    with pytest.raises(SearchlabError, match=r"raise method\.seeds in the study file"):
        _plan(cdt, cdt, more=2)
    pbt = ("name: p\nworkload: sphere\nmetric: {name: loss, mode: min}\n"
           "space: {x1: {uniform: [-2.0, 2.0]}}\nstopping: {scheduler: pbt}\n"
           "budget: {trials: %d, max_epochs: 4}\n")
    with pytest.raises(SearchlabError, match="population fixed"):
        _plan(parse_text(pbt % 8, "p.yaml"), parse_text(pbt % 4, "p.yaml"))


def test_a_method_s_own_budget_setting_continues_it():
    text = ("name: c\nmethod: {{name: cdt, environments: [{{kind: linear, arms: 5, dim: 3, "
            "horizon: 20}}], bandits: [linucb], tuners: [op, theoretical], seeds: {seeds}}}\n")
    two, three = (parse_text(text.format(seeds=n), "c.yaml") for n in (2, 3))
    go_on = _plan(three, two)
    assert go_on.describe() == "method.seeds: 2 -> 3"
    # the longer list keeps the trials asked before first, in their order; the new seed follows
    before = two.study.method.start(two.study).requests
    run = three.study.method.start(three.study)
    shuffled = [before[2], before[0], before[3], before[1]]
    run.resume(shuffled)
    assert run.requests[:4] == shuffled and len(run.requests) == 6
    assert {r.config["seed"] for r in run.requests[4:]} == {2}
    tuners = parse_text(text.format(seeds=2).replace("op, theoretical", "op"), "c.yaml")
    with pytest.raises(SearchlabError, match=r"method\.tuners\[1\]|method\.tuners"):
        _plan(tuners, two)


# ---------------------------------------------------------------------------- the searchers
def _loss(config: dict[str, Any]) -> float:
    return (config["x1"] - 0.7) ** 2 + (config["x2"] + 0.4) ** 2


def _drive(loaded, journal_dir: Path, prefix: str) -> MethodSearcher:
    """Tune's calls by hand, two trials at a time as Tune would with concurrency 2."""
    journal_dir.mkdir(exist_ok=True)
    s = loaded.study
    searcher = MethodSearcher(functools.partial(s.method.start, s), journal_dir, "loss", "min", 1)
    running: list[tuple[str, float]] = []
    n = 0
    while True:
        while len(running) < 2:
            config = searcher.suggest(f"{prefix}{n:03d}")
            if config is None or config == MethodSearcher.FINISHED:
                break
            running.append((f"{prefix}{n:03d}", _loss(config)))
            n += 1
        if not running:
            return searcher
        tid, loss = running.pop(0)
        searcher.on_trial_result(tid, {"loss": loss, "training_iteration": 1})
        searcher.on_trial_complete(tid, {"loss": loss, "training_iteration": 1})


def _journal(study_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (study_dir / JOURNAL).read_text().splitlines()]


def optuna_proposals(entries, sampler, n_before: int, told: bool = True) -> dict[str, dict]:
    """Plain Optuna through the journal's asks and tells: the first ``n_before`` asks enqueued
    with the configs they ran (``told``: their results told), the rest proposed by Optuna."""
    import optuna

    study = optuna.create_study(direction="minimize", sampler=sampler)
    trials, proposed, asks = {}, {}, 0
    for e in entries:
        if e["kind"] == "ask":
            config = e["request"]["config"]
            asks += 1
            if asks <= n_before:
                if not told:
                    continue
                study.enqueue_trial({k: config[k] for k in ("x1", "x2")})
            t = study.ask()
            trials[e["trial_id"]] = t
            proposed[e["trial_id"]] = {k: t.suggest_float(k, -2.0, 2.0) for k in ("x1", "x2")}
        elif e["kind"] == "tell" and e["result"]["trial_id"] in trials:
            study.tell(trials[e["result"]["trial_id"]], e["result"]["metrics"]["loss"])
    return proposed


@pytest.mark.parametrize("sampler", ["tpe", "gp", "cmaes"])
def test_optuna_continues_having_modelled_the_earlier_trials(sampler, tmp_path):
    from searchlab.searchers.base import continued_seed
    from searchlab.searchers.optuna import sampler as make_sampler
    from searchlab.searchers.optuna import startup_trials

    first = _drive(_loaded(6, sampler=sampler), tmp_path, "a")
    earlier = {r.trial_id: r.request.config for r in first.all_results()}
    more = _drive(_loaded(12, sampler=sampler), tmp_path, "b")
    results = more.all_results()
    assert len(results) == 12 and all(r.status == "completed" for r in results)
    # the earlier trials were replayed with the configs they ran, not proposed again
    assert {r.trial_id: r.request.config for r in results[:6]} == earlier
    # Optuna's own study holds them: the first six of its twelve complete trials are the
    # earlier configs with their results
    import optuna

    ot = more.run.suggester.searcher._ot_study
    done = ot.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == 12
    assert [t.params for t in done[:6]] == [{k: c[k] for k in ("x1", "x2")}
                                            for c in earlier.values()]
    assert [t.value for t in done[:6]] == [r.metrics["loss"] for r in results[:6]]
    entries = _journal(tmp_path)
    new = [e["trial_id"] for e in entries if e["kind"] == "ask"][6:]
    assert len(new) == 6 and all(t.startswith("b") for t in new)
    ran = {t: {k: more.requests[t].config[k] for k in ("x1", "x2")} for t in new}

    def plain(told: bool) -> dict[str, dict]:
        seed = continued_seed(3, 6)
        return optuna_proposals(entries, make_sampler(sampler, seed, startup_trials(None, 12)),
                                6, told)

    # every new trial is exactly what Optuna proposes once told the six earlier results
    assert {t: plain(True)[t] for t in new} == ran
    # and not what it proposes knowing nothing (a replay of its random start-up)
    assert plain(False)[new[0]] != ran[new[0]]


@pytest.mark.parametrize("sampler, learns", [("oneplusone", True), ("pso", True),
                                             ("cma", False), ("de", False)])
def test_nevergrad_continues_having_been_told_the_earlier_trials(sampler, learns, tmp_path):
    """Nevergrad hears of the earlier trials as Ray's points_to_evaluate (its ``suggest``),
    asked and told in order. OnePlusOne and PSO move from them; Nevergrad's CMA and DE start
    their own population as on a fresh start (pycma takes no solution it did not ask for):
    there the earlier trials are in the optimizer's archive and recommendation only."""
    import nevergrad as ng

    from searchlab.searchers.base import continued_seed
    from searchlab.searchers.nevergrad import to_nevergrad

    _drive(_loaded(6, "nevergrad", sampler), tmp_path, "a")
    loaded = _loaded(12, "nevergrad", sampler)
    more = _drive(loaded, tmp_path, "b")
    assert len(more.all_results()) == 12
    space = loaded.study.space
    entries = _journal(tmp_path)
    asked = [e for e in entries if e["kind"] == "ask"]

    def plain(told: bool) -> dict[str, dict]:
        parametrization = to_nevergrad(space)
        parametrization.random_state.seed(continued_seed(3, 6))
        optimizer = {"oneplusone": ng.optimizers.OnePlusOne, "pso": ng.optimizers.PSO,
                     "cma": ng.optimizers.CMA, "de": ng.optimizers.DE}[sampler]
        opt = optimizer(parametrization, num_workers=2, budget=12)
        for e in reversed(asked[:6] if told else []):  # as Ray's points_to_evaluate
            opt.suggest(space.nest(e["request"]["config"]))
        candidates, proposed = {}, {}
        for e in entries:
            if e["kind"] == "ask":
                if not told and e in asked[:6]:
                    continue
                c = candidates[e["trial_id"]] = opt.ask()
                proposed[e["trial_id"]] = space.flatten(c.value)
            elif e["kind"] == "tell" and e["result"]["trial_id"] in candidates:
                opt.tell(candidates[e["result"]["trial_id"]], e["result"]["metrics"]["loss"])
        return proposed

    new = [e["trial_id"] for e in asked[6:]]
    ran = {t: {k: more.requests[t].config[k] for k in ("x1", "x2")} for t in new}
    assert {t: plain(True)[t] for t in new} == ran  # exactly Nevergrad told the earlier trials
    assert (plain(False)[new[0]] != ran[new[0]]) == learns


@pytest.mark.parametrize("algorithm", ["random", "grid"])
def test_random_and_grid_go_on_where_they_stopped(algorithm, tmp_path):
    text = ("name: g\nworkload: sphere\nmetric: {{name: loss, mode: min}}\n"
            "space: {{x1: {{uniform: [-2.0, 2.0]}}, x2: {{grid: [0.0, 1.0]}}}}\n"
            "search: {{algorithm: random, seed: 3}}\nbudget: {{trials: {trials}}}\n")
    if algorithm == "grid":
        text = ("name: g\nworkload: sphere\nmetric: {{name: loss, mode: min}}\n"
                "space: {{x1: {{grid: [-1.0, 1.0]}}, x2: {{grid: [0.0, 1.0]}}}}\n"
                "search: {{algorithm: grid, seed: 3, repeats: {trials}}}\n")
    small, large = (parse_text(text.format(trials=n), "g.yaml") for n in (2, 4))
    _drive(small, tmp_path / "a", "a")
    more = _drive(large, tmp_path / "a", "b")
    fresh = _drive(large, tmp_path / "fresh", "c")
    # the stream goes on where it stopped: grid runs every point once more per pass, random
    # samples on; the same configs as a study that had the larger budget from the start
    assert len(more.all_results()) == (16 if algorithm == "grid" else 4)
    assert [r.request.config for r in more.all_results()] == \
        [r.request.config for r in fresh.all_results()]


# ---------------------------------------------------------------------------- fixed lists
def _drive_method(loaded, journal_dir: Path, prefix: str) -> tuple[MethodSearcher, list[str]]:
    """The study's own workloads through the Tune adapter, one trial at a time, in process."""
    from searchlab.workloads import resolve
    from searchlab.workloads.api import Context, iterate

    journal_dir.mkdir(exist_ok=True)
    s = loaded.study
    objective = s.method.objective(s)
    searcher = MethodSearcher(functools.partial(s.method.start, s), journal_dir,
                              objective.metric, objective.mode, 1)
    ran: list[str] = []
    while True:
        tid = f"{prefix}{len(ran):04d}"
        config = searcher.suggest(tid)
        if config is None or config == MethodSearcher.FINISHED:
            return searcher, ran
        request = searcher.requests[tid]
        fn = resolve(request.workload, None)
        last: dict[str, Any] = {}
        ctx = Context(max_epochs=request.length, seed=len(ran), trial_id=tid)
        for epoch, metrics in enumerate(iterate(fn(dict(request.config), ctx, **request.args)), 1):
            last = {**metrics, "training_iteration": epoch}
            searcher.on_trial_result(tid, last)
            if epoch >= request.length:
                break
        searcher.on_trial_complete(tid, last)
        ran.append(tid)


def test_lr_free_goes_on_with_more_repeats_calibrated_as_before(tmp_path):
    """More ``repeats``: only the new seeds of the scored runs run; calibration and the
    learning-rate sweep are not run again, and the analysis covers every trial."""
    text = ("name: lrf\nmethod:\n  name: lr_free\n  optimizers: [prodigy, nadamw]\n"
            "  calibration_workloads: [{w}]\n  workloads: [{w}]\n  calibration_trials: 2\n"
            "  repeats: {{repeats}}\n  sensitivity_workload: {w}\n"
            "  sensitivity_lrs: [0.0001, 0.01]\n").format(
                w='"searchlab.methods.lr_free.synthetic:synthetic"')
    one, two = (parse_text(text.format(repeats=n), "l.yaml") for n in (1, 2))
    assert _plan(two, one).describe() == "method.repeats: 1 -> 2"
    first, ran_first = _drive_method(one, tmp_path, "a")
    more, ran_more = _drive_method(two, tmp_path, "b")
    total = two.study.method.start(two.study).total
    assert len(more.all_results()) == total == len(ran_first) + len(ran_more)
    new = [more.requests[t] for t in ran_more]
    # the new trials are exactly repeat 1 of the scored runs: 2 optimizers x 2 settings
    assert len(new) == 4 and {r.tags["lr_free.phase"] for r in new} == {"scoring"}
    assert {r.config["seed"] for r in new} == {1}
    configs = [json.dumps(r.request.config, sort_keys=True) for r in more.all_results()]
    assert len(set(configs)) == len(configs)  # nothing asked twice
    analysis = more.run.summarize(more.all_results())
    assert analysis.metrics["compute.trials"] == total


def test_cdt_goes_on_with_more_seeds(tmp_path):
    text = ("name: c\nmethod: {{name: cdt, environments: [{{kind: linear, arms: 5, dim: 3, "
            "horizon: 40}}], bandits: [linucb], tuners: [op, theoretical], seeds: {seeds}, "
            "chunks: 2}}\n")
    two, three = (parse_text(text.format(seeds=n), "c.yaml") for n in (2, 3))
    _, ran_first = _drive_method(two, tmp_path, "a")
    more, ran_more = _drive_method(three, tmp_path, "b")
    assert len(ran_first) == 4 and len(ran_more) == 2
    assert {more.requests[t].config["seed"] for t in ran_more} == {2}
    rows = more.run.summarize(more.all_results()).tables["final_regret"]
    assert sum(row["seeds"] for row in rows) == 6


# ---------------------------------------------------------------------------- the time limit
def test_the_time_limit_counts_the_time_the_study_already_ran(tmp_path, monkeypatch):
    """Tune restores the stopper it saved, not the one it is given: the deadline reads the
    limit the study now runs to, and the time its earlier runs took, from the state file."""
    import pickle

    from searchlab import study_state
    from searchlab.execution import deadline

    clock = [100.0]
    monkeypatch.setattr(deadline.time, "monotonic", lambda: clock[0])
    study_state.write_state(tmp_path, {"budget": {"budget.time_limit": 60}, "elapsed_s": 50})
    saved = pickle.dumps(deadline.StudyDeadline(tmp_path))
    # the study is given a longer limit; Tune hands back the stopper it saved
    study_state.write_state(tmp_path, {"budget": {"budget.time_limit": 90}, "elapsed_s": 55})
    stopper = pickle.loads(saved)
    assert not stopper.stop_all()  # the clock starts at Tune's first check
    clock[0] += 34
    assert not stopper.stop_all()
    clock[0] += 1.5  # 55 s before and 35.5 s now: past 90
    assert stopper.stop_all()
    study_state.write_state(tmp_path, {"budget": {"budget.time_limit": None}})
    assert not pickle.loads(saved).stop_all()
