"""The ``method: {name: lr_free, ...}`` block of a study file.

Every number is finite and every size positive: what this block accepts, the method can run.
References (``"package.module:name"``) of workloads and optimizers are resolved by the preflight
(:meth:`LRFreeSettings.references`, relative to the study file, see :mod:`searchlab.refs`), so
one that does not import is reported before any trial starts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from searchlab.methods.base import MethodSettings
from searchlab.refs import Reference, is_ref

if TYPE_CHECKING:
    from searchlab.methods.lr_free.optimizers import OptimizerSpec

# Names only (this module imports no torch); ``optimizers.OPTIMIZERS`` and
# ``workloads.WORKLOADS`` hold the same names (a test keeps them in step).
#: the optimizers, in the order the tables list them
OPTIMIZERS = ("dog", "dadapt_adam", "prodigy", "mechanic", "schedulefree_adamw", "lion", "adamw",
              "nadamw")
#: the baselines with a learning rate to tune (the rest are learning-rate-free or calibrated)
BASELINES = ("adamw", "nadamw")
#: built-in workload name -> its function's reference
WORKLOADS: dict[str, str] = {name: f"searchlab.methods.lr_free.workloads:{name}" for name in (
    "fashion_mlp", "fashion_cnn", "char_lm", "tabular", "forecast")}
#: (built-in workload, size) -> (optimizer steps, steps between evaluations)
BUDGETS: dict[tuple[str, str], tuple[int, int]] = {
    ("fashion_mlp", "small"): (100, 10), ("fashion_mlp", "full"): (3000, 100),
    ("fashion_cnn", "small"): (100, 10), ("fashion_cnn", "full"): (3000, 100),
    ("char_lm", "small"): (100, 10), ("char_lm", "full"): (3000, 100),
    ("tabular", "small"): (100, 10), ("tabular", "full"): (2000, 100),
    ("forecast", "small"): (100, 10), ("forecast", "full"): (4000, 100),
}
#: trial config keys that are not hyperparameters (a user optimizer may not use these names)
RESERVED = ("optimizer", "setting", "workload", "seed", "proposal")


@dataclass(frozen=True)
class Param:
    """One calibrated hyperparameter: a float range (log or linear), an integer range
    (``integer``, with ``step``) or a categorical choice."""

    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[Any, ...] = ()
    integer: bool = False
    step: int = 1

    def lowest(self) -> Any:
        """A value from the range (the low end, or the first choice), for the preflight."""
        if self.choices:
            return self.choices[0]
        return int(self.low) if self.integer else float(self.low)

_KEYWORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF_HINT = "'package.module:Name' (e.g. 'my_optimizer:MyOptimizer')"

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _finite(value: Any, where: str) -> Any:
    """``value`` if it is a finite scalar (or a list of them), else ValueError."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number, got {value!r}")
        return value
    if isinstance(value, list) and len(value) <= 16:
        return [_finite(v, where) for v in value]
    raise ValueError(f"{where} must be a number, a string, a boolean or a short list of them")


def _param(name: str, raw: Any) -> Param:
    """One calibration-space entry in the study file's space syntax -> :class:`Param`."""
    from searchlab.spec.space import Choice, Float, Int, SpaceError, parse_space

    try:
        p = parse_space({name: raw}).params[name]
    except SpaceError as e:
        from searchlab.errors import key_path

        raise ValueError(f"space.{key_path(e.loc[1:])}: {e.message}") from None
    if isinstance(p, Float) and p.step is None:
        return Param(float(p.low), float(p.high), p.log)
    if isinstance(p, Int):
        return Param(p.low, p.high, p.log, integer=True, step=p.step)
    if isinstance(p, Choice) and not p.grid:
        return Param(choices=tuple(p.values))
    raise ValueError(f"space.{name}: a calibration space takes uniform, loguniform, int or "
                     "choice (fixed values go under defaults)")


