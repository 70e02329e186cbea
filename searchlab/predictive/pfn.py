"""A prior-data fitted network for learning curves: every trial's final value, in context.

Given the partial curves of the trials a study has seen so far, :class:`CurvePFN` predicts the
final value of each of them as a distribution, in one forward pass. It is trained only on
synthetic studies drawn from :mod:`searchlab.predictive.curve_prior` (``benchmarks/train_pfn.py``
reproduces the shipped weights, ``searchlab/data/pfn_curves.pt``), in the manner of LC-PFN
(Adriaensen et al., NeurIPS 2023) and ifBO's FT-PFN (Rakotoarison et al., ICML 2024), whose own
weights are downloaded at first use and so cannot be used here.

How a study is read (:func:`study_features`, the same code in training and at a decision):

* values are made "higher is better" (``mode="min"`` negates them) and normalised by what the
  study has observed: ``y' = (y - hi) / scale + 1`` with ``hi`` the best value seen at any epoch
  and ``scale = hi - median of the curves' latest values`` (so the best value seen is 1 and the
  median trial 0), then squashed beyond [-1, 2] with a logarithm (:func:`squash`), so that a
  diverged trial does not dominate the input and a late bloomer's target stays in range;
* time is relative, ``t / T`` for epoch ``t`` of ``T`` (the study's ``max_t``), so one model
  serves 15- and 52-epoch studies;
* each curve becomes one vector: its values interpolated at 20 geometric points of relative
  time (masked where not yet seen), its last, first, best and worst values, its last slopes, how
  far it is and whether it is finished.

The network is a per-curve MLP, a transformer across the study's curves (no positional encoding:
the trials are a set, each curve attends to the others) and a head that outputs a Riemann
("bar") distribution of the final value over ``K`` bins in the squashed space, as LC-PFN does:
piecewise-uniform density, so its CDF is monotone and P(final beats v) exact within a bin.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "pfn_curves.pt"
GRID = 20  # geometric points of relative time, from 1/64 to 1
GRID_U = np.geomspace(1.0 / 64.0, 1.0, GRID)
N_SCALARS = 10
N_FEATURES = 2 * GRID + N_SCALARS
LOW, HIGH = -1.0, 2.0  # squash beyond these normalised values


# --- the study as the network sees it ---------------------------------------------------------
def squash(y: np.ndarray) -> np.ndarray:
    """Identity on [-1, 2], logarithmic beyond (monotone, continuous slope)."""
    y = np.asarray(y, dtype=float)
    out = y.copy()
    lo, hi = y < LOW, y > HIGH
    out[lo] = LOW - np.log1p(LOW - y[lo])
    out[hi] = HIGH + np.log1p(y[hi] - HIGH)
    return out


def unsquash(z: np.ndarray) -> np.ndarray:
    """The inverse of :func:`squash`."""
    z = np.asarray(z, dtype=float)
    out = z.copy()
    lo, hi = z < LOW, z > HIGH
    out[lo] = LOW - np.expm1(LOW - z[lo])
    out[hi] = HIGH + np.expm1(z[hi] - HIGH)
    return out


def normalisation(curves: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``hi`` and ``scale`` per study from what it observed: (B, N, T), (B, N) -> (B,), (B,)."""
    b, n, t = curves.shape
    seen = np.arange(1, t + 1)[None, None, :] <= lengths[..., None]
    hi = np.where(seen, curves, -np.inf).max(axis=(1, 2))
    lo_all = np.where(seen, curves, np.inf).min(axis=(1, 2))
    latest = np.take_along_axis(curves, (lengths - 1)[..., None], axis=2)[..., 0]
    scale = hi - np.median(latest, axis=1)
    tiny = 1e-9 * (1.0 + np.abs(hi))
    scale = np.where(scale > tiny, scale, hi - lo_all)
    scale = np.where(scale > tiny, scale, 1.0)
    return hi, scale


