"""Study file -> validated :class:`Study`. The only place raw YAML data is looked at.

Every error is a :class:`SpecError` naming the file, the line and the key path, with the closest
valid key suggested for typos. Nothing is started here: no Ray, no MLflow.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from searchlab import methods, searchers, stopping
from searchlab.errors import clip_quoted
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


def _parse(doc: Document) -> LoadedStudy:
    data = dict(doc.data)
    for key in data:
        if key not in _TOP_KEYS:
            raise doc.error(f"unknown key '{key}'{_suggest(key, _TOP_KEYS)}", (key,))

    # the conditional blocks: stopping and method are validated by their own registered models
    stop_name, stop_settings = _registered(doc, data.pop("stopping", None), "stopping", "scheduler",
                                           stopping.REGISTRY, "fifo", stopping.get_factory)
    method_name, method_settings = _registered(doc, data.pop("method", None), "method", "name",
                                               methods.REGISTRY, "search", methods.get_method)
    space = None
    if "space" in data:
        try:
            space = parse_space(data.pop("space"))
        except SpaceError as e:
            raise doc.error(e.message, e.loc) from None
    if isinstance(data.get("workload"), str):
        data["workload"] = {"function": data["workload"]}
    objectives = _objectives(doc, data.pop("metric", None))

    study = _validate(doc, Study, {**data, "space": space, "objectives": objectives,
                                   "stopping_name": stop_name, "stopping": stop_settings,
                                   "method_name": method_name, "method": method_settings,
                                   "written": tuple(doc.data)})
    _check_workload_path(doc, study)
    _check_combinations(doc, study)
    return LoadedStudy(study, doc)


def _objectives(doc: Document, raw: Any) -> tuple[MetricSpec, ...]:
    """``metric``: one ``{name, mode}`` mapping, or a non-empty list of them (the first leads)."""
    if raw is None:
        return ()
    if isinstance(raw, dict):
        return (_validate(doc, MetricSpec, raw, ("metric",)),)
    if not isinstance(raw, list) or not raw:
        raise doc.error("metric must be {name: ..., mode: min|max} or a list of them", ("metric",))
    specs: list[MetricSpec] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise doc.error("each metric is {name: ..., mode: min|max}", ("metric", i))
        spec = _validate(doc, MetricSpec, item, ("metric", i))
        if any(s.name == spec.name for s in specs):
            raise doc.error(f"metric '{spec.name}' is listed twice", ("metric", i, "name"))
        specs.append(spec)
    return tuple(specs)


def _registered(doc: Document, raw: Any, block: str, key: str, registry: dict[str, str],
                default: str, get: Any) -> tuple[str, Any]:
    """Validate a ``{<key>: name, ...settings}`` block with the named entry's settings model."""
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
    if name not in registry:
        hint = _suggest(str(name), registry) or f"; available: {', '.join(registry)}"
        raise doc.error(f"unknown {block} '{name}'{hint}", (block, key) if key in raw else (block,))
    try:
        entry = get(name)
    except ImportError as e:
        raise doc.error(f"{block} '{name}' is not available: {e}", (block,)) from None
    settings = {k: v for k, v in raw.items() if k != key}
    return name, _validate(doc, entry.settings_model, settings, (block,))


def _validate(doc: Document, model: type[BaseModel], data: dict[str, Any], prefix: Loc = ()) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = prefix + tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            field = str(loc[-1])
            valid = _fields_at(model, tuple(err["loc"])[:-1])
            raise doc.error(f"unknown key '{field}'{_suggest(field, valid)}", loc) from None
        if err["type"] == "missing":
            raise doc.error(f"missing required key '{loc[-1]}'", loc[:-1]) from None
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        if err["type"] not in ("value_error",) and not isinstance(got, (dict, list)) and got is not None:
            msg += f" (got {clip_quoted(repr(got))})"
        raise doc.error(msg, loc) from None


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


def _check_workload_path(doc: Document, study: Study) -> None:
    path = study.workload.path if study.workload is not None else None
    if path and workload_dir(path, doc.file) is None:
        where = "" if os.path.isabs(path) or doc.file.startswith("<") else \
            f" (relative paths start at the study file's directory, {Path(doc.file).resolve().parent})"
        raise doc.error(f"workload.path '{path}' is not a directory{where}", ("workload", "path"))


def _check_combinations(doc: Document, study: Study) -> None:
    """Rules that span blocks: what the method needs and refuses, the searcher, the scheduler."""
    method = methods.get_method(study.method_name)
    for key in method.needs:
        if getattr(study, key, None) is None:
            hint = f" ({_NEEDS_HINT[key]})" if key in _NEEDS_HINT else ""
            raise doc.error(f"missing required key '{key}'{hint}")
    for key in method.refuses:
        if key in study.written:
            raise doc.error(f"method '{study.method_name}' does not use '{key}'; remove it",
                            (key,))
    if len(study.objectives) > 1 and "metric" not in method.needs:
        raise doc.error(f"method '{study.method_name}' takes one metric, not a list", ("metric",))
    if study.space is not None and "search" not in method.refuses:
        factory = searchers.get_searcher(study.search.algorithm)
        try:
            factory.check(study.search, study.space, study.budget)
        except ValueError as e:
            raise doc.error(str(e), ("search", "algorithm")) from None
        if len(study.objectives) > 1 and not factory.several_objectives(study.search):
            key = ("search", "sampler") if "sampler" in (doc.data.get("search") or {}) \
                else ("search", "algorithm")
            raise doc.error(f"{study.searcher_label} optimizes one metric, and metric lists "
                            f"{len(study.objectives)}; use a searcher that takes several "
                            "(optuna tpe, nsga2, random, qmc, gp) or one metric", key)
        for i, point in enumerate(study.search.points):
            try:
                complete_point(study.space, point)
            except PointError as e:
                loc = ("search", "points", i) + ((e.name,) if e.name else ())
                raise doc.error(str(e), loc) from None
    try:
        method.check(study.method, study)
    except ValueError as e:
        loc = getattr(e, "loc", None)
        if loc is None:
            loc = ("method",) if "method" in study.written else ()
        raise doc.error(str(e), tuple(loc)) from None
    factory = stopping.get_factory(study.stopping_name)
    try:
        factory.check(study.stopping, study)
    except ValueError as e:
        raise doc.error(str(e), ("stopping",)) from None
