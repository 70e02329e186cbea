"""Settings: one GA run (:class:`GAConfig`, also a trial's config) and the ``method:`` block."""

from __future__ import annotations

import importlib.util
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from searchlab.methods.base import MethodSettings
from searchlab.methods.deep_ga.envs import ENV_NAMES


class GAConfig(BaseModel):
    """One GA run (Such et al. 2017, Algorithm 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str = Field("CartPole-v1", description=f"environment: one of {', '.join(ENV_NAMES)}")
    hidden: tuple[int, ...] = Field((), description="hidden layer widths of the MLP policy ([]: linear)")
    activation: Literal["tanh", "relu"] = Field("tanh", description="hidden-layer nonlinearity")
    population: int = Field(256, ge=2, le=1_000_000, description="N, individuals per generation (the elite included)")
    truncation: int = Field(20, ge=1, description="T, the top individuals that become parents")
    sigma: float = Field(0.05, gt=0, le=10, description="mutation power: theta' = theta + sigma * N(0, I)")
    episodes: int = Field(1, ge=1, le=1000, description="episodes per individual per generation")
    elite_candidates: int = Field(10, ge=1, description="top individuals (and the old elite) re-evaluated to pick the elite")
    elite_episodes: int = Field(30, ge=0, le=10_000, description="extra episodes per elite candidate (0: elite = best score)")
    generations: int = Field(100, ge=1, le=1_000_000, description="generation budget")
    max_frames: int | None = Field(None, ge=1, description="frame budget (environment steps, elite re-evaluation included)")
    target_score: float | None = Field(None, description="stop once the elite's re-evaluated score reaches this")
    max_steps: int | None = Field(None, ge=1, description="episode length cap (default: the environment's own)")
    novelty_weight: float = Field(0.0, ge=0, le=1, description="0: reward only (GA), 1: novelty only (GA-NS), between: rank mix")
    novelty_k: int = Field(10, ge=1, description="nearest neighbours in the novelty score")
    archive_prob: float = Field(0.01, ge=0, le=1, description="chance that an evaluated individual enters the archive")
    final_episodes: int = Field(100, ge=0, le=100_000, description="episodes to evaluate the last elite on (final_score)")
    backend: Literal["numpy", "torch"] = Field("numpy", description="forward pass: numpy (CPU) or torch (cuda when the trial has a GPU)")
    cache_mb: int = Field(256, ge=1, description="per-worker cache of rebuilt parameter vectors, MiB")

    @field_validator("env")
    @classmethod
    def _known_env(cls, v: str) -> str:
        if v not in ENV_NAMES:
            raise ValueError(f"unknown environment {v!r}; choose one of {', '.join(ENV_NAMES)}")
        if v.startswith("atari:") and importlib.util.find_spec("ale_py") is None:
            raise ValueError(f"{v} needs the ale-py package: pip install 'searchlab[atari]'")
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
            raise ValueError(f"truncation ({self.truncation}) must not exceed population ({self.population})")
        return self


class DeepGASettings(MethodSettings, GAConfig):
    """``method: {name: deep_ga, ...}``: the GA settings and how many runs. A run's evaluation
    pool is the study's ``resources`` block (``workers``, ``worker_cpu``, ``worker_gpu``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seeds: int = Field(1, ge=1, le=10_000, description="GA runs (one trial each, seeds first_seed...) when there is no space")
    first_seed: int = Field(0, ge=0, description="seed of the first run")

    def ga_config(self) -> dict:
        """The GA fields as a flat, JSON-able trial config."""
        data = self.model_dump(include=set(GAConfig.model_fields))
        data["hidden"] = list(data["hidden"])
        return data
