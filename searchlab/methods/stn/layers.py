"""STN layers: weights that respond to the hyperparameters (MacKay et al., ICLR 2019, sec. 4.2).

The paper's structured best response scales the rows of a second weight matrix by a linear
function of the hyperparameters::

    W(lambda) = W_elem + (V lambda) (row-wise) W_hyper,
    y = W_elem x + b + (V e) * (W_hyper x + b_hyper)

Here ``e`` is a learned embedding of the hyperparameters (:class:`HyperEmbedding`, linear and
without bias, shared by the layers), and each layer's ``scale`` maps it to one factor per output
unit and per example, so every example of a batch can have its own hyperparameters at the cost of
an element-wise product. With ``e = 0`` (Delta-STN's centred input at the current
hyperparameters) every layer is exactly a plain layer.

``rank`` (optional) factorises ``W_hyper`` as ``A B`` with ``B: in -> rank`` to cut the cost of the
modulation branch (full rank, as in the paper, when None). ``hyper=False`` builds the plain layer
(no branch at all) for fixed-hyperparameter training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HyperEmbedding(nn.Module):
    """Hyperparameters (B, n_hyper) -> embedding (B, dim); linear, no bias."""

    def __init__(self, n_hyper: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(n_hyper, dim, bias=False)
        nn.init.normal_(self.proj.weight, std=1.0 / max(n_hyper, 1) ** 0.5)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.proj(h)


class _Modulated(nn.Module):
    """Shared part: the per-unit scale from the hyperparameter embedding."""

    def _init_scale(self, embed_dim: int, out: int, hyper: bool) -> None:
        self.scale = nn.Linear(embed_dim, out, bias=False) if hyper else None
        if self.scale is not None:
            nn.init.normal_(self.scale.weight, std=0.1 / embed_dim ** 0.5)

    def response_parameters(self) -> list[nn.Parameter]:
        """The weights of the response to the hyperparameters (the scale and the response
        branch; none for a plain layer): what Delta-STN trains on the linearised loss."""
        parts = [getattr(self, name, None) for name in ("scale", "hyper_branch", "hyper_ih",
                                                         "hyper_hh")]
        return [p for part in parts if part is not None for p in part.parameters()]


class StnLinear(_Modulated):
    """``nn.Linear`` whose output units respond to the hyperparameters: ``layer(x, e)`` with
    ``e`` the model's embedding (None: the plain layer). ``hyper=False`` builds the plain layer
    only; ``rank`` factorises the response weights."""

    def __init__(self, in_features: int, out_features: int, embed_dim: int, *,
                 rank: int | None = None, hyper: bool = True) -> None:
        super().__init__()
        self.base = nn.Linear(in_features, out_features)
        self.hyper_branch: nn.Module | None = None
        if hyper:
            self.hyper_branch = (nn.Linear(in_features, out_features) if rank is None else
                                 nn.Sequential(nn.Linear(in_features, rank, bias=False),
                                               nn.Linear(rank, out_features)))
        self._init_scale(embed_dim, out_features, hyper)

    def forward(self, x: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        y = self.base(x)
        if self.hyper_branch is None or e is None:
            return y
        s = self.scale(e)
        if y.dim() == 3:  # (B, T, out): one scale per sequence
            s = s[:, None, :]
        return y + s * self.hyper_branch(x)


class StnConv2d(_Modulated):
    """``nn.Conv2d`` whose output channels respond to the hyperparameters: ``layer(x, e)``
    (``e`` None: the plain convolution). ``rank``: the response is a ``rank``-channel
    convolution followed by a 1x1 one (cheaper for wide layers)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, embed_dim: int, *,
                 stride: int = 1, padding: int = 0, bias: bool = True, rank: int | None = None,
                 hyper: bool = True) -> None:
        super().__init__()
        self.base = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=bias)
        self.hyper_branch: nn.Module | None = None
        if hyper:
            self.hyper_branch = (
                nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                          bias=bias) if rank is None
                else nn.Sequential(nn.Conv2d(in_channels, rank, kernel_size, stride=stride,
                                             padding=padding, bias=False),
                                   nn.Conv2d(rank, out_channels, 1, bias=bias)))
        self._init_scale(embed_dim, out_channels, hyper)

    def forward(self, x: torch.Tensor, e: torch.Tensor | None = None) -> torch.Tensor:
        y = self.base(x)
        if self.hyper_branch is None or e is None:
            return y
        return y + self.scale(e)[:, :, None, None] * self.hyper_branch(x)


class StnLSTMCell(_Modulated):
    """An LSTM cell whose gate pre-activations are modulated::

        g = W_ih x + W_hh h + b + s(e) * (V_ih x + V_hh h + c),   s(e): (B, 4 hidden)
    """

    def __init__(self, input_size: int, hidden_size: int, embed_dim: int, *,
                 hyper: bool = True) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, 4 * hidden_size)
        self.hh = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        self.hyper_ih = nn.Linear(input_size, 4 * hidden_size) if hyper else None
        self.hyper_hh = nn.Linear(hidden_size, 4 * hidden_size, bias=False) if hyper else None
        self._init_scale(embed_dim, 4 * hidden_size, hyper)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor],
                e: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: x (B, in), state (h, c) each (B, hidden)."""
        h, c = state
        g = self.ih(x) + self.hh(h)
        if self.hyper_ih is not None and e is not None:
            g = g + self.scale(e) * (self.hyper_ih(x) + self.hyper_hh(h))
        return _gates(g, c)

    def sequence(self, z: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor],
                 e: torch.Tensor | None = None, mask: torch.Tensor | None = None
                 ) -> torch.Tensor:
        """The cell over a whole sequence ``z`` (B, T, in), the same function as ``forward`` step
        by step, cheaper: the input projections of all steps at once, and one fused matmul per
        step for both recurrent ones. ``mask`` (B, hidden) multiplies ``h`` between steps
        (variational dropout). Returns the hidden states (B, T, hidden)."""
        h, c = state
        n = 4 * self.hidden_size
        gx = self.ih(z)
        modulated = self.hyper_ih is not None and self.hyper_hh is not None and e is not None
        if modulated:
            s = self.scale(e)
            gx = gx + s[:, None, :] * self.hyper_ih(z)
            w = torch.cat([self.hh.weight, self.hyper_hh.weight], 0)
        outs = []
        for i in range(z.shape[1]):
            if modulated:
                r = h @ w.t()
                g = gx[:, i] + r[:, :n] + s * r[:, n:]
            else:
                g = gx[:, i] + self.hh(h)
            h, c = _gates(g, c)
            outs.append(h)
            if mask is not None:
                h = h * mask
        return torch.stack(outs, 1)


def _gates(g: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    i, f, gg, o = g.chunk(4, 1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
    return torch.sigmoid(o) * torch.tanh(c), c


def example_dropout(x: torch.Tensor, rate: torch.Tensor, *, shared_dims: tuple[int, ...] = ()
                    ) -> torch.Tensor:
    """Inverted dropout with one rate per example (``rate``: (B,)). ``shared_dims`` share the mask
    along those dimensions (e.g. time, for variational dropout of a sequence)."""
    shape = list(x.shape)
    for d in shared_dims:
        shape[d] = 1
    keep = (1.0 - rate).clamp_min(1e-3).view(-1, *([1] * (x.dim() - 1)))
    mask = (torch.rand(shape, device=x.device) < keep).to(x.dtype)
    return x * mask / keep


def plain_dropout(x: torch.Tensor, rate: float) -> torch.Tensor:
    return F.dropout(x, rate, training=True) if rate > 0 else x
