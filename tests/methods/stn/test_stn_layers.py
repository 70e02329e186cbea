"""STN layers: the modulation reduces to the plain layer at the reference point; gradients are
right (gradcheck in float64 on tiny sizes)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from searchlab.methods.stn.layers import (
    HyperEmbedding,
    StnConv2d,
    StnLinear,
    StnLSTMCell,
    example_dropout,
)


def _double(m: torch.nn.Module) -> torch.nn.Module:
    return m.double()


def test_linear_reduces_to_plain_layer_at_zero_embedding() -> None:
    torch.manual_seed(0)
    layer = StnLinear(5, 4, 3, rank=2)
    x = torch.randn(6, 5)
    assert torch.allclose(layer(x, torch.zeros(6, 3)),
                          F.linear(x, layer.base.weight, layer.base.bias))
    # and it does respond away from it, differently per example
    e = torch.randn(6, 3)
    assert not torch.allclose(layer(x, e), layer(x, torch.zeros(6, 3)))


def test_centred_hyperparameters_give_the_plain_layer_through_the_embedding() -> None:
    torch.manual_seed(0)
    emb, layer = HyperEmbedding(2, 3), StnLinear(5, 4, 3)
    x = torch.randn(6, 5)
    u = torch.randn(2, requires_grad=True)
    centred = (u.expand(6, -1) - u.detach())  # Delta-STN's input at the current hyperparameters
    out = layer(x, emb(centred))
    assert torch.allclose(out, layer.base(x))
    out.sum().backward()  # value is the plain layer, yet the response still reaches u
    assert u.grad is not None and u.grad.abs().sum() > 0


def test_conv_and_lstm_cell_reduce_to_plain_at_zero_embedding() -> None:
    torch.manual_seed(0)
    conv = StnConv2d(2, 3, 3, 4, padding=1, rank=2)
    x = torch.randn(2, 2, 5, 5)
    assert torch.allclose(conv(x, torch.zeros(2, 4)), conv.base(x))
    cell = StnLSTMCell(3, 4, 2)
    xs, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    ref = torch.nn.LSTMCell(3, 4)
    with torch.no_grad():
        ref.weight_ih.copy_(cell.ih.weight)
        ref.bias_ih.copy_(cell.ih.bias)
        ref.weight_hh.copy_(cell.hh.weight)
        ref.bias_hh.zero_()
    h2, c2 = cell(xs, (h, c), torch.zeros(2, 2))
    rh, rc = ref(xs, (h, c))
    assert torch.allclose(h2, rh, atol=1e-6) and torch.allclose(c2, rc, atol=1e-6)


def test_gradcheck_linear_conv_lstm() -> None:
    torch.manual_seed(0)
    lin = _double(StnLinear(3, 2, 2, rank=2))
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    e = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, e: lin(x, e), (x, e))
    assert gradcheck(lambda w: F.linear(x, w) + lin.scale(e) * lin.hyper_branch(x),
                     (lin.base.weight.detach().clone().requires_grad_(),))
    conv = _double(StnConv2d(1, 2, 3, 2, padding=1))
    xi = torch.randn(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, e: conv(x, e), (xi, e))
    cell = _double(StnLSTMCell(2, 2, 2))
    xs = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, h, c, e: cell(x, (h, c), e), (xs, h, c, e))


def test_example_dropout_rate_per_example() -> None:
    torch.manual_seed(0)
    x = torch.ones(3, 20_000)
    out = example_dropout(x, torch.tensor([0.0, 0.5, 0.9]))
    zeros = (out == 0).float().mean(1)
    assert torch.allclose(zeros, torch.tensor([0.0, 0.5, 0.9]), atol=0.02)
    assert torch.allclose(out.mean(1), torch.ones(3), atol=0.06)  # inverted: mean kept


def test_lstm_sequence_equals_the_cell_step_by_step() -> None:
    torch.manual_seed(0)
    cell = StnLSTMCell(3, 4, 2)
    z, e = torch.randn(2, 5, 3), torch.randn(2, 2)
    mask = (torch.rand(2, 4) > 0.3).float()
    state = (torch.randn(2, 4), torch.randn(2, 4))
    for emb in (e, None):
        h, c = state
        steps = []
        for i in range(5):
            h, c = cell(z[:, i], (h, c), emb)
            steps.append(h)
            h = h * mask
        fused = cell.sequence(z, state, emb, mask)
        assert torch.allclose(fused, torch.stack(steps, 1), atol=1e-6)
