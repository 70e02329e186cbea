"""The ``method: {name: stn, ...}`` block of a study file (defaults: the reference MLP setting).

``model`` and ``data`` name a built-in or the user's own code by ``"package.module:name"``
reference, looked up in ``path`` (relative to the study file; default: the study file's
directory) and the installed packages (:mod:`searchlab.refs`). Reading the settings imports
nothing of the user's code, nor torch: the preflight does (:meth:`STNSettings.references`,
``STNMethod.preflight``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from searchlab import refs
from searchlab.methods.base import MethodSettings

if TYPE_CHECKING:
    from searchlab.refs import Reference

Variant = Literal["stn", "delta_stn", "plain"]
BUILTIN_MODELS = ("mlp", "cnn", "lstm")
BUILTIN_DATA = ("fashion_mnist", "digits")


class STNSettings(MethodSettings):
    model: str = Field(
        "mlp", description="mlp: 784-1200-1200-10; cnn: small conv net; lstm: character-level LM; "
                           "or 'package.module:Class', your StnModel (docs/stn.md)")
    model_args: dict[str, Any] = Field(default_factory=dict,
                                       description="keyword arguments for your model's class")
    data: str = Field(
        "fashion_mnist", description="image data for mlp/cnn (digits when Fashion-MNIST is "
                                     "absent), or 'package.module:function' returning a Split")
    data_args: dict[str, Any] = Field(default_factory=dict,
                                      description="keyword arguments for your data function")
    path: str | None = Field(None, validate_default=True,
                             description="directory of your code, put on sys.path (relative "
                                         "paths start at the study file; default: its directory)")
    variants: list[Variant] = Field(
        ["stn", "plain"], min_length=1,
        description="stn, delta_stn (Bae & Grosse 2020), plain (the plain network trained at the "
                    "initial values, the baseline the summary compares with)")
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
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="the weights' learning rate: constant, or cosine decay to 0")
    clip: float | None = Field(None, gt=0,
                               description="clip the weights' gradient norm (None: off)")
    hyper_lr: float = Field(0.01, gt=0, description="RMSprop learning rate of the hyperparameters")
    perturb_scale: float = Field(0.5, gt=0,
                                 description="initial perturbation scale (unconstrained units)")
    entropy_weight: float = Field(0.001, ge=0,
                                  description="tau: weight of the perturbation entropy")
    embed_dim: int = Field(16, ge=1, description="size of the learned hyperparameter embedding")
    rank: int | None = Field(64, ge=1, description="rank of the modulation weights of the fully "
                                                  "connected layers (None: full, as in the paper)")
    init: dict[str, float] = Field(default_factory=dict,
                                   description="initial value per hyperparameter (default: the "
                                               "range's low end plus 5% of its width)")
    train_size: int | None = Field(51_000, ge=10, description="training examples (None: all but "
                                                             "the validation set)")
    val_size: int = Field(9_000, ge=10, description="validation examples held out of training data")
    val_from: Literal["random", "end"] = Field(
        "random", description="built-in images: the validation examples drawn at random (seed 0), "
                              "or the last val_size of the training file (the reference code's "
                              "split, a harder validation set on Fashion-MNIST; docs/stn.md)")
    test_size: int | None = Field(None, ge=10,
                                  description="test examples (None: the whole test set)")
    seq_len: int = Field(64, ge=4, description="lstm: characters per sequence")
    corpus_chars: int = Field(400_000, ge=1000, description="lstm: characters of the corpus")
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads per trial")

    @field_validator("model")
    @classmethod
    def _model_ref(cls, v: str) -> str:
        if v not in BUILTIN_MODELS and not _is_ref(v):
            raise ValueError(f"model '{v}' is neither a built-in ({', '.join(BUILTIN_MODELS)}) "
                             "nor 'package.module:Class'")
        return v

    @field_validator("data")
    @classmethod
    def _data_ref(cls, v: str) -> str:
        if v not in BUILTIN_DATA and not _is_ref(v):
            raise ValueError(f"data '{v}' is neither a built-in ({', '.join(BUILTIN_DATA)}) "
                             "nor 'package.module:function'")
        return v

    @field_validator("path")
    @classmethod
    def _folder(cls, v: str | None, info: ValidationInfo) -> str | None:
        """An absolute directory, so the trials find the code wherever they run: ``path``
        relative to the study file, or (a model or data given by reference and no ``path``)
        the study file's directory. None for built-ins only."""
        user = any(refs.is_ref(str(info.data.get(k, ""))) for k in ("model", "data"))
        if v is None and not user:
            return None
        study_file = refs.study_file_of(info.context)
        return str(refs.locate(v, study_file, directory=True) if v else refs.study_dir(study_file))

    def code_path(self) -> str | None:
        return self.path

    def references(self) -> list[Reference]:
        """The user's model class and data function, for the preflight (which then builds the
        model and runs it on two examples: ``STNMethod.preflight``)."""
        out = []
        if self.user_model:
            out.append(refs.Reference(("model",), self.model, "model", _model_check))
        if self.user_data:
            out.append(refs.Reference(("data",), self.data, "data", _data_check))
        return out

    @property
    def user_model(self) -> bool:
        return self.model not in BUILTIN_MODELS

    @property
    def user_data(self) -> bool:
        return self.data not in BUILTIN_DATA

    @model_validator(mode="after")
    def _warmup(self) -> STNSettings:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be below epochs "
                             f"({self.epochs}), or no hyperparameter step is ever taken")
        if len(set(self.variants)) != len(self.variants):
            raise ValueError("variants lists a variant twice")
        if self.model_args and not self.user_model:
            raise ValueError(f"model_args are for your own model class; model '{self.model}' is "
                             "built in")
        if self.data_args and not self.user_data:
            raise ValueError(f"data_args are for your own data function; data '{self.data}' is "
                             "built in")
        if self.model == "lstm" and self.data != "fashion_mnist":
            raise ValueError("model 'lstm' reads its own text corpus; remove 'data'")
        return self


def _is_ref(text: str) -> bool:
    return refs.is_ref(text)


def _model_check(obj: Any) -> str | None:
    from searchlab.methods.stn.models import StnModel  # torch: at the preflight, not at reading

    if not (isinstance(obj, type) and issubclass(obj, StnModel)):
        return "not a subclass of searchlab.stn.StnModel"
    return None


def _data_check(obj: Any) -> str | None:
    return None if callable(obj) else "not a function returning a searchlab.stn.Split"
