"""Study file -> validated :class:`Study`. The only place raw YAML data is looked at.

Every error is a :class:`SpecError` naming the file, the line and the key path, with the closest
valid key suggested for typos. Nothing is started here: no Ray, no MLflow, and no heavy package
is imported (a method's, searcher's or scheduler's class lives in a light module).

Each registry name is looked up once, here (:class:`searchlab.registry.Registry`), and bound to
its validated settings on the ``Study``. What a method needs of the study file and what it would
ignore is decided in one place, :func:`_method_keys`, from the method's declared traits.

Every error in the file is reported at once (up to :data:`MAX_ERRORS`, in the order of their
lines): each block's, every one pydantic finds in it, and those of the checks that span blocks
(:data:`CHECKS`, generators of errors), which run once every block is whole.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from searchlab import methods, searchers, stopping, workloads
from searchlab.errors import SpecError, SpecErrors, clip_quoted
from searchlab.registry import Binding, Registry, UnknownName
from searchlab.spec.loader import Document, Loc, load_file, load_text
from searchlab.spec.models import MetricSpec, Study, spec_hash
from searchlab.spec.points import PointError, complete_point
from searchlab.spec.space import SpaceError, parse_space

# keys of Study that users write (the rest are filled in from nested blocks)
_TOP_KEYS = ("name", "description", "workload", "metric", "space", "search", "stopping", "method",
             "budget", "resources", "tracking", "storage")


@dataclass(frozen=True)
class LoadedStudy:
    study: Study
    document: Document

    @property
    def hash(self) -> str:
        return spec_hash(self.document.data)

    @property
    def workload_path(self) -> str | None:
        """``workload.path`` as an absolute directory (see :func:`workload_dir`), or None."""
        w = self.study.workload
        if w is None or not w.path:
            return None
        found = workload_dir(w.path, self.document.file)
        return str(found) if found is not None else None


def workload_dir(path: str, study_file: str) -> Path | None:
    """Where ``workload.path`` points: an absolute path as is; a relative one from the study
    file's directory (from the current directory for a study given as text). A relative path
    that exists only from the current directory is taken from there (the layout of projects
    written before paths followed the study file). None when it is not a directory."""
    p = Path(os.path.expanduser(path))
    if p.is_absolute():
        return p if p.is_dir() else None
    candidates = [Path.cwd() / p]
    if not study_file.startswith("<"):
        candidates.insert(0, Path(study_file).resolve().parent / p)
    return next((c.resolve() for c in candidates if c.is_dir()), None)


def load_study(path: str | Path) -> LoadedStudy:
    return _parse(load_file(path))


def parse_text(text: str, file: str = "<study>") -> LoadedStudy:
    return _parse(load_text(text, file))


MAX_ERRORS = 20
"""The most errors reported for one study file (the rest are counted)."""


class _Errors:
    """The errors found in one study file, in the order of their lines, each key's once, up to
    :data:`MAX_ERRORS`: a file with several mistakes is refused with all of them at once."""

    def __init__(self) -> None:
        self.found: list[SpecError] = []
        self.more = 0
        self._seen: set[tuple[Any, ...]] = set()

    def add(self, error: SpecError) -> None:
        if isinstance(error, SpecErrors):
            for e in error.errors:
                self.add(e)
            self.more += error.more
            return
        # one error per key (a value that fails each member of a union fails once)
        key = (error.line, error.path) if error.path else (str(error),)
        if key in self._seen:
            return
        self._seen.add(key)
        if len(self.found) < MAX_ERRORS:
            self.found.append(error)
        else:
            self.more += 1

    @contextmanager
    def gather(self) -> Iterator[None]:
        """Add the SpecError the block raises, and go on."""
        try:
            yield
        except SpecError as e:
            self.add(e)

    def raise_found(self) -> None:
        if self.found:
            raise _many(sorted(self.found, key=lambda e: e.line or 0), self.more)


def _many(errors: list[SpecError], more: int = 0) -> SpecError:
    """One error as itself, several as a :class:`SpecErrors`."""
    return errors[0] if len(errors) == 1 and not more else SpecErrors(errors, more)


#: the blocks that name an extension: (block, the key naming it, registry, default name)
_BLOCKS: tuple[tuple[str, str, Registry[Any], str], ...] = (
    ("method", "name", methods.REGISTRY, "search"),
    ("search", "algorithm", searchers.REGISTRY, "random"),
    ("stopping", "scheduler", stopping.REGISTRY, "fifo"))


def _parse(doc: Document) -> LoadedStudy:
    errors = _Errors()
    data = dict(doc.data)
    for key in list(data):
        if key not in _TOP_KEYS:
            errors.add(doc.error(f"unknown key '{key}'{_suggest(key, _TOP_KEYS)}", (key,)))
            del data[key]

    # the blocks that name an extension: each bound to the named class and its own settings
    bound: dict[str, Binding[Any] | None] = {}
    for block, key, registry, default in _BLOCKS:
        bound[block] = None
        with errors.gather():
            bound[block] = _bind(doc, data.pop(block, None), block, key, registry, default)
    space = None
    if "space" in data:
        try:
            space = parse_space(data.pop("space"))
        except SpaceError as e:
            for one in e.errors:
                errors.add(doc.error(one.message, one.loc))
    if "workload" in data:
        raw = data.pop("workload")
        with errors.gather():
            data["workload"] = _workload(doc, raw)
    objectives = _objectives(doc, data.pop("metric", None), errors)

    # a block in error: its default stands in, to find the errors of the other blocks too
    for block, key, registry, default in _BLOCKS:
        if bound[block] is None:
            bound[block] = _bind(doc, None, block, key, registry, default)
    study: Study | None = None
    with errors.gather():
        study = _validate(doc, Study, {**data, "space": space, "objectives": objectives,
                                       **bound, "written": tuple(doc.data)})
    errors.raise_found()  # the checks across blocks need every block whole
    assert study is not None
    for check in CHECKS:
        try:
            for error in check(doc, study):
                errors.add(error)
        except Exception:
            if not errors.found:
                raise
            # a check that cannot run on a study already in error: its errors come next time
    errors.raise_found()
    return LoadedStudy(study, doc)


def _bind(doc: Document, raw: Any, block: str, key: str, registry: Registry[Any],
          default: str) -> Binding[Any]:
    """A ``{<key>: name, ...settings}`` block (or just the name) -> the registered class bound
    to its settings, validated by the class's own settings model."""
    if raw is None:
        raw = {key: default}
    elif isinstance(raw, str):
        raw = {key: raw}
    if not isinstance(raw, dict):
        raise doc.error(f"must be a name or a mapping with '{key}:'", (block,))
    name = raw.get(key, default)
    if not isinstance(name, str):
        raise doc.error(f"{block}.{key} must be a name, one of: {', '.join(registry)}",
                        (block, key))
    try:
        cls = registry.load(name)
    except UnknownName as e:
        raise doc.error(str(e), (block, key) if key in raw else (block,)) from None
    except ImportError as e:
        raise doc.error(f"{block} '{name}' is not available: {e}", (block,)) from None
    settings = _validate(doc, cls.settings_model, {k: v for k, v in raw.items() if k != key},
                         (block,))
    return cls(settings)  # type: ignore[no-any-return]


