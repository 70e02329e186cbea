"""What an STN run trains: its data (:class:`Split`) and its model, built in or the user's own.

``method.model`` is ``mlp``, ``cnn``, ``lstm`` or ``"package.module:Class"``, a subclass of
:class:`~searchlab.methods.stn.models.StnModel` built as
``Class(n_hyper, embed_dim=..., rank=..., hyper=..., **method.model_args)``. ``method.data`` is
``fashion_mnist``/``digits`` (images; digits when Fashion-MNIST is absent) or
``"package.module:function"``, called as ``function(**method.data_args)`` and returning a
:class:`Split`. References are looked up in ``method.path`` first (see :mod:`searchlab.refs`).

:func:`check_problem` is the preflight: it imports the user's code, loads the data, builds both
networks and runs one training and one evaluation pass on two examples, so that a mistake is one
line before anything starts rather than a failed trial.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
import torch

from searchlab.methods.stn.models import MODELS, StnModel
from searchlab.methods.stn.settings import STNSettings

if TYPE_CHECKING:
    from searchlab.methods.stn.hyper import HyperSpec


@dataclass(frozen=True)
class Split:
    """Train / validation (/ test) tensors and the data set's name. ``x_*``: inputs, first
    dimension the examples; ``y_*``: int64 class labels (B,) (or (B, T) for sequences). The test
    set is optional: without it no test metrics are reported."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None

    def to(self, device: str) -> Split:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in moved.items():
            if isinstance(v, torch.Tensor):
                moved[k] = v.to(device)
        return Split(**moved)

    @property
    def has_test(self) -> bool:
        return self.x_test is not None and self.y_test is not None


