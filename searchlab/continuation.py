"""What an earlier run of a study means for this one: a new start, a resume, more trials, or a
refusal that names what changed in the study file.

A study's directory keeps the study file it last ran (as parsed, in its state file) and the
budget it ran to. When the file is the same, an interrupted study resumes and a finished one is
done. When only its budget grew -- ``budget.trials``, ``budget.time_limit``, grid search's
``search.repeats``, or a method's own budget settings (``MethodTraits.budget_settings``, such as
CDT's ``seeds``) -- or ``searchlab run FILE --more N`` asks for N more trials, the study goes on:
its finished trials are kept, its method hears of them before it proposes more
(``MethodRun.resume``), and the new trials join the same parent run. Any other change is refused
with the keys that changed and the two ways on: ``--restart`` or a new study name.

The budget a study ran to never shrinks by itself: after ``--more 10`` the unchanged file (and
its smaller ``budget.trials``) resumes the study at its larger budget.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from searchlab.errors import SearchlabError
from searchlab.spec.models import BudgetSpec, Study

TRIALS, TIME_LIMIT, REPEATS = "budget.trials", "budget.time_limit", "search.repeats"
#: the key naming the extension in each block written as a bare name (``search: optuna``)
_BINDINGS = {"method": "name", "search": "algorithm", "stopping": "scheduler"}
_SHOWN = 6  # changed keys named in one message


class _Missing:
    def __repr__(self) -> str:
        return "(not set)"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Change:
    """One key of the study file whose value changed (MISSING: not written)."""

    path: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.path}: {_show(self.old)} -> {_show(self.new)}"


@dataclass
class Plan:
    """How this run goes on from the study's earlier one."""

    study: Study  # the study to run: the file's, at the budget it runs to
    budget: dict[str, Any]  # the budget it runs to, by key (kept in the study's state)
    grown: list[Change] = field(default_factory=list)  # the budget keys that grew now
    earlier: bool = False  # there is an earlier run to go on from

    @property
    def more(self) -> bool:
        return bool(self.grown)

    def describe(self) -> str:
        return ", ".join(str(c) for c in self.grown)


def file_data(data: Any) -> Any:
    """The parsed study file as plain JSON data, its extension blocks written out in full
    (``search: optuna`` is ``search: {algorithm: optuna}``), as the state file keeps it."""
    plain = json.loads(json.dumps(data, default=str))
    if isinstance(plain, dict):
        for block, key in _BINDINGS.items():
            if isinstance(plain.get(block), str):
                plain[block] = {key: plain[block]}
    return plain