class OptimizerEntry(BaseModel):
    """One entry of ``optimizers``: a built-in name, or your own optimizer by reference with its
    defaults and calibration space (a bare ``"module:Class"`` string has neither: the class's
    own defaults, nothing to calibrate)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str = Field(min_length=1, max_length=300,
                     description=f"a built-in name or {_REF_HINT}: a torch.optim.Optimizer "
                                 "subclass or a factory(params, **hyperparameters)")
    label: str | None = Field(None, min_length=1, max_length=60,
                              description="its name in tables and figures (default: the class)")
    lr_free: bool | None = Field(
        None, description="learning-rate-free? (default: no 'lr' in defaults or space)")
    defaults: dict[str, Any] = Field(
        default_factory=dict,
        description="keyword arguments of the 'defaults' setting, plus warmup (fraction of "
                    "the steps) and schedule (constant | cosine)")
    space: dict[str, Any] = Field(
        default_factory=dict,
        description="calibration space, in the study file's space syntax (uniform, "
                    "loguniform, int, choice)")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        return {"ref": data} if isinstance(data, str) else data

    @field_validator("ref")
    @classmethod
    def _ref(cls, v: str) -> str:
        if v not in OPTIMIZERS and not is_ref(v):
            raise ValueError(f"unknown optimizer '{v[:100]}'; use a built-in "
                             f"({', '.join(OPTIMIZERS)}) or {_REF_HINT}")
        return v

    @field_validator("defaults")
    @classmethod
    def _defaults(cls, v: dict[str, Any]) -> dict[str, Any]:
        if len(v) > 50:
            raise ValueError("defaults: at most 50 hyperparameters")
        for k, value in v.items():
            _name_ok(k, "defaults")
            _finite(value, f"defaults.{k}")
        if "warmup" in v and (isinstance(v["warmup"], bool)
                              or not isinstance(v["warmup"], (int, float))
                              or not 0 <= v["warmup"] < 1):
            raise ValueError("defaults.warmup is the warmup's fraction of the steps, in [0, 1)")
        if "schedule" in v and v["schedule"] not in ("constant", "cosine"):
            raise ValueError("defaults.schedule must be 'constant' or 'cosine'")
        return v

    @field_validator("space")
    @classmethod
    def _space(cls, v: dict[str, Any]) -> dict[str, Any]:
        if len(v) > 50:
            raise ValueError("space: at most 50 hyperparameters")
        for k, raw in v.items():
            _name_ok(k, "space")
            _param(k, raw)
        return v

    @model_validator(mode="after")
    def _builtin_as_is(self) -> OptimizerEntry:
        if self.ref in OPTIMIZERS and (self.defaults or self.space or self.label
                                       or self.lr_free is not None):
            raise ValueError(f"'{self.ref}' is built in with its literature defaults and "
                             "calibration space; give only its name, or name your own "
                             f"optimizer as {_REF_HINT}")
        return self

    @property
    def params(self) -> dict[str, Param]:
        return {k: _param(k, raw) for k, raw in self.space.items()}

    def spec(self) -> OptimizerSpec:
        from searchlab.methods.lr_free.optimizers import OPTIMIZERS as BUILT_IN
        from searchlab.methods.lr_free.optimizers import user_spec

        if self.ref in OPTIMIZERS:
            return BUILT_IN[self.ref]
        return user_spec(self.ref, self.defaults, self.params, self.label, self.lr_free)


def _name_ok(name: str, where: str) -> None:
    if not _KEYWORD.match(name):
        raise ValueError(f"{where}: '{name[:60]}' is not a keyword argument name")
    if name in RESERVED:
        raise ValueError(f"{where}: '{name}' is reserved for the trial's own config "
                         f"({', '.join(RESERVED)}); rename the argument")


def _workload_ok(w: str) -> str:
    if w not in WORKLOADS and not is_ref(w):
        raise ValueError(f"unknown workload '{w[:100]}'; use a built-in ({', '.join(WORKLOADS)}) "
                         "or 'package.module:function'")
    return w


class LRFreeSettings(MethodSettings):
    """Learning-rate-free optimizers against calibrated baselines, scored the AlgoPerf way."""

    optimizers: list[OptimizerEntry] = Field(
        default_factory=lambda: [OptimizerEntry(ref=o) for o in OPTIMIZERS],
        min_length=1, max_length=50,
        description=f"optimizers to compare: built-ins ({', '.join(OPTIMIZERS)}) or your own "
                    f"as {_REF_HINT} or {{ref, label, lr_free, defaults, space}}")
    calibration_workloads: list[str] = Field(
        default_factory=lambda: ["tabular", "forecast"], min_length=1, max_length=50,
        description="workloads the calibration is scored on (built-in names or 'module:function')")
    workloads: list[str] = Field(
        default_factory=lambda: list(WORKLOADS), min_length=1, max_length=50,
        description="workloads of the scoring phase; those not calibrated on are the held-out set")
    size: Literal["small", "full"] = Field(
        "small", description="workload size: small (CPU, seconds) or full (GPU)")
    calibration_trials: int = Field(
        8, ge=1, le=1000,
        description="configurations proposed per optimizer (the first is the literature defaults)")
    calibration_parallel: int = Field(
        2, ge=1, le=100, description="configurations per optimizer evaluated at once")
    sampler: Literal["tpe", "random"] = Field("tpe",
                                              description="Optuna sampler of the calibration")
    repeats: int = Field(3, ge=1, le=100, description="repeated studies (seeds) per scored run")
    sensitivity_workload: str | None = Field(
        "forecast", description="workload of the learning-rate sweep of the baselines (None: skip)")
    sensitivity_lrs: list[PositiveFloat] = Field(
        default_factory=lambda: [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0],
        min_length=1, max_length=100, description="learning rates of the sweep (positive)")
    max_tau: float = Field(
        4.0, gt=1.0, le=1000.0, allow_inf_nan=False,
        description="the performance profile's tau range [1, max_tau] (ratios are cut at 4x "
                    "the fastest whatever it is, as AlgoPerf's code does)")
    max_evaluations: int = Field(
        1000, ge=1, le=1_000_000, description="request length for workloads given by reference")
    seed: int = Field(0, ge=0, le=1_000_000,
                      description="seed of the calibration samplers; repeat r uses seed r")
    path: str | None = Field(
        None, min_length=1, max_length=1000,
        description="a directory to put on sys.path for the modules your references name "
                    "(relative to the study file; default: the study file's directory)")

    @field_validator("optimizers")
    @classmethod
    def _distinct(cls, v: list[OptimizerEntry]) -> list[OptimizerEntry]:
        refs = [o.ref for o in v]
        twice = next((r for r in refs if refs.count(r) > 1), None)
        if twice is not None:
            raise ValueError(f"optimizer '{twice}' is listed twice")
        return v

    @field_validator("calibration_workloads", "workloads")
    @classmethod
    def _workloads(cls, v: list[str]) -> list[str]:
        for w in v:
            _workload_ok(w)
        if len(set(v)) != len(v):
            raise ValueError("a workload is listed twice")
        return v

    @field_validator("sensitivity_workload")
    @classmethod
    def _sensitivity(cls, v: str | None) -> str | None:
        return None if v is None else _workload_ok(v)

    @model_validator(mode="after")
    def _labels_distinct(self) -> LRFreeSettings:
        named = [*self.workloads, *self.calibration_workloads,
                 *([self.sensitivity_workload] if self.sensitivity_workload else [])]
        by_label: dict[str, str] = {}
        for w in named:
            short = w if w in WORKLOADS else w.rpartition(":")[2]
            if by_label.setdefault(short, w) != w:
                raise ValueError(f"workloads '{by_label[short]}' and '{w}' share the name "
                                 f"'{short}' that tables and trials use; rename one function")
        return self

    def code_path(self) -> str | None:
        return self.path

    @property
    def names(self) -> list[str]:
        """The optimizers' names: a built-in's name, a user optimizer's reference."""
        return [o.ref for o in self.optimizers]

    def specs(self) -> dict[str, OptimizerSpec]:
        """name -> the optimizer's spec (defaults, calibration space, label), built-ins and
        the user's alike."""
        return {o.ref: o.spec() for o in self.optimizers}

    def proposals(self, name: str, spec: OptimizerSpec) -> int:
        """How many calibration proposals ``name`` gets: one (its defaults) when it has
        nothing to calibrate."""
        return self.calibration_trials if spec.space else 1

    def references(self) -> list[Reference]:
        """Every ``"module:name"`` this block names, for the preflight (relative to the study
        file): workloads must be ``fn(config, ctx, size=...)``, optimizers must build and take
        a step with their defaults and with a value from each calibration range."""
        out: list[Reference] = []
        seen: set[str] = set()
        named = [(("workloads", i), w) for i, w in enumerate(self.workloads)]
        named += [(("calibration_workloads", i), w)
                  for i, w in enumerate(self.calibration_workloads)]
        if self.sensitivity_workload is not None:
            named.append((("sensitivity_workload",), self.sensitivity_workload))
        for loc, w in named:
            if w not in WORKLOADS and w not in seen:
                seen.add(w)
                out.append(Reference(loc, w, "workload", workload_check(w, self.size)))
        for i, o in enumerate(self.optimizers):
            if o.ref not in OPTIMIZERS:
                loc = ("optimizers", i) + (("ref",) if o.defaults or o.space or o.label
                                           or o.lr_free is not None else ())
                out.append(Reference(loc, o.ref, "optimizer", _optimizer_check(o)))
        return out


def _optimizer_check(entry: OptimizerEntry) -> Callable[[Any], str | None]:
    """The preflight of a user's optimizer (see ``optimizers.optimizer_check``; torch is
    imported when the check runs, not when the settings are read)."""
    def check(obj: Any) -> str | None:
        from searchlab.methods.lr_free.optimizers import optimizer_check

        return optimizer_check(entry.spec())(obj)

    return check


def workload_check(ref: str, size: str) -> Callable[[Any], str | None]:
    """The preflight of a workload given by reference (given the object it names): a function
    that takes ``(config, ctx, size=...)`` and whose own preflight check (if any) passes."""
    def check(fn: Any) -> str | None:
        import inspect

        from searchlab.preflight import check_ready
        from searchlab.workloads.api import Context

        if not callable(fn):
            return f"is a {type(fn).__name__}, not a function"
        try:
            inspect.signature(fn).bind({}, Context(), size=size)
        except TypeError as e:
            return f"must accept (config, ctx, size='{size}'): {e}"
        except ValueError:
            pass  # no signature to read: let the call decide
        reason = check_ready(fn, {"size": size})
        return f"cannot run here: {reason}" if reason else None

    return check