def _workload(doc: Document, raw: Any) -> Any:
    """``workload``: a name or ``{function, args, path}``; a built-in name is resolved to its
    ``"module:function"`` reference here, once."""
    if isinstance(raw, str):
        raw = {"function": raw}
    if not isinstance(raw, dict):
        return raw  # the model says what it must be
    if "ref" in raw:
        raise doc.error("unknown key 'ref'", ("workload", "ref"))
    function = raw.get("function")
    if not isinstance(function, str) or not function or ":" in function:
        return {**raw, "ref": function}
    loc = ("workload", "function") if isinstance(doc.data.get("workload"), dict) \
        else ("workload",)
    try:
        return {**raw, "ref": workloads.BUILTIN.ref(function)}
    except UnknownName as e:
        hint = e.hint if e.hint.startswith("; did") else ""
        raise doc.error(f"workload '{function}' is neither a built-in{hint} (built-ins: "
                        f"{', '.join(workloads.BUILTIN)}) nor 'package.module:function'",
                        loc) from None


def _objectives(doc: Document, raw: Any, errors: _Errors) -> tuple[MetricSpec, ...]:
    """``metric``: one ``{name, mode}`` mapping, or a non-empty list of them (the first leads).
    Its errors go to ``errors``."""
    if raw is None:
        return ()
    specs: list[MetricSpec] = []
    if isinstance(raw, dict):
        with errors.gather():
            specs.append(_validate(doc, MetricSpec, raw, ("metric",)))
        return tuple(specs)
    if not isinstance(raw, list) or not raw:
        errors.add(doc.error("metric must be {name: ..., mode: min|max} or a list of them",
                             ("metric",)))
        return ()
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            errors.add(doc.error("each metric is {name: ..., mode: min|max}", ("metric", i)))
            continue
        with errors.gather():
            spec = _validate(doc, MetricSpec, item, ("metric", i))
            if any(s.name == spec.name for s in specs):
                raise doc.error(f"metric '{spec.name}' is listed twice", ("metric", i, "name"))
            specs.append(spec)
    return tuple(specs)


