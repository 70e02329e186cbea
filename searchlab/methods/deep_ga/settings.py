"""Settings: one GA run (:class:`GAConfig`, also a trial's config) and the ``method:`` block."""

from __future__ import annotations

import importlib.util
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from searchlab import refs
from searchlab.methods.base import MethodSettings
from searchlab.methods.deep_ga.envs import ENV_NAMES, is_builtin

# a Gymnasium id as written (``Pendulum-v1``, ``ALE/Pong-v5``, ``module:EnvId-v0``); whether it is
# registered is checked before the study starts (preflight), not when the file is read
_GYM_ID = re.compile(r"^[A-Za-z0-9_.:/-]+$")
#: the keys that name the user's code (resolved from ``path``)
REF_KEYS = ("env", "policy", "behavior")


class GAConfig(BaseModel):
    """One GA run (Such et al. 2017, Algorithm 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(None, description=(
        "directory holding your modules (env, policy, behavior), put first on sys.path; "
        "relative paths start at the study file's directory (default: that directory)"))

    env: str = Field("CartPole-v1", description=(
        f"environment: a built-in ({', '.join(ENV_NAMES)}), a registered Gymnasium id "
        "(Pendulum-v1, LunarLander-v3, module:EnvId-v0), or your factory "
        "'package.module:function' returning a gymnasium.Env"))
    env_args: dict[str, Any] = Field(default_factory=dict, description=(
        "keyword arguments for gymnasium.make or your factory (e.g. {continuous: true})"))
    policy: str | None = Field(None, description=(
        "your torch module factory 'package.module:function', called as "
        "function(observation_space, action_space) (default: searchlab's MLP, `hidden`)"))
    behavior: str | None = Field(None, description=(
        "your behaviour characterization for novelty search, 'package.module:function' called "
        "as function(observations, rewards) per episode (default: the final observation)"))
    vectorize: Literal["auto", "rows", "vector"] = Field("auto", description=(
        "Gymnasium environments: rows (one env per row), vector (the env's own vector form), "
        "auto (vector where the id has one)"))
    hidden: tuple[int, ...] = Field((),
                                    description="hidden layer widths of the MLP policy ([]: "
                                                "linear)")
    activation: Literal["tanh", "relu"] = Field("tanh", description="hidden-layer nonlinearity")
    population: int = Field(256, ge=2, le=1_000_000,
                            description="N, individuals per generation (the elite included)")
    truncation: int = Field(20, ge=1, description="T, the top individuals that become parents")
    sigma: float = Field(0.05, gt=0, le=10,
                         description="mutation power: theta' = theta + sigma * N(0, I)")
    episodes: int = Field(1, ge=1, le=1000, description="episodes per individual per generation")
    elite_candidates: int = Field(10, ge=1,
                                  description="top individuals (and the old elite) re-evaluated to "
                                              "pick the elite")
    elite_episodes: int = Field(30, ge=0, le=10_000,
                                description="extra episodes per elite candidate (0: elite = best "
                                            "score)")
    generations: int = Field(100, ge=1, le=1_000_000, description="generation budget")
    max_frames: int | None = Field(None, ge=1,
                                   description="frame budget (environment steps, elite "
                                               "re-evaluation included)")
    target_score: float | None = Field(None,
                                       description="stop once the elite's re-evaluated score "
                                                   "reaches this")
    max_steps: int | None = Field(None, ge=1,
                                  description="episode length cap (default: the environment's own)")
    novelty_weight: float = Field(0.0, ge=0, le=1,
                                  description="0: reward only (GA), 1: novelty only (GA-NS), "
                                              "between: rank mix")
    novelty_k: int = Field(10, ge=1, description="nearest neighbours in the novelty score")
    archive_prob: float = Field(0.01, ge=0, le=1,
                                description="chance that an evaluated individual enters the "
                                            "archive")
    final_episodes: int = Field(100, ge=0, le=100_000,
                                description="episodes to evaluate the last elite on (final_score)")
    backend: Literal["numpy", "torch"] = Field("numpy",
                                               description="forward pass: numpy (CPU) or torch "
                                                           "(cuda when the trial has a GPU)")
    cache_mb: int = Field(256, ge=1,
                          description="per-worker cache of rebuilt parameter vectors, MiB")

    @field_validator("env")
    @classmethod
    def _known_env(cls, v: str) -> str:
        if is_builtin(v) and v not in ENV_NAMES:
            family = v.split(":", 1)[0]
            names = [n for n in ENV_NAMES if n.startswith(family + ":")]
            raise ValueError(f"unknown environment {v!r}; {family}: has {', '.join(names)}")
        if v.startswith("atari:") and importlib.util.find_spec("ale_py") is None:
            raise ValueError(f"{v} needs the ale-py package: pip install 'searchlab[atari]'")
        if not is_builtin(v) and not _GYM_ID.match(v):
            raise ValueError(f"env {v!r} is neither a built-in ({', '.join(ENV_NAMES[:3])}, "
                             "...), a Gymnasium id (Pendulum-v1) nor 'package.module:function'")
        return v

    @field_validator("policy", "behavior")
    @classmethod
    def _ref_form(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and not refs.is_ref(v):
            raise ValueError(f"{info.field_name} must be 'package.module:name' (a module "
                             "importable from the study file's directory or 'path'), not "
                             f"{v!r}")
        return v

    @field_validator("hidden")
    @classmethod
    def _widths(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(w < 1 for w in v):
            raise ValueError(f"hidden layer widths must be positive, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> GAConfig:
        if self.truncation > self.population:
            raise ValueError(f"truncation ({self.truncation}) must not exceed population "
                             f"({self.population})")
        given = self.model_fields_set
        if self.policy is not None and given & {"hidden", "activation"}:
            raise ValueError("hidden and activation shape searchlab's MLP; with policy: your "
                             "module decides its own layers (remove them)")
        if is_builtin(self.env):
            extra = sorted(given & {"env_args", "behavior", "vectorize"})
            if extra:
                raise ValueError(f"{', '.join(extra)} apply to Gymnasium environments and your "
                                 f"factories; {self.env} is a built-in (remove them)")
        return self

    @property
    def uses_code(self) -> bool:
        """Whether a key names the user's code (so ``path`` matters)."""
        return (self.policy is not None or self.behavior is not None
                or (not is_builtin(self.env) and ":" in self.env))


