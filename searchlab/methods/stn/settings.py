"""The ``method: {name: stn, ...}`` block of a study file (defaults: the reference MLP setting)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from searchlab.methods.base import MethodSettings

Variant = Literal["stn", "delta_stn"]


class STNSettings(MethodSettings):
    model: Literal["mlp", "cnn", "lstm"] = Field(
        "mlp", description="mlp: 784-1200-1200-10; cnn: small conv net; lstm: character-level LM")
    data: Literal["fashion_mnist", "digits"] = Field(
        "fashion_mnist", description="image data for mlp/cnn (digits when Fashion-MNIST is absent)")
    variants: list[Variant] = Field(["stn"], min_length=1,
                                    description="stn, delta_stn (Bae & Grosse 2020), or both")
    seeds: int = Field(1, ge=1, le=1000, description="STN runs per variant")
    first_seed: int = Field(0, ge=0)
    epochs: int = Field(15, ge=1, le=10_000, description="passes over the training data")
    warmup_epochs: int = Field(5, ge=0, description="epochs of weight steps only, at the initial "
                                                    "hyperparameters (perturbed)")
    train_steps: int = Field(5, ge=1, description="weight steps per round of hyperparameter steps")
    valid_steps: int = Field(1, ge=1, description="hyperparameter steps per round")
    batch_size: int = Field(128, ge=1, le=100_000)
    lr: float = Field(0.01, gt=0, description="SGD learning rate of the weights")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum of the weights")
    clip: float | None = Field(None, gt=0, description="clip the weights' gradient norm (None: off)")
    hyper_lr: float = Field(0.01, gt=0, description="RMSprop learning rate of the hyperparameters")
    perturb_scale: float = Field(0.5, gt=0, description="initial perturbation scale (unconstrained units)")
    entropy_weight: float = Field(0.001, ge=0, description="tau: weight of the perturbation entropy")
    embed_dim: int = Field(16, ge=1, description="size of the learned hyperparameter embedding")
    rank: int | None = Field(64, ge=1, description="rank of the modulation weights of the fully "
                                                  "connected layers (None: full, as in the paper)")
    init: dict[str, float] = Field(default_factory=dict,
                                   description="initial value per hyperparameter (default: the "
                                               "range's low end plus 5% of its width)")
    train_size: int | None = Field(51_000, ge=10, description="training examples (None: all but "
                                                             "the validation set)")
    val_size: int = Field(9_000, ge=10, description="validation examples held out of training data")
    test_size: int | None = Field(None, ge=10, description="test examples (None: the whole test set)")
    seq_len: int = Field(64, ge=4, description="lstm: characters per sequence")
    corpus_chars: int = Field(400_000, ge=1000, description="lstm: characters of the corpus")
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads per trial")

    @model_validator(mode="after")
    def _warmup(self) -> STNSettings:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be below epochs "
                             f"({self.epochs}), or no hyperparameter step is ever taken")
        if len(set(self.variants)) != len(self.variants):
            raise ValueError("variants lists a variant twice")
        return self
