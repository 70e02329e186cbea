"""Hyperparameter transforms, the entropy term, and REINFORCE on a toy problem."""

from __future__ import annotations

import math

import pytest
import torch

from searchlab.methods.stn.augment import cutmix, cutout, gaussian_noise, random_shift
from searchlab.methods.stn.hyper import Hyperparameters, HyperSpec, reinforce_surrogate


def test_transforms_hit_the_ranges_and_the_initial_values() -> None:
    specs = [HyperSpec("d", "uniform", 0.0, 0.8, 0.05),
             HyperSpec("wd", "loguniform", 1e-6, 1e-2, 1e-4),
             HyperSpec("holes", "int", 1, 4, 2)]
    hyp = Hyperparameters(specs)
    cur = hyp.current()
    assert cur["d"] == pytest.approx(0.05, rel=1e-4) and cur["wd"] == pytest.approx(1e-4, rel=1e-3)
    big = torch.tensor([-50.0, 50.0])
    assert specs[1].to_value(big).tolist() == pytest.approx([1e-6, 1e-2], rel=1e-5)
    h = hyp.sample(1000, perturb=True, centred=False)
    assert 0 <= float(h.values["d"].detach().min()) and float(h.values["d"].detach().max()) <= 0.8
    assert set(h.values["holes"].unique().tolist()) <= {1.0, 2.0, 3.0, 4.0}
    assert h.net_input.shape == (1000, 3)
    c = hyp.sample(5, perturb=False, centred=True).net_input
    assert torch.allclose(c[:, :2], torch.zeros(5, 2))  # centred at the current values


def test_bad_specs_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="outside"):
        HyperSpec("d", "uniform", 0.0, 0.5, 0.7)
    with pytest.raises(ValueError, match="low > 0"):
        HyperSpec("wd", "loguniform", 0.0, 1.0, 0.1)


def test_entropy_term_grows_the_scale_when_nothing_else_pulls() -> None:
    hyp = Hyperparameters([HyperSpec("d", "uniform", 0, 1, 0.5)], perturb_scale=0.1)
    opt = torch.optim.SGD(hyp.parameters(), lr=0.1)
    for _ in range(20):
        opt.zero_grad()
        (-hyp.entropy()).backward()
        opt.step()
    assert hyp.scales()["d"] > 0.5


def test_reinforce_finds_the_best_integer() -> None:
    """E_n[(n - 4)^2] over n in 0..7: the categorical concentrates on 4."""
    torch.manual_seed(0)
    hyp = Hyperparameters([HyperSpec("holes", "int", 0, 7, 0)])
    opt = torch.optim.Adam(hyp.parameters(), lr=0.1)
    for _ in range(300):
        h = hyp.sample(64, perturb=True, centred=False)
        losses = (h.values["holes"] - 4.0) ** 2
        opt.zero_grad()
        (losses.mean() + reinforce_surrogate(losses, h.log_prob)).backward()
        opt.step()
    probs = torch.softmax(hyp.logits[0], 0).detach()
    assert int(probs.argmax()) == 4 and float(probs[4]) > 0.8
    assert hyp.current()["holes"] == pytest.approx(4.0, abs=0.3)


def test_reparameterised_continuous_hyperparameter_finds_the_optimum() -> None:
    """E_eps[(lambda(u + eps) - 0.3)^2] with a small scale: lambda moves to about 0.3."""
    torch.manual_seed(0)
    hyp = Hyperparameters([HyperSpec("d", "uniform", 0, 1, 0.9)], perturb_scale=0.05)
    opt = torch.optim.RMSprop([hyp.u], lr=0.02)
    for _ in range(400):
        h = hyp.sample(64, perturb=True, centred=False)
        opt.zero_grad()
        ((h.values["d"] - 0.3) ** 2).mean().backward()
        opt.step()
    assert hyp.current()["d"] == pytest.approx(0.3, abs=0.03)


def test_augmentations_are_batched_and_respect_per_example_strengths() -> None:
    torch.manual_seed(0)
    x = torch.ones(4, 1, 12, 12)
    assert torch.equal(gaussian_noise(x, torch.zeros(4)), x)
    assert not torch.equal(gaussian_noise(x, torch.ones(4))[1], x[1])
    assert torch.equal(random_shift(x, torch.zeros(4)), x)
    shifted = random_shift(x, torch.full((4,), 3.0))
    assert float(shifted.mean()) < 1.0  # zeros came in from the edges
    cut = cutout(x, torch.tensor([0.0, 4.0, 4.0, 4.0]), torch.tensor([3.0, 0.0, 1.0, 2.0]), 3)
    assert float(cut[0].mean()) == 1.0 and float(cut[1].mean()) == 1.0  # no length / no holes
    assert 0 < float((cut[2] == 0).sum()) <= 16 and float((cut[3] == 0).sum()) <= 32
    y = torch.arange(4)
    img = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 12, 12)
    mixed, ya, yb, lam = cutmix(img, y, torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert torch.equal(mixed[:2], img[:2]) and torch.equal(lam[:2], torch.ones(2))
    for i in (2, 3):  # lam is the share of the example's own pixels
        own = float((mixed[i] == img[i]).float().mean()) if yb[i] != ya[i] else 1.0
        assert math.isclose(own, float(lam[i]), abs_tol=1e-6)