def study_features(curves: np.ndarray, lengths: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-curve feature vectors of a batch of studies, higher values better.

    Args:
        curves: (B, N, T) values; only the first ``lengths[b, i]`` of curve ``i`` are read.
        lengths: (B, N) epochs seen per curve, 1..T.

    Returns: features (B, N, N_FEATURES) float32, and ``hi``, ``scale`` (B,) to map values to the
    network's squashed space: ``squash((y - hi) / scale + 1)``.
    """
    curves = np.asarray(curves, dtype=float)
    lengths = np.asarray(lengths, dtype=np.int64)
    b, n, t = curves.shape
    hi, scale = normalisation(curves, lengths)
    z = squash((curves - hi[:, None, None]) / scale[:, None, None] + 1.0)
    seen = np.arange(1, t + 1)[None, None, :] <= lengths[..., None]
    z = np.where(seen, z, 0.0)
    L = lengths.astype(float)
    # values at geometric relative times (linear interpolation between epochs)
    pos = GRID_U[None, None, :] * t  # in epochs, 1-based
    inside = (pos >= 1.0 - 1e-9) & (pos <= L[..., None] + 1e-9)
    left = np.clip(np.floor(pos).astype(np.int64), 1, t)  # epoch at or below
    right = np.minimum(left + 1, lengths[..., None])
    frac = np.clip(pos - left, 0.0, 1.0)
    zl = np.take_along_axis(z, np.broadcast_to(left - 1, (b, n, GRID)), axis=2)
    zr = np.take_along_axis(z, np.broadcast_to(right - 1, (b, n, GRID)), axis=2)
    grid = np.where(inside, zl + frac * np.where(right > left, zr - zl, 0.0), 0.0)

    def at(k: np.ndarray) -> np.ndarray:
        return np.take_along_axis(z, (np.clip(k, 1, t) - 1)[..., None], axis=2)[..., 0]

    last = at(lengths)
    first = z[..., 0]
    best = np.where(seen, z, -np.inf).max(axis=2)
    worst = np.where(seen, z, np.inf).min(axis=2)
    d1 = np.where(lengths > 1, last - at(lengths - 1), 0.0)
    d3 = np.where(lengths > 3, (last - at(lengths - 3)) / 3.0, d1)
    scalars = np.stack([
        last, first, best, worst, 4.0 * d1, 4.0 * d3,
        L / t, np.sqrt(L / t), (lengths == t).astype(float),
        np.broadcast_to(np.log(n) / 5.0, (b, n)),
    ], axis=-1)
    features = np.concatenate([grid, inside.astype(float), scalars], axis=-1)
    return features.astype(np.float32), hi, scale


def targets(curves: np.ndarray, hi: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Each curve's final value in the network's squashed space: (B, N)."""
    return squash((curves[..., -1] - hi[:, None]) / scale[:, None] + 1.0)


# --- the network -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PFNConfig:
    """Size of the network (stored with its weights)."""

    d_model: int = 96
    layers: int = 3
    heads: int = 4
    ff: int = 192
    bins: int = 256


def build_network(config: PFNConfig) -> Any:
    import torch
    from torch import nn

    class CurvePFN(nn.Module):
        """Per-curve MLP, a transformer across curves, and a bar-distribution head."""

        def __init__(self) -> None:
            super().__init__()
            d = config.d_model
            self.config = config
            self.encode = nn.Sequential(nn.Linear(N_FEATURES, d), nn.GELU(), nn.Linear(d, d))
            layer = nn.TransformerEncoderLayer(d, config.heads, config.ff, dropout=0.0,
                                               activation="gelu", batch_first=True,
                                               norm_first=True)
            self.across = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
            self.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.GELU(),
                                      nn.Linear(2 * d, config.bins))
            self.register_buffer("borders", torch.linspace(-4.0, 4.0, config.bins + 1))

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            """(B, N, N_FEATURES) -> logits (B, N, bins)."""
            return self.head(self.across(self.encode(features)))

    return CurvePFN()


def bar_nll(logits: Any, borders: Any, target: Any) -> Any:
    """Negative log density of ``target`` under the bar distributions (same leading shape)."""
    import torch

    widths = borders[1:] - borders[:-1]
    y = target.clamp(borders[0], borders[-1])
    k = (torch.searchsorted(borders, y.contiguous(), right=True) - 1).clamp(0, len(widths) - 1)
    logp = torch.log_softmax(logits, dim=-1).gather(-1, k[..., None])[..., 0]
    return -(logp - torch.log(widths[k]))


# --- predictions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FinalDistribution:
    """The predicted distribution of one trial's final value, in the metric's own units.

    Piecewise-uniform over ``borders`` (squashed, normalised, higher-is-better space) with
    ``probs`` per bin; ``hi``, ``scale`` and ``sign`` map a metric value ``v`` into that space:
    ``squash((sign * v - hi) / scale + 1)``.
    """

    probs: np.ndarray
    borders: np.ndarray
    hi: float
    scale: float
    sign: float  # +1 for mode max, -1 for mode min

    def _to_space(self, value: float) -> float:
        return float(squash(np.array([(self.sign * value - self.hi) / self.scale + 1.0]))[0])

    def _from_space(self, z: np.ndarray) -> np.ndarray:
        return self.sign * ((unsquash(z) - 1.0) * self.scale + self.hi)

    def cdf_space(self, z: float) -> float:
        """P(final <= z) in the network's space (higher is better)."""
        b = self.borders
        if z <= b[0]:
            return 0.0
        if z >= b[-1]:
            return 1.0
        k = int(np.searchsorted(b, z, side="right") - 1)
        return float(self.probs[:k].sum() + self.probs[k] * (z - b[k]) / (b[k + 1] - b[k]))

    def prob_beats(self, value: float) -> float:
        """P(the final value is better than ``value``), better in the study's mode."""
        return 1.0 - self.cdf_space(self._to_space(value))

    def quantile(self, q: float) -> float:
        """The value that the final falls short of (in the study's sense of better) with
        probability ``q``: ``quantile(0.5)`` is the median, ``quantile(0.1)`` a pessimistic
        estimate (for mode min: a high loss)."""
        z = _quantile_space(self.probs[None, :], self.borders, q)
        return float(self._from_space(z)[0])

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    def _mids(self) -> np.ndarray:
        """Bin centres in the metric's units; the two outermost bins, which reach far into the
        squashed tails, count at their inner border."""
        mids = 0.5 * (self.borders[1:] + self.borders[:-1])
        mids[0], mids[-1] = self.borders[1], self.borders[-2]
        return self._from_space(mids)

    @property
    def mean(self) -> float:
        return float(np.sum(self.probs * self._mids()))

    @property
    def std(self) -> float:
        mids = self._mids()
        m = float(np.sum(self.probs * mids))
        return float(math.sqrt(max(float(np.sum(self.probs * (mids - m) ** 2)), 0.0)))


