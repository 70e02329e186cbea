"""The ``method: {name: lr_free, ...}`` block of a study file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from searchlab.methods.base import MethodSettings

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


class LRFreeSettings(MethodSettings):
    """Learning-rate-free optimizers against calibrated baselines, scored the AlgoPerf way."""

    optimizers: list[str] = Field(
        default_factory=lambda: list(OPTIMIZERS),
        description=f"optimizers to compare; any of: {', '.join(OPTIMIZERS)}")
    calibration_workloads: list[str] = Field(
        default_factory=lambda: ["tabular", "forecast"],
        description="workloads the calibration is scored on (built-in names or 'module:function')")
    workloads: list[str] = Field(
        default_factory=lambda: list(WORKLOADS),
        description="workloads of the scoring phase; those not calibrated on are the held-out set")
    size: Literal["small", "full"] = Field(
        "small", description="workload size: small (CPU, seconds) or full (GPU)")
    calibration_trials: int = Field(
        8, ge=1, le=1000,
        description="configurations proposed per optimizer (the first is the literature defaults)")
    calibration_parallel: int = Field(
        2, ge=1, le=100, description="configurations per optimizer evaluated at once")
    sampler: Literal["tpe", "random"] = Field("tpe", description="Optuna sampler of the calibration")
    repeats: int = Field(3, ge=1, le=100, description="repeated studies (seeds) per scored run")
    sensitivity_workload: str | None = Field(
        "forecast", description="workload of the learning-rate sweep of the baselines (None: skip)")
    sensitivity_lrs: list[float] = Field(
        default_factory=lambda: [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0],
        description="learning rates of the sweep")
    max_tau: float = Field(4.0, gt=1.0, description="the performance profile's tau cut-off")
    max_evaluations: int = Field(
        1000, ge=1, description="request length for workloads given by reference")
    seed: int = Field(0, description="seed of the calibration samplers; repeat r uses seed r")

    @field_validator("optimizers")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [o for o in v if o not in OPTIMIZERS]
        if unknown:
            raise ValueError(f"unknown optimizer {unknown[0]!r}; use any of: {', '.join(OPTIMIZERS)}")
        if not v or len(set(v)) != len(v):
            raise ValueError("optimizers must be a non-empty list without repeats")
        return v

    @field_validator("calibration_workloads", "workloads")
    @classmethod
    def _workloads(cls, v: list[str]) -> list[str]:
        for w in v:
            if w not in WORKLOADS and ":" not in w:
                raise ValueError(f"unknown workload {w!r}; use a built-in ({', '.join(WORKLOADS)}) "
                                 "or 'package.module:function'")
        if len(set(v)) != len(v):
            raise ValueError("a workload is listed twice")
        return v

    @model_validator(mode="after")
    def _nonempty(self) -> LRFreeSettings:
        if not self.workloads:
            raise ValueError("workloads must name at least one workload to score")
        return self
