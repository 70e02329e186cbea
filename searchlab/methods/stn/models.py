"""The STN model protocol (:class:`StnModel`) and the three built-in models: the paper's MLP, a
small CNN, and a character-level LSTM language model.

Every model is built either as an STN (``hyper=True``: STN layers and a hyperparameter embedding)
or as the plain network with the same base layers (``hyper=False``) for fixed-value training.
A user's own model is written the same way (docs/stn.md, "On your own problem"):

- ``HYPERS``: name -> description of every hyperparameter the model reads (a study may tune any
  of them, plus ``weight_decay``, which the trainer applies); ``DISCRETE``: those that are
  integers (``int`` ranges, tuned with REINFORCE).
- ``__init__(n_hyper, *, embed_dim, rank, hyper, **model_args)``: call
  ``super().__init__(n_hyper, embed_dim, hyper)`` and build STN layers with ``hyper=self.hyper``.
- ``forward(x, values, e)``: the network. ``values`` maps each tuned (or fixed) hyperparameter
  to a (B,) tensor, one value per example; a name that is absent is off (validation and test
  data see none: the clean network). ``e`` is the hyperparameter embedding every STN layer
  takes (None for the plain network).
- ``train_forward(x, y, values, e)`` (optional): the training pass, returning the logits and the
  per-example training loss as a function of them (kept apart so that Delta-STN can apply the
  loss to linearised logits). Override it for augmentations and for regularisers that act on
  the loss (label smoothing, mixup). ``loss(out, y)`` is the validation loss (per-example
  cross-entropy by default), ``correct(out, y)`` the per-example accuracy.

The trainer switches ``model.train()`` (weight steps) and ``model.eval()`` (hyperparameter steps,
evaluation), so batch normalisation behaves as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from searchlab.methods.stn import augment
from searchlab.methods.stn.layers import (
    HyperEmbedding,
    StnConv2d,
    StnLinear,
    StnLSTMCell,
    _Modulated,
    example_dropout,
)

LossFn = Callable[[torch.Tensor], torch.Tensor]

COMMON = {"weight_decay": "L2 penalty on the weights (applied by the trainer)"}


class StnModel(nn.Module):
    """Base class of every STN model (see the module docstring for the protocol)."""

    HYPERS: ClassVar[dict[str, str]] = {}
    DISCRETE: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, n_hyper: int, embed_dim: int = 16, hyper: bool = True) -> None:
        super().__init__()
        self.hyper = hyper and n_hyper > 0
        self.embed = HyperEmbedding(n_hyper, embed_dim) if self.hyper else None

    @classmethod
    def tunable(cls) -> dict[str, str]:
        """Every hyperparameter a study may tune on this model: ``HYPERS`` and ``weight_decay``."""
        return {**cls.HYPERS, **COMMON}

    def embedding(self, net_input: torch.Tensor | None) -> torch.Tensor | None:
        return None if self.embed is None or net_input is None else self.embed(net_input)

    def response_parameters(self) -> list[nn.Parameter]:
        """The embedding and every STN layer's response weights (Delta-STN trains these on the
        linearised loss, the rest on the loss of the unmodulated network)."""
        params = list(self.embed.parameters()) if self.embed is not None else []
        for m in self.modules():
            if isinstance(m, _Modulated):
                params += m.response_parameters()
        return params

    def decayed_parameters(self) -> list[nn.Parameter]:
        """The weight matrices and kernels (what weight decay applies to)."""
        return [p for p in self.parameters() if p.dim() >= 2]

    def forward(self, x: torch.Tensor, values: dict[str, torch.Tensor],
                e: torch.Tensor | None) -> torch.Tensor:
        """The network at per-example hyperparameters ``values`` (absent names: off)."""
        raise NotImplementedError

    def train_forward(self, x: torch.Tensor, y: torch.Tensor, values: dict[str, torch.Tensor],
                      e: torch.Tensor | None) -> tuple[torch.Tensor, LossFn]:
        """Regularised forward pass: the logits and the per-example loss as a function of them
        (kept apart so that Delta-STN can apply the loss to linearised logits)."""
        return self(x, values, e), lambda out: self.loss(out, y)

    def logits(self, x: torch.Tensor, e: torch.Tensor | None) -> torch.Tensor:
        """The clean forward pass (no regularisation), for validation and test data."""
        return self(x, {}, e)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example cross-entropy (mean over time for sequences)."""
        if out.dim() == 3:
            return F.cross_entropy(out.transpose(1, 2), y, reduction="none").mean(1)
        return F.cross_entropy(out, y, reduction="none")

    def correct(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example accuracy (fraction of characters for sequences)."""
        hit = (out.argmax(-1) == y).float()
        return hit.mean(1) if hit.dim() == 2 else hit

    @staticmethod
    def drop(x: torch.Tensor, values: dict[str, torch.Tensor], name: str,
             shared_dims: tuple[int, ...] = ()) -> torch.Tensor:
        """Dropout at the place named ``name``: inverted dropout at each example's rate when
        ``name`` is in ``values``, else ``x`` unchanged. ``shared_dims`` share the mask along
        those dimensions ((2, 3): whole channels of an image; (1,): a sequence's time steps)."""
        return example_dropout(x, values[name], shared_dims=shared_dims) if name in values else x


_drop = StnModel.drop


class MLP(StnModel):
    """784-1200-1200-10 with dropout on the input and after each hidden layer (all three used)."""

    HYPERS = {"dropout_in": "input dropout", "dropout1": "dropout after hidden layer 1",
              "dropout2": "dropout after hidden layer 2", "noise": "Gaussian input noise", **COMMON}

    def __init__(self, n_hyper: int, *, inputs: int = 784, hidden: int = 1200, classes: int = 10,
                 embed_dim: int = 16, rank: int | None = None, hyper: bool = True) -> None:
        super().__init__(n_hyper, embed_dim, hyper)
        h = self.hyper
        self.fc1 = StnLinear(inputs, hidden, embed_dim, rank=rank, hyper=h)
        self.fc2 = StnLinear(hidden, hidden, embed_dim, rank=rank, hyper=h)
        self.fc3 = StnLinear(hidden, classes, embed_dim, rank=rank, hyper=h)

    def forward(self, x: torch.Tensor, values: dict[str, torch.Tensor],
                e: torch.Tensor | None) -> torch.Tensor:
        x = x.flatten(1)
        if "noise" in values:
            x = x + torch.randn_like(x) * values["noise"][:, None]
        x = _drop(x, values, "dropout_in")
        x = _drop(F.relu(self.fc1(x, e)), values, "dropout1")
        x = _drop(F.relu(self.fc2(x, e)), values, "dropout2")
        return self.fc3(x, e)



class CNN(StnModel):
    """Two 3x3 conv layers (max-pooled) and two fully connected layers, with input augmentation."""

    HYPERS = {"noise": "Gaussian pixel noise", "shift": "random shift in pixels",
              "cutout_length": "cutout square side in pixels",
              "cutout_holes": "number of cutout holes",
              "cutmix_prob": "probability of CutMix",
              "dropout_conv": "dropout after the conv layers",
              "dropout_fc": "dropout after the hidden fully connected layer", **COMMON}
    DISCRETE = frozenset({"cutout_holes"})

    def __init__(self, n_hyper: int, *, side: int = 28, channels: tuple[int, int] = (16, 32),
                 hidden: int = 128, classes: int = 10, embed_dim: int = 16,
                 rank: int | None = None, hyper: bool = True, max_holes: int = 4) -> None:
        super().__init__(n_hyper, embed_dim, hyper)
        h, (c1, c2) = self.hyper, channels
        self.max_holes = max_holes
        self.conv1 = StnConv2d(1, c1, 3, embed_dim, padding=1, hyper=h)
        self.conv2 = StnConv2d(c1, c2, 3, embed_dim, padding=1, hyper=h)
        self.fc1 = StnLinear(c2 * (side // 4) ** 2, hidden, embed_dim, rank=rank, hyper=h)
        self.fc2 = StnLinear(hidden, classes, embed_dim, hyper=h)

    def forward(self, x, values, e):
        x = F.max_pool2d(F.relu(self.conv1(x, e)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x, e)), 2)
        x = _drop(x, values, "dropout_conv", shared_dims=(2, 3))
        x = _drop(F.relu(self.fc1(x.flatten(1), e)), values, "dropout_fc")
        return self.fc2(x, e)

    def train_forward(self, x, y, values, e):
        if "noise" in values:
            x = augment.gaussian_noise(x, values["noise"])
        if "shift" in values:
            x = augment.random_shift(x, values["shift"])
        if "cutout_length" in values or "cutout_holes" in values:
            length = values.get("cutout_length", torch.full_like(y, 8, dtype=x.dtype))
            holes = values.get("cutout_holes", torch.ones_like(y, dtype=x.dtype))
            x = augment.cutout(x, length, holes, self.max_holes)
        y2, lam = y, None
        if "cutmix_prob" in values:
            x, y, y2, lam = augment.cutmix(x, y, values["cutmix_prob"])
        out = self(x, values, e)
        if lam is None:
            return out, lambda o: self.loss(o, y)
        return out, lambda o: lam * self.loss(o, y) + (1 - lam) * self.loss(o, y2)


class CharLSTM(StnModel):
    """Character-level language model: embedding, one STN LSTM cell unrolled over time, output
    layer; dropout on the embeddings, the hidden state between steps (one mask per sequence) and
    the outputs."""

    HYPERS = {"dropout_in": "embedding dropout",
              "dropout_hidden": "recurrent (variational) dropout",
              "dropout_out": "output dropout", **COMMON}

    def __init__(self, n_hyper: int, *, vocab: int = 128, emb: int = 32, hidden: int = 128,
                 embed_dim: int = 16, hyper: bool = True, rank: int | None = None) -> None:
        super().__init__(n_hyper, embed_dim, hyper)
        h = self.hyper
        self.emb = nn.Embedding(vocab, emb)
        self.cell = StnLSTMCell(emb, hidden, embed_dim, hyper=h)
        self.out = StnLinear(hidden, vocab, embed_dim, rank=rank, hyper=h)

    def forward(self, x, values, e):
        b, t = x.shape
        z = _drop(self.emb(x), values, "dropout_in", shared_dims=(1,))
        hc = (z.new_zeros(b, self.cell.hidden_size), z.new_zeros(b, self.cell.hidden_size))
        mask = None
        if "dropout_hidden" in values:
            mask = example_dropout(z.new_ones(b, self.cell.hidden_size), values["dropout_hidden"])
        hs = _drop(self.cell.sequence(z, hc, e, mask), values, "dropout_out", shared_dims=(1,))
        return self.out(hs, e)



MODELS: dict[str, type[StnModel]] = {"mlp": MLP, "cnn": CNN, "lstm": CharLSTM}