def load_split(s: STNSettings) -> Split:
    """The run's data: the user's data function, character sequences (lstm), or images
    (normalised with Fashion-MNIST's mean and std, as the reference does; validation out of the
    training set, a fixed random split with seed 0 or its last examples (``val_from``); the test
    set is the data set's own)."""
    if s.user_data:
        return _user_data(s)
    if s.model == "lstm":
        return _text_split(s)
    from searchlab.workloads.datasets import FASHION_MEAN, FASHION_STD, image_classification

    d = image_classification(s.data)
    x = (torch.from_numpy(d.x_train) - FASHION_MEAN) / FASHION_STD
    xt = (torch.from_numpy(d.x_test) - FASHION_MEAN) / FASHION_STD
    y, yt = torch.from_numpy(d.y_train), torch.from_numpy(d.y_test)
    n_val = min(s.val_size, len(x) // 5) if d.name == "digits" else s.val_size
    n_train = len(x) - n_val if s.train_size is None else min(s.train_size, len(x) - n_val)
    if s.val_from == "end":  # the file's order: the first examples train, the last validate
        idx = torch.arange(len(x))
        tr, va = idx[:n_train], idx[len(x) - n_val:]
    else:
        idx = torch.from_numpy(np.random.default_rng(0).permutation(len(x)))
        tr, va = idx[n_val:n_val + n_train], idx[:n_val]
    n_test = len(xt) if s.test_size is None else min(s.test_size, len(xt))
    return Split(d.name, x[tr], y[tr], x[va], y[va], xt[:n_test], yt[:n_test])


def _text_split(s: STNSettings) -> Split:
    from searchlab.workloads.datasets import text_corpus

    codes = np.frombuffer(text_corpus(s.corpus_chars).encode("ascii"), dtype=np.uint8) % 128
    n = (len(codes) - 1) // s.seq_len
    x = torch.from_numpy(codes[:n * s.seq_len].astype(np.int64)).view(n, s.seq_len)
    y = torch.from_numpy(codes[1:n * s.seq_len + 1].astype(np.int64)).view(n, s.seq_len)
    n_test = n // 10
    n_val = min(s.val_size, n // 10)
    n_train = n - n_val - n_test if s.train_size is None else min(s.train_size, n - n_val - n_test)
    a, b = n_train, n_train + n_val
    return Split("stdlib_text", x[:a], y[:a], x[a:b], y[a:b], x[-n_test:], y[-n_test:])


def _resolve(ref: str, s: STNSettings) -> object:
    from searchlab.refs import import_ref

    return import_ref(ref, s.path)  # s.path is absolute: the settings resolved it (settings.py)


def model_class(s: STNSettings) -> type[StnModel]:
    """The model's class: a built-in, or the user's ``StnModel`` subclass."""
    if not s.user_model:
        return MODELS[s.model]
    cls = _resolve(s.model, s)
    if not (isinstance(cls, type) and issubclass(cls, StnModel)):
        raise ValueError(f"model '{s.model}' is not a subclass of searchlab.stn.StnModel")
    return cls


def _user_data(s: STNSettings) -> Split:
    fn = _resolve(s.data, s)
    if not callable(fn):
        raise ValueError(f"data '{s.data}' is not a function")
    try:
        split = fn(**s.data_args)
    except TypeError as e:
        raise ValueError(f"data '{s.data}' cannot be called with data_args "
                         f"{sorted(s.data_args)}: {e}") from None
    if not isinstance(split, Split):
        raise ValueError(f"data '{s.data}' returned {type(split).__name__}, not a "
                         "searchlab.stn.Split")
    for part in ("train", "val", "test"):
        x, y = getattr(split, f"x_{part}"), getattr(split, f"y_{part}")
        if part == "test" and x is None and y is None:
            continue
        if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
            raise ValueError(f"data '{s.data}': x_{part} and y_{part} must be torch tensors")
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(f"data '{s.data}': x_{part} has {len(x)} examples and y_{part} "
                             f"{len(y)}; they must agree and not be empty")
    return split


def build_model(s: STNSettings, split: Split, n_hyper: int, hyper: bool) -> StnModel:
    """The model of ``s``: an STN (``hyper=True``) or the plain network."""
    if s.user_model:
        cls = model_class(s)
        try:
            return cls(n_hyper, embed_dim=s.embed_dim, rank=s.rank, hyper=hyper, **s.model_args)
        except TypeError as e:
            raise ValueError(f"model '{s.model}' cannot be built as {cls.__name__}(n_hyper, "
                             f"embed_dim=, rank=, hyper=, **model_args): {e}") from None
    if s.model == "mlp":
        side = split.x_train.shape[-1]
        return MODELS["mlp"](n_hyper, inputs=side * side, embed_dim=s.embed_dim, rank=s.rank,
                             hyper=hyper)
    if s.model == "cnn":
        return MODELS["cnn"](n_hyper, side=split.x_train.shape[-1], embed_dim=s.embed_dim,
                             rank=s.rank, hyper=hyper)
    return MODELS["lstm"](n_hyper, embed_dim=s.embed_dim, rank=s.rank, hyper=hyper)


def check_problem(s: STNSettings, specs: list[HyperSpec]) -> None:
    """Preflight for a user's model or data: ValueError (one line, ``loc`` set to the key) when
    the code does not import, the names do not fit, or one pass on two examples fails."""
    from searchlab.methods.base import invalid

    try:
        cls = model_class(s)
    except ValueError as e:
        raise invalid(str(e), "method", "model") from None
    tunable = cls.tunable()
    for spec in specs:
        if spec.name not in tunable:
            raise invalid(f"space parameter '{spec.name}': model '{s.model}' does not read it; "
                          f"it tunes {', '.join(sorted(tunable))} (its HYPERS)", "space",
                          spec.name)
        if spec.discrete != (spec.name in cls.DISCRETE):
            want = "{int: [low, high]}" if spec.name in cls.DISCRETE else \
                "{uniform: [a, b]} or {loguniform: [a, b]}"
            raise invalid(f"space parameter '{spec.name}': model '{s.model}' declares it "
                          f"{'discrete' if spec.name in cls.DISCRETE else 'continuous'}; "
                          f"use {want}", "space", spec.name)
    try:
        split = load_split(s)
    except ValueError as e:
        raise invalid(str(e), "method", "data") from None
    except Exception as e:  # noqa: BLE001 - the user's data function raised
        raise invalid(f"data '{s.data}' raised {type(e).__name__}: {_first(e)}", "method",
                      "data") from None
    from searchlab.methods.stn.hyper import Hyperparameters

    x, y = split.x_train[:2], split.y_train[:2]
    try:
        hyp = Hyperparameters(specs, s.perturb_scale)
        for hyper in (True, False):
            model = build_model(s, split, hyp.size, hyper)
            h = hyp.sample(len(x), perturb=True, centred=False)
            e = model.embedding(h.net_input) if hyper else None
            model.train()
            out, loss_fn = model.train_forward(x, y, h.values, e)
            losses = loss_fn(out)
            if losses.shape != (len(x),):
                raise ValueError(f"model '{s.model}': the training loss has shape "
                                 f"{tuple(losses.shape)}, not one value per example ({len(x)},)")
            losses.mean().backward()
            model.eval()
            with torch.no_grad():
                val = model.loss(model.logits(x, e), y)
            if val.shape != (len(x),):
                raise ValueError(f"model '{s.model}': loss() has shape {tuple(val.shape)}, not "
                                 f"one value per example ({len(x)},)")
    except ValueError as e:
        raise invalid(str(e), "method", "model") from None
    except Exception as e:  # noqa: BLE001 - the user's model raised on two examples
        raise invalid(f"model '{s.model}' failed on two training examples: "
                      f"{type(e).__name__}: {_first(e)}", "method", "model") from None


def _first(e: BaseException) -> str:
    return (str(e).splitlines() or [""])[0][:300]
