"""A small ResNet-style CNN written as a Self-Tuning Network, with label smoothing tuned.

Everything STN needs from a model is here (see docs/stn.md, "On your own problem"):

- ``HYPERS`` names the hyperparameters the model reads; the study's ``space`` picks which to
  tune and their ranges (``weight_decay`` is always available: the trainer applies it).
- STN layers (``StnConv2d``, ``StnLinear``) built with ``hyper=self.hyper``, called with the
  hyperparameter embedding ``e``: their units respond to the hyperparameters.
- ``forward(x, values, e)`` applies what ``values`` holds: one value per example, absent = off.
- ``train_forward`` adds what acts on training only: the shift augmentation, and label smoothing,
  a regulariser on the loss that the built-in models do not have.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from searchlab.stn import StnConv2d, StnLinear, StnModel, augment


def smoothed_cross_entropy(logits: torch.Tensor, y: torch.Tensor, eps: torch.Tensor
                           ) -> torch.Tensor:
    """Per-example cross-entropy against labels smoothed by ``eps`` (B,): weight ``1 - eps``
    on the true class and ``eps`` spread evenly over all classes."""
    logp = F.log_softmax(logits, dim=1)
    nll = -logp.gather(1, y[:, None])[:, 0]
    return (1 - eps) * nll + eps * -logp.mean(1)


class Block(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual connection (1x1 when the shape
    changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int, embed_dim: int, hyper: bool,
                 rank: int | None) -> None:
        super().__init__()
        kw = {"padding": 1, "bias": False, "rank": rank, "hyper": hyper}
        self.conv1 = StnConv2d(c_in, c_out, 3, embed_dim, stride=stride, **kw)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = StnConv2d(c_out, c_out, 3, embed_dim, **kw)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = None
        if stride != 1 or c_in != c_out:
            self.skip = StnConv2d(c_in, c_out, 1, embed_dim, stride=stride, bias=False,
                                  hyper=hyper)

    def forward(self, x: torch.Tensor, e: torch.Tensor | None) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x, e)))
        out = self.bn2(self.conv2(out, e))
        return F.relu(out + (x if self.skip is None else self.skip(x, e)))


class SmallResNet(StnModel):
    """stem conv -> max pool -> residual block -> residual block (stride 2) -> global average
    pool -> dropout -> linear. Any input size (28x28 Fashion-MNIST, 8x8 digits).

    The second block and the classifier respond to the hyperparameters; with
    ``early_response=True`` the stem and the first block do too (their 14x14 and 28x28
    convolutions make that the costlier half of the network)."""

    HYPERS = {
        "label_smoothing": "label smoothing of the training loss",
        "dropout": "dropout before the classifier",
        "dropout_block": "channel dropout after the first residual block",
        "shift": "random shift of the training images, in pixels",
    }

    def __init__(self, n_hyper: int, *, embed_dim: int = 16, rank: int | None = None,
                 hyper: bool = True, width: int = 16, classes: int = 10,
                 early_response: bool = False) -> None:
        super().__init__(n_hyper, embed_dim, hyper)
        h, early = self.hyper, self.hyper and early_response
        self.stem = StnConv2d(1, width, 3, embed_dim, padding=1, bias=False, rank=rank,
                              hyper=early)
        self.bn = nn.BatchNorm2d(width)
        self.block1 = Block(width, width, 1, embed_dim, early, rank)
        self.block2 = Block(width, 2 * width, 2, embed_dim, h, rank)
        self.head = StnLinear(2 * width, classes, embed_dim, hyper=h)

    def forward(self, x: torch.Tensor, values: dict[str, torch.Tensor],
                e: torch.Tensor | None) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn(self.stem(x, e))), 2)
        x = self.drop(self.block1(x, e), values, "dropout_block", shared_dims=(2, 3))
        x = self.block2(x, e).mean((2, 3))
        return self.head(self.drop(x, values, "dropout"), e)

    def train_forward(self, x, y, values, e):
        if "shift" in values:
            x = augment.random_shift(x, values["shift"])
        out = self(x, values, e)
        if "label_smoothing" not in values:
            return out, lambda o: self.loss(o, y)
        return out, lambda o: smoothed_cross_entropy(o, y, values["label_smoothing"])