def _validate(doc: Document, model: type[BaseModel], data: dict[str, Any], prefix: Loc = ()) -> Any:
    """``data`` validated by ``model``; else every error pydantic finds (up to
    :data:`MAX_ERRORS`), each at its key."""
    try:  # validators that find the user's files and code read the study file from the context
        return model.model_validate(data, context={"study_file": doc.file})
    except ValidationError as e:
        found = _one_branch(doc, e.errors(), prefix)
        raise _many([_one(doc, model, err, prefix) for err in found[:MAX_ERRORS]],
                    max(0, len(found) - MAX_ERRORS)) from None


#: how pydantic names a member of a union in an error's loc: ``literal['a','b']``,
#: ``list[constrained-int]``, ``function-after[...]``, ``int``, ...
_MEMBER = re.compile(r"^[a-z][a-z-]*\[.*\]$|^(int|float|str|bool|none|bytes)$")


def _one_branch(doc: Document, errors: list[Any], prefix: Loc) -> list[Any]:
    """Of the errors pydantic reports for a value that fits no member of a union (one set per
    member, the member named in the loc), those of the member the value came closest to (the
    deepest loc; the first member on a tie), with the member's name taken out of the loc."""
    def member(err: Any) -> int | None:
        loc = tuple(err["loc"])
        return next((i for i, part in enumerate(loc) if isinstance(part, str)
                     and _MEMBER.match(part) and prefix + loc[:i + 1] not in doc.lines), None)

    depths: dict[Loc, dict[str, int]] = {}  # the union's loc -> its members' deepest errors
    for err in errors:
        i = member(err)
        if i is not None:
            loc = tuple(err["loc"])
            seen = depths.setdefault(loc[:i], {})
            seen[loc[i]] = max(seen.get(loc[i], 0), len(loc))
    chosen = {loc: max(seen, key=lambda m: seen[m]) for loc, seen in depths.items()}
    out = []
    for err in errors:
        i = member(err)
        if i is None:
            out.append(err)
        elif chosen[tuple(err["loc"])[:i]] == err["loc"][i]:
            out.append({**err, "loc": tuple(err["loc"])[:i] + tuple(err["loc"])[i + 1:]})
    return out