class DeepGASettings(MethodSettings, GAConfig):
    """``method: {name: deep_ga, ...}``: the GA settings and how many runs. A run's evaluation
    pool is the study's ``resources`` block (``workers``, ``worker_cpu``, ``worker_gpu``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seeds: int = Field(1, ge=1, le=10_000,
                       description="GA runs (one trial each, seeds first_seed...) when there is no "
                                   "space")
    first_seed: int = Field(0, ge=0, description="seed of the first run")
    path: str | None = Field(None, validate_default=True, description=(
        "directory holding your modules (env, policy, behavior), put first on sys.path; "
        "relative paths start at the study file's directory (default: that directory)"))

    @field_validator("path")
    @classmethod
    def _code_dir(cls, v: str | None, info: ValidationInfo) -> str:
        """The directory made absolute when the study file is read, so that trials and pool
        workers anywhere import the user's modules from it (:mod:`searchlab.refs`)."""
        study_file = refs.study_file_of(info.context)
        return str(refs.locate(v, study_file, directory=True) if v
                   else refs.study_dir(study_file))

    def code_path(self) -> str | None:
        return self.path

    def references(self) -> list[refs.Reference]:
        """The policy and behaviour functions, for the preflight (an ``env`` reference may be
        a Gymnasium id its module registers, so the method's preflight imports that one)."""
        return [refs.Reference((key,), ref, key, _callable)
                for key, ref in (("policy", self.policy), ("behavior", self.behavior))
                if ref is not None]

    def ga_config(self) -> dict:
        """The GA fields as a flat, JSON-able trial config. The keys for Gymnasium and the
        user's code appear only when set (a CartPole run's config is what it always was), and
        ``path`` only when a key names the user's code."""
        data = self.model_dump(include=set(GAConfig.model_fields))
        data["hidden"] = list(data["hidden"])
        for key, default in (("env_args", {}), ("policy", None), ("behavior", None),
                             ("vectorize", "auto")):
            if data[key] == default:
                del data[key]
        if not self.uses_code:
            del data["path"]
        if self.policy is not None:  # the user's module has its own layers
            del data["hidden"], data["activation"]
        return data


def _callable(obj: object) -> str | None:
    return None if callable(obj) else f"is not callable (a {type(obj).__name__})"
