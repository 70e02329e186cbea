"""The search-space language: a tree of parameters with conditional (tree-structured) choices.

In the study file::

    space:
      lr: {loguniform: [1.0e-4, 1.0e-1]}
      hidden: {choice: [32, 64, 128]}
      layers: {int: [1, 4]}
      width: {int: [16, 256], step: 16}        # or {qint: [16, 256, 16]}
      dropout: {uniform: [0.0, 0.5]}
      seed_offset: {grid: [0, 1, 2]}           # enumerated (random and grid search)
      epochs: 10                               # a constant
      optimizer:                               # a conditional choice: each option has a sub-space
        choice:
          sgd: {momentum: {uniform: [0.0, 0.99]}}
          adam: {beta2: {uniform: [0.9, 0.999]}}

The tree is in the spirit of DeepArchitect's tree-structured spaces: an option's sub-space exists
only in trials that chose it. A trial's configuration is flat: ``optimizer`` holds the option's
name and its parameters are ``optimizer.sgd.momentum`` (see :func:`Space.flatten`). Each searcher
translates the space into its own language in its own module (``searchlab/searchers/``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

from searchlab.spec.loader import Loc

OPTION_KEY = "__option__"
Scalar = Union[str, int, float, bool, None]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
KINDS = ("uniform", "loguniform", "int", "qint", "choice", "grid", "constant")


class SpaceError(Exception):
    """What is wrong at ``loc``; ``errors`` holds every error found in the block (this one
    first), one per parameter in error."""

    def __init__(self, message: str, loc: Loc) -> None:
        super().__init__(message)
        self.message, self.loc = message, loc
        self.errors: list[SpaceError] = [self]


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    log: bool = False
    step: float | None = None


@dataclass(frozen=True)
class Int:
    low: int
    high: int  # inclusive
    log: bool = False
    step: int = 1


@dataclass(frozen=True)
class Choice:
    values: tuple[Scalar, ...]
    grid: bool = False  # enumerate every value instead of sampling


@dataclass(frozen=True)
class Conditional:
    options: dict[str, Space]


@dataclass(frozen=True)
class Constant:
    value: Any


Param = Union[Float, Int, Choice, Conditional, Constant]


@dataclass(frozen=True)
class Space:
    params: dict[str, Param]

    # ---------------------------------------------------------------- facts
    def walk(self, prefix: str = "") -> Iterator[tuple[str, Param]]:
        """Every parameter with its flat name, conditional sub-spaces included."""
        for name, p in self.params.items():
            flat = prefix + name
            yield flat, p
            if isinstance(p, Conditional):
                for opt, sub in p.options.items():
                    yield from sub.walk(f"{flat}.{opt}.")

    @property
    def has_conditional(self) -> bool:
        return any(isinstance(p, Conditional) for _, p in self.walk())

    @property
    def has_grid(self) -> bool:
        return any(isinstance(p, Choice) and p.grid for _, p in self.walk())

    def grid_size(self) -> int | None:
        """Number of points when every parameter is enumerated; None if one is continuous."""
        total = 1
        for p in self.params.values():
            n = _count(p)
            if n is None:
                return None
            total *= n
        return total

    # ---------------------------------------------------------------- configs
    def flatten(self, config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        """A config as Ray searchers return it (conditional options nested) -> flat dict."""
        out: dict[str, Any] = {}
        for name, p in self.params.items():
            flat = prefix + name
            if flat in config and not isinstance(config[flat], dict):
                value = config[flat]  # already flat (Optuna define-by-run)
            else:
                value = config.get(name)
            if isinstance(p, Conditional):
                if isinstance(value, dict):
                    opt = value[OPTION_KEY]
                    out[flat] = opt
                    out.update(p.options[opt].flatten(value, f"{flat}.{opt}."))
                else:
                    out[flat] = value
                    if value in p.options:
                        sub = {k: v for k, v in config.items() if k.startswith(f"{flat}.{value}.")}
                        out.update(p.options[value].flatten(sub, f"{flat}.{value}."))
            else:
                out[flat] = value
        return out

    def nest(self, flat: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        """A flat config -> the nested form (a conditional choice as ``{OPTION_KEY: option,
        ...its parameters}``), as Ray's searchers and Nevergrad's parametrization hold it: the
        inverse of :meth:`flatten`. Names the space does not have are left out."""
        out: dict[str, Any] = {}
        for name, p in self.params.items():
            flat_name = prefix + name
            if flat_name not in flat:
                continue
            value = flat[flat_name]
            if isinstance(p, Conditional) and value in p.options:
                value = {OPTION_KEY: value,
                         **p.options[value].nest(flat, f"{flat_name}.{value}.")}
            out[name] = value
        return out

    def describe(self, indent: str = "") -> list[str]:
        """Human-readable lines, for `searchlab validate`."""
        lines = []
        for name, p in self.params.items():
            if isinstance(p, Conditional):
                lines.append(f"{indent}{name}: one of {', '.join(p.options)}")
                for opt, sub in p.options.items():
                    lines.append(f"{indent}  if {name} = {opt}:")
                    lines.extend(sub.describe(indent + "    ") or [f"{indent}    (nothing more)"])
            else:
                lines.append(f"{indent}{name}: {_describe(p)}")
        return lines


def _count(p: Param) -> int | None:
    if isinstance(p, Constant):
        return 1
    if isinstance(p, Choice):
        return len(p.values)
    if isinstance(p, Int):
        return len(range(p.low, p.high + 1, p.step))
    if isinstance(p, Conditional):
        total = 0
        for sub in p.options.values():
            n = sub.grid_size()
            if n is None:
                return None
            total += n
        return total
    return None


def _describe(p: Param) -> str:
    if isinstance(p, Constant):
        return f"constant {p.value!r}"
    if isinstance(p, Choice):
        return ("grid " if p.grid else "choice ") + str(list(p.values))
    if isinstance(p, Int):
        extra = (" log" if p.log else "") + (f" step {p.step}" if p.step > 1 else "")
        return f"int [{p.low}, {p.high}]{extra}"
    if isinstance(p, Float):
        extra = f" step {p.step}" if p.step else ""
        return f"{'loguniform' if p.log else 'uniform'} [{p.low:g}, {p.high:g}]{extra}"
    return "?"


# -------------------------------------------------------------------- parsing
def parse_space(raw: Any, loc: Loc = ("space",)) -> Space:
    """Parse the ``space`` block. Raises SpaceError with the key path of the problem."""
    if not isinstance(raw, dict):
        raise SpaceError("must be a mapping of parameter names to definitions", loc)
    if not raw:
        raise SpaceError("is empty; give at least one parameter", loc)
    params: dict[str, Param] = {}
    errors: list[SpaceError] = []  # every parameter's first error, not only the first one's
    for name, value in raw.items():
        try:
            if not isinstance(name, str) or not _NAME.match(name):
                raise SpaceError(f"'{name}' is not a valid parameter name (letters, digits, _ "
                                 "and -; no dots)", loc + (name,))
            params[name] = _parse_param(value, loc + (name,))
        except SpaceError as e:
            errors.extend(e.errors)
    if errors:
        raise _gathered(errors)
    return Space(params)


def _gathered(errors: list[SpaceError]) -> SpaceError:
    """The first of ``errors``, holding them all."""
    first = SpaceError(errors[0].message, errors[0].loc)
    first.errors = errors
    return first


def _parse_param(value: Any, loc: Loc) -> Param:
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise SpaceError(
                "a list is not a parameter; write {choice: [...]} or {grid: [...]}", loc)
        if isinstance(value, float) and not math.isfinite(value):
            raise SpaceError(f"a constant must be a finite number, got {value!r}", loc)
        return Constant(value)
    kinds = [k for k in value if k in KINDS]
    if not kinds:
        import difflib

        unknown = next(iter(value), None)
        close = difflib.get_close_matches(str(unknown), KINDS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; use one of: {', '.join(KINDS)}"
        raise SpaceError(f"unknown parameter kind '{unknown}'{hint}",
                         loc + ((unknown,) if close else ()))
    if len(kinds) > 1:
        raise SpaceError(f"give one kind, not {' and '.join(kinds)}", loc)
    kind = kinds[0]
    args = value[kind]
    extra = set(value) - {kind}
    allowed = {"uniform": {"step"}, "loguniform": {"step"}, "int": {"step", "log"}}.get(kind, set())
    bad = extra - allowed
    if bad:
        key = sorted(bad)[0]
        hint = f" (allowed with {kind}: {', '.join(sorted(allowed))})" if allowed else ""
        raise SpaceError(f"unknown option '{key}' for {kind}{hint}", loc + (key,))
    kloc = loc + (kind,)
    if kind == "constant":
        if isinstance(args, float) and not math.isfinite(args):
            raise SpaceError(f"a constant must be a finite number, got {args!r}", kloc)
        return Constant(args)
    if kind in ("choice", "grid"):
        if isinstance(args, dict):
            if kind == "grid":
                raise SpaceError("conditional options go under choice:, not grid:", kloc)
            if not args:
                raise SpaceError("a conditional choice needs at least one option", kloc)
            options: dict[str, Space] = {}
            errors: list[SpaceError] = []
            for opt, sub in args.items():
                try:
                    if not _NAME.match(str(opt)):
                        raise SpaceError(f"'{opt}' is not a valid option name", kloc + (opt,))
                    if sub is None or sub == {}:
                        options[str(opt)] = Space({})
                    else:
                        options[str(opt)] = parse_space(sub, kloc + (opt,))
                except SpaceError as e:
                    errors.extend(e.errors)
            if errors:
                raise _gathered(errors)
            return Conditional(options)
        if not isinstance(args, list) or not args:
            raise SpaceError(f"{kind} needs a non-empty list of values", kloc)
        for i, v in enumerate(args):
            if not isinstance(v, (str, int, float, bool)) and v is not None:
                raise SpaceError(f"{kind} values must be numbers, strings, booleans or null",
                                 kloc + (i,))
            if isinstance(v, float) and not math.isfinite(v):
                raise SpaceError(f"{kind} values must be finite", kloc + (i,))
        if len({repr(v) for v in args}) != len(args):
            raise SpaceError(f"{kind} values must be distinct", kloc)
        return Choice(tuple(args), grid=(kind == "grid"))
    # numeric ranges
    if kind == "qint":
        if not (isinstance(args, list) and len(args) == 3):
            raise SpaceError("qint needs [low, high, step]", kloc)
        low, high, step = (_number(a, kloc + (i,), integer=True) for i, a in enumerate(args))
        return _int(int(low), int(high), int(step), False, kloc)
    if not (isinstance(args, list) and len(args) == 2):
        raise SpaceError(f"{kind} needs [low, high]", kloc)
    integer = kind == "int"
    low, high = (_number(a, kloc + (i,), integer=integer) for i, a in enumerate(args))
    step_raw = value.get("step")
    if kind == "int":
        log = value.get("log", False)
        if not isinstance(log, bool):
            raise SpaceError("log must be true or false", loc + ("log",))
        istep = 1 if step_raw is None else int(_number(step_raw, loc + ("step",), integer=True))
        return _int(int(low), int(high), istep, log, kloc)
    fstep = None if step_raw is None else float(_number(step_raw, loc + ("step",)))
    if fstep is not None and fstep <= 0:
        raise SpaceError("step must be positive", loc + ("step",))
    if not low < high:
        raise SpaceError(f"low must be below high, got [{low}, {high}]", kloc)
    if kind == "loguniform" and low <= 0:
        raise SpaceError(f"loguniform needs low > 0, got {low}", kloc + (0,))
    return Float(float(low), float(high), log=(kind == "loguniform"), step=fstep)


def _int(low: int, high: int, step: int, log: bool, loc: Loc) -> Int:
    if step < 1:
        raise SpaceError("step must be a positive integer", loc)
    if low > high:
        raise SpaceError(f"low must not exceed high, got [{low}, {high}]", loc)
    if log and low < 1:
        raise SpaceError("a log-scaled int needs low >= 1", loc)
    if log and step > 1:
        raise SpaceError("an int cannot be both log-scaled and stepped", loc)
    return Int(low, high, log=log, step=step)


def _number(v: Any, loc: Loc, integer: bool = False) -> float | int:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SpaceError(f"expected a number, got {v!r}", loc)
    if not math.isfinite(v) or abs(v) > 1e300:
        raise SpaceError(f"expected a finite number, got {v!r}", loc)
    if integer and not float(v).is_integer():
        raise SpaceError(f"expected an integer, got {v!r}", loc)
    return v


def flat_config(config: Mapping[str, Any], space: Space | None = None) -> dict[str, Any]:
    """THE flattener: any trial config as the flat dict workloads, MLflow params, schedulers and
    predictors all see. searchlab's own request data is dropped; with a space, conditional options
    are named as ``"<choice>.<option>.<param>"`` (see :meth:`Space.flatten`); without one, nested
    dicts become dotted keys and an option marker becomes the choice's value."""
    from searchlab.status import META

    config = {k: v for k, v in config.items() if k != META}
    if space is not None:
        return space.flatten(config)
    return _dotted(config)


def _dotted(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            opt = value.get(OPTION_KEY)
            if opt is not None:
                out[name] = opt
                out.update(_dotted({k: v for k, v in value.items() if k != OPTION_KEY},
                                   f"{name}.{opt}."))
            else:
                out.update(_dotted(value, name + "."))
        else:
            out[name] = value
    return out