def changes(old: Any, new: Any, path: str = "") -> list[Change]:
    """Every key whose value differs between two parsed study files, as dotted paths
    (``space.lr.high``, ``space.x.uniform[1]``); lists of different lengths are compared
    whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for key in [*old, *(k for k in new if k not in old)]:
            out += changes(old.get(key, MISSING), new.get(key, MISSING),
                           f"{path}.{key}" if path else str(key))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [c for i, (a, b) in enumerate(zip(old, new, strict=True))
                for c in changes(a, b, f"{path}[{i}]")]
    if old is MISSING and new is MISSING:
        return []
    same = type(old) is type(new) or {type(old), type(new)} <= {int, float}
    return [] if same and old == new else [Change(path, old, new)]


def budget_keys(study: Study) -> dict[str, Any]:
    """The study's budget, by the key that sets it: the keys whose growth continues the study,
    with the values this file gives (defaults filled in)."""
    keys: dict[str, Any] = {TIME_LIMIT: study.budget.time_limit}
    if study.searched:
        if study.search.enumerates:
            keys[REPEATS] = getattr(study.search.settings, "repeats", 1)
        else:
            keys[TRIALS] = study.budget.trials
    else:
        for name in study.method.traits.budget_settings:
            keys[f"method.{name}"] = getattr(study.method.settings, name)
    return keys


def plan(study: Study, data: Any, file_hash: str, state: dict[str, Any] | None, *,
         more: int | None, file: str, study_dir: Path) -> Plan:
    """How this run goes on from ``state`` (the earlier run's; None: nothing to go on from).
    ``data``: the parsed study file, ``file_hash`` its hash. Raises SearchlabError for a study file
    that changed in more than its budget, a finished study given nothing more to do, and a
    ``--more`` that cannot apply; each in one line."""
    now = budget_keys(study)
    if state is None:
        if more:
            raise SearchlabError(f"--more adds trials to an earlier run of study '{study.name}', "
                                 f"and there is none in {study_dir}; run it without --more")
        return Plan(study, now)
    before = state.get("study")
    data = file_data(data)
    if before is None:  # written by a searchlab that kept no copy of the file
        if state.get("spec_hash") not in (None, file_hash):
            raise SearchlabError(
                f"{file}: the study file changed since study '{study.name}' ran in {study_dir} "
                "(that run kept no copy of it to compare); " + _ways_on(study))
        before = data
    found = changes(before, data)
    ran_to = {**budget_keys_of(before, study), **(state.get("budget") or {})}
    grown: list[Change] = []
    other = [c for c in found if c.path not in now]
    for c in found:
        if c.path in now and not _larger(c.path, c.new, c.old):
            other.append(c)  # a smaller budget is another study
    if other:
        listed = "; ".join(str(c) for c in other[:_SHOWN])
        if len(other) > _SHOWN:
            listed += f"; and {len(other) - _SHOWN} more"
        allowed = ", ".join(now)
        raise SearchlabError(
            f"{file}: the study file changed since study '{study.name}' ran in {study_dir}: "
            f"{listed}. Only a larger budget ({allowed}) continues a study; " + _ways_on(study))
    target = {k: _largest(k, now[k], ran_to.get(k, now[k])) for k in now}
    if more:
        _add(study, target, more)
    for key, value in target.items():
        if key in ran_to and _larger(key, value, ran_to[key]):
            grown.append(Change(key, ran_to[key], value))
    if grown and study.stopping.traits.refuses_searcher:
        raise SearchlabError(
            f"stopping '{study.stopping.name}' evolves a population fixed when study "
            f"'{study.name}' started, so more trials later would be another population; "
            f"{_ways_on(study)}")
    return Plan(with_budget(study, target), target, grown, earlier=True)


def budget_keys_of(data: Any, study: Study) -> dict[str, Any]:
    """The budget an earlier study file gave (as :func:`budget_keys` reads it from the study),
    for the keys of this study's budget; a key it did not write takes its default."""
    out: dict[str, Any] = {}
    data = data if isinstance(data, dict) else {}
    budget = data.get("budget") if isinstance(data.get("budget"), dict) else {}
    try:
        out[TIME_LIMIT] = BudgetSpec.model_validate(
            {"time_limit": budget.get("time_limit")}).time_limit
    except ValueError:
        pass
    if "trials" in budget:
        out[TRIALS] = budget["trials"]
    for key, value in budget_keys(study).items():
        block, _, name = key.partition(".")
        if block in ("method", "search"):
            written = data.get(block) if isinstance(data.get(block), dict) else {}
            out[key] = written.get(name, _default(study, block, name, value))
    return out


def _default(study: Study, block: str, name: str, fallback: Any) -> Any:
    model = (study.method if block == "method" else study.search).settings_model
    f = model.model_fields.get(name)
    return f.default if f is not None and f.default is not None else fallback


def with_budget(study: Study, budget: dict[str, Any]) -> Study:
    """``study`` at the budget given by key (:func:`budget_keys`)."""
    updates: dict[str, Any] = {}
    b = {k.partition(".")[2]: v for k, v in budget.items() if k.startswith("budget.")}
    if any(getattr(study.budget, k) != v for k, v in b.items()):
        updates["budget"] = study.budget.model_copy(update=b)
    for block in ("method", "search"):
        mine = {k.partition(".")[2]: v for k, v in budget.items() if k.startswith(block + ".")}
        binding = getattr(study, block)
        if any(getattr(binding.settings, k) != v for k, v in mine.items()):
            updates[block] = type(binding)(binding.settings.model_copy(update=mine))
    return study.model_copy(update=updates) if updates else study


def finished_advice(study: Study) -> str:
    """How to give a finished study more trials, in words."""
    keys = budget_keys(study)
    if study.stopping.traits.refuses_searcher:
        return "run it again with --restart"
    if TRIALS in keys:
        how = "raise budget.trials or run with --more N"
    elif REPEATS in keys:
        how = "raise search.repeats or run with --more N (whole passes over the grid)"
    else:
        grow = [k for k in keys if k != TIME_LIMIT]
        how = f"raise {' or '.join(grow)}" if grow else "raise budget.time_limit"
    return f"to add trials, {how} (the finished ones are kept); --restart runs it again"


def _add(study: Study, target: dict[str, Any], more: int) -> None:
    """``--more N`` on the budget the study runs to."""
    if TRIALS in target:
        target[TRIALS] = int(target[TRIALS]) + more
        return
    if REPEATS in target:
        size = study.space.grid_size() if study.space is not None else None
        if not size or more % size:
            raise SearchlabError(f"--more {more}: grid search runs whole passes over its "
                                 f"{size} points; give a multiple of {size}")
        target[REPEATS] = int(target[REPEATS]) + more // size
        return
    grow = [k for k in target if k != TIME_LIMIT]
    how = f"raise {' or '.join(grow)} in the study file" if grow else \
        "its trials are a list its settings fix"
    raise SearchlabError(f"--more adds sampled trials (budget.trials), and method "
                         f"'{study.method.name}' samples none here; to run more trials, {how}")


def _largest(key: str, a: Any, b: Any) -> Any:
    return a if _larger(key, a, b) else b


def _larger(key: str, new: Any, old: Any) -> bool:
    """Whether budget value ``new`` is more than ``old`` (no time limit is the most time)."""
    if key == TIME_LIMIT:
        try:
            new_s = BudgetSpec.model_validate({"time_limit": _value(new)}).time_limit
            old_s = BudgetSpec.model_validate({"time_limit": _value(old)}).time_limit
        except ValueError:
            return False
        return (math.inf if new_s is None else new_s) > (math.inf if old_s is None else old_s)
    new, old = _value(new), _value(old)
    if not isinstance(new, (int, float)) or isinstance(new, bool):
        return False
    return not isinstance(old, (int, float)) or isinstance(old, bool) or new > old


def _value(v: Any) -> Any:
    return None if v is MISSING else v


def _ways_on(study: Study) -> str:
    return (f"to run the changed file, start over with --restart (its earlier trials are "
            f"discarded) or give the study a new name (name: {study.name}-2)")


def _show(value: Any) -> str:
    if value is MISSING:
        return "(not set)"
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, default=str, separators=(", ", ": "))
    return text if len(text) <= 60 else text[:57] + "..."