def _one(doc: Document, model: type[BaseModel], err: Any, prefix: Loc) -> SpecError:
    """One of pydantic's errors as a SpecError at its key."""
    loc = prefix + tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        field = str(loc[-1])
        valid = _fields_at(model, tuple(err["loc"])[:-1])
        return doc.error(f"unknown key '{field}'{_suggest(field, valid)}", loc)
    if err["type"] == "missing":
        return doc.error(f"missing required key '{loc[-1]}'", loc[:-1])
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    if (err["type"] not in ("value_error",) and not isinstance(got, (dict, list))
            and got is not None):
        msg += f" (got {clip_quoted(repr(got))})"
    return doc.error(msg, loc)


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The field names of the model found by following ``loc`` from ``model``."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def _suggest(word: str, valid: Any) -> str:
    valid = list(valid)
    close = [v for v in valid if len(word) >= 3 and (v.startswith(word) or word.startswith(v))][:1]
    close = close or difflib.get_close_matches(word, valid, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


_NEEDS_HINT = {
    "workload": "a built-in name or 'package.module:function'",
    "space": "the parameters to search",
    "metric": "{name: ..., mode: min|max}",
}

Check = Callable[[Document, Study], Iterator[SpecError]]


def _check_workload_path(doc: Document, study: Study) -> Iterator[SpecError]:
    path = study.workload.path if study.workload is not None else None
    if path and workload_dir(path, doc.file) is None:
        where = "" if os.path.isabs(path) or doc.file.startswith("<") else \
            (" (relative paths start at the study file's directory, "
             f"{Path(doc.file).resolve().parent})")
        yield doc.error(f"workload.path '{path}' is not a directory{where}", ("workload", "path"))


def _method_keys(doc: Document, study: Study) -> Iterator[SpecError]:
    """The one place that decides, from the method's traits, which keys of the study file it
    needs and which it would ignore: a key it would ignore is an error, never dropped."""
    method, traits = study.method, study.method.traits
    written = set(study.written)
    raw_budget = doc.data.get("budget")
    budget: dict[str, Any] = raw_budget if isinstance(raw_budget, dict) else {}

    def missing(key: str) -> SpecError:
        hint = f" ({_NEEDS_HINT[key]})" if key in _NEEDS_HINT else ""
        return doc.error(f"missing required key '{key}'{hint}")

    def unused(key: str, why: str, loc: Loc | None = None) -> SpecError:
        return doc.error(f"method '{method.name}' does not use '{key}' ({why}); remove it",
                         loc or (key,))

    if traits.runs_workload:
        if study.workload is None:
            yield missing("workload")
    elif "workload" in written:
        yield unused("workload", "it runs its own workloads")
    if traits.owns_objective:
        if "metric" in written:
            own = method.objective(study)
            yield unused("metric", f"its trials report {own.metric}, {own.mode}")
    elif not study.objectives:
        yield missing("metric")
    elif len(study.objectives) > 1 and not traits.several_metrics:
        yield doc.error(f"method '{method.name}' takes one metric, not a list", ("metric",))
    if traits.space == "required" and study.space is None:
        yield missing("space")
    elif traits.space == "refused" and "space" in written:
        yield unused("space", "it has no parameters to search")
    if "search" in written and not study.searched:
        yield unused("search", "without a space there is nothing to search"
                     if traits.takes_searcher else "it tunes no space with a searcher")
    if study.searched and not study.search.enumerates:
        if study.budget.trials is None:
            yield doc.error("missing budget.trials (how many configurations to sample from the "
                            "space)", ("budget",) if "budget" in written else ())
    elif "trials" in budget:
        why = (f"{study.search.name} search runs every grid point (times search.repeats)"
               if study.searched else f"method '{method.name}' lists its own trials")
        yield doc.error(f"{why}; remove budget.trials", ("budget", "trials"))
    if not traits.epoch_trials and "max_epochs" in budget and "stopping" not in written:
        yield doc.error(f"method '{method.name}' sets the length of its own trials; "
                        "budget.max_epochs is only the horizon of a stopping rule; remove it",
                        ("budget", "max_epochs"))


def _search_checks(doc: Document, study: Study) -> Iterator[SpecError]:
    """The searcher's own rules, where a space is searched."""
    if not study.searched or study.space is None:
        return
    search = study.search
    try:
        search.check(study.space, study)
    except ValueError as e:
        yield doc.error(str(e), ("search", "algorithm"))
    if len(study.objectives) > 1 and not search.several_objectives:
        key = ("search", "sampler") if "sampler" in (doc.data.get("search") or {}) \
            else ("search", "algorithm")
        yield doc.error(f"{search.label} optimizes one metric, and metric lists "
                        f"{len(study.objectives)}; use a searcher that takes several "
                        "(optuna tpe, nsga2, random, qmc, gp) or one metric", key)
    for i, point in enumerate(search.settings.points):
        try:
            complete_point(study.space, point)
        except PointError as e:
            yield doc.error(str(e), ("search", "points", i) + ((e.name,) if e.name else ()))


def _method_check(doc: Document, study: Study) -> Iterator[SpecError]:
    try:
        study.method.check(study)
    except ValueError as e:
        loc = getattr(e, "loc", None)
        if loc is None:
            loc = ("method",) if "method" in study.written else ()
        yield doc.error(str(e), tuple(loc))


def _stopping_checks(doc: Document, study: Study) -> Iterator[SpecError]:
    rule, method = study.stopping, study.method
    if rule.traits.refuses_searcher and not method.traits.enumerates_trials:
        yield doc.error(f"stopping '{rule.name}' runs a list of trials fixed up front, and "
                        f"method '{method.name}' asks for trials as results come in",
                        ("stopping", "scheduler") if isinstance(doc.data.get("stopping"), dict)
                        else ("stopping",))
    try:
        rule.check(study)
    except ValueError as e:
        yield doc.error(str(e), ("stopping",))


#: the checks that span blocks, in order (each yields its errors)
CHECKS: tuple[Check, ...] = (_check_workload_path, _search_checks, _method_keys, _method_check,
                             _stopping_checks)