def _quantile_space(probs: np.ndarray, borders: np.ndarray, q: float) -> np.ndarray:
    """The ``q``-quantile of each row's bar distribution, in the network's space."""
    c = np.cumsum(probs, axis=1)
    k = np.minimum((c < q).sum(axis=1), probs.shape[1] - 1)
    rows = np.arange(len(probs))
    below = c[rows, k] - probs[rows, k]
    inside = np.clip((q - below) / np.maximum(probs[rows, k], 1e-12), 0.0, 1.0)
    return borders[k] + inside * (borders[k + 1] - borders[k])


@dataclass(frozen=True)
class StudyPrediction:
    """The predicted finals of all of a study's trials (one forward pass); indexing gives one
    trial's :class:`FinalDistribution`."""

    probs: np.ndarray  # (N, bins)
    borders: np.ndarray
    hi: float
    scale: float
    sign: float

    def __len__(self) -> int:
        return len(self.probs)

    def __getitem__(self, i: int) -> FinalDistribution:
        return FinalDistribution(self.probs[i], self.borders, self.hi, self.scale, self.sign)

    def __iter__(self) -> Iterator[FinalDistribution]:
        return (self[i] for i in range(len(self)))

    def quantiles(self, q: float) -> np.ndarray:
        """Every trial's ``q``-quantile (see :meth:`FinalDistribution.quantile`)."""
        z = _quantile_space(self.probs, self.borders, q)
        return self.sign * ((unsquash(z) - 1.0) * self.scale + self.hi)


class PFNPredictor:
    """The trained network, ready to predict the finals of a study's trials (Ray-free).

    ``predict(curves, max_t, mode)`` takes every trial's curve so far (epochs 1..len, each at
    least one value) and returns one :class:`FinalDistribution` per trial. Studies larger than
    ``max_context`` curves are cut to the ones that have run longest (and the asked-for ones),
    which is what the network was trained on at most.
    """

    def __init__(self, network: Any, max_context: int = 256) -> None:
        self.network = network.eval()
        self.borders = network.borders.detach().cpu().numpy().astype(float)
        self.max_context = max_context

    @classmethod
    def load(cls, path: str | Path | None = None) -> PFNPredictor:
        return cls(load_network(str(path or WEIGHTS)))

    def predict(self, curves: Sequence[Sequence[float]], max_t: int, mode: str = "max"
                ) -> StudyPrediction:
        import torch

        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
        if not len(curves):
            raise ValueError("no curves to predict")
        sign = 1.0 if mode == "max" else -1.0
        lengths = np.array([min(len(c), max_t) for c in curves], dtype=np.int64)
        if lengths.min() < 1:
            raise ValueError("every curve needs at least one value")
        array = np.zeros((1, len(curves), max_t))
        for i, c in enumerate(curves):
            array[0, i, : lengths[i]] = sign * np.asarray(c[: lengths[i]], dtype=float)
        features, hi, scale = study_features(array, lengths[None, :])
        with torch.inference_mode():
            logits = self.network(torch.from_numpy(features))[0]
            probs = torch.softmax(logits.double(), dim=-1).numpy()
        return StudyPrediction(probs, self.borders, float(hi[0]), float(scale[0]), sign)


def save_network(network: Any, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Weights (float16: a few hundred kB) with the network's size and provenance."""
    import dataclasses

    import torch

    state = {k: (v.half() if v.is_floating_point() and k != "borders" else v)
             for k, v in network.state_dict().items()}
    torch.save({"config": dataclasses.asdict(network.config), "state": state,
                "extra": extra or {}}, path)


@lru_cache(maxsize=4)
def load_network(path: str) -> Any:
    """The network saved at ``path`` (cached: one copy per process)."""
    import torch

    if not Path(path).is_file():
        raise FileNotFoundError(f"no PFN weights at {path}; train them with "
                                "benchmarks/train_pfn.py")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    network = build_network(PFNConfig(**saved["config"]))
    network.load_state_dict({k: v.float() for k, v in saved["state"].items()})
    return network.eval()
