"""Data augmentations in torch with one strength per example (no torchvision).

Each takes a batch of images ``x`` (B, C, H, W) and per-example strengths of shape (B,), so an STN
batch can carry a different perturbed hyperparameter value in every example. All are batched:
no Python loop over examples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_noise(x: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Add N(0, std^2) pixel noise."""
    return x + torch.randn_like(x) * std.view(-1, 1, 1, 1)


def random_shift(x: torch.Tensor, max_shift: torch.Tensor) -> torch.Tensor:
    """Translate each image by a whole number of pixels drawn uniformly from
    ``[-max_shift, max_shift]`` in each direction (zeros fill in), like a padded random crop."""
    b, _, h, w = x.shape
    shift = (torch.rand(b, 2, device=x.device) * 2 - 1) * max_shift[:, None]
    shift = shift.round()
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    theta[:, 0, 2] = -2 * shift[:, 0] / w  # align_corners=False: one pixel = 2 / size
    theta[:, 1, 2] = -2 * shift[:, 1] / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def cutout(x: torch.Tensor, length: torch.Tensor, holes: torch.Tensor, max_holes: int
           ) -> torch.Tensor:
    """Zero ``holes`` squares of side ``length`` pixels (centres uniform, may cross the edge)."""
    b, _, h, w = x.shape
    if max_holes <= 0:
        return x
    cy = torch.randint(0, h, (b, max_holes, 1, 1), device=x.device)
    cx = torch.randint(0, w, (b, max_holes, 1, 1), device=x.device)
    half = (length / 2).view(b, 1, 1, 1)
    ys = torch.arange(h, device=x.device).view(1, 1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, 1, w)
    inside = ((ys - cy).abs() < half) & ((xs - cx).abs() < half)  # (B, holes, H, W)
    active = torch.arange(max_holes, device=x.device).view(1, -1, 1, 1) < holes.view(b, 1, 1, 1)
    cut = (inside & active).any(1, keepdim=True)
    return x * (~cut).to(x.dtype)


def cutmix(x: torch.Tensor, y: torch.Tensor, prob: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """CutMix (Yun et al. 2019) applied to each example with probability ``prob``: paste a box
    from a partner image (a permutation of the batch), of area fraction ``1 - lam`` with
    ``lam ~ U(0, 1)``. Returns (images, labels, partner labels, lam per example); the loss is
    ``lam * CE(labels) + (1 - lam) * CE(partner labels)``."""
    b, _, h, w = x.shape
    perm = torch.randperm(b, device=x.device)
    apply = torch.rand(b, device=x.device) < prob
    cut = torch.sqrt(1 - torch.rand(b, device=x.device))  # box side fraction
    ch, cw = (cut * h).round(), (cut * w).round()
    cy = torch.randint(0, h, (b,), device=x.device).float()
    cx = torch.randint(0, w, (b,), device=x.device).float()
    y0, y1 = (cy - ch / 2).clamp(0, h), (cy + ch / 2).clamp(0, h)
    x0, x1 = (cx - cw / 2).clamp(0, w), (cx + cw / 2).clamp(0, w)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    box = ((ys >= y0.view(b, 1, 1)) & (ys < y1.view(b, 1, 1))
           & (xs >= x0.view(b, 1, 1)) & (xs < x1.view(b, 1, 1)) & apply.view(b, 1, 1))
    box = box[:, None].to(x.dtype)
    mixed = x * (1 - box) + x[perm] * box
    lam = 1 - box.flatten(1).mean(1)
    return mixed, y, y[perm], lam
