"""Features of a partial learning curve (Baker et al. 2017, section 3).

A trial that has reported ``t`` epochs is described by its observed values ``y_1..y_t``, their first
and second differences, its hyperparameters and ``t`` itself. Hyperparameters are encoded from the
configurations seen when the encoder is fitted: numbers as they are (log10 when positive and
spanning more than two decades), strings and booleans one-hot, and a key that some configurations
lack (a conditional parameter) as its value (0 when absent) plus a presence indicator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def curve_features(curve: Sequence[float] | np.ndarray) -> np.ndarray:
    """``y_1..y_t``, first differences, second differences and ``t``, as one vector."""
    y = np.asarray(curve, dtype=float)
    return np.concatenate([y, np.diff(y, n=1), np.diff(y, n=2), [float(len(y))]])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


@dataclass(frozen=True)
class FeatureBuilder:
    """Encodes configurations; build it with :meth:`fit` on the training configurations."""

    numeric: tuple[str, ...]
    log_scaled: frozenset[str]
    categories: tuple[tuple[str, tuple[str, ...]], ...]  # key -> its values, in a fixed order
    optional: tuple[str, ...]  # keys absent from some configurations

    @classmethod
    def fit(cls, configs: Sequence[Mapping[str, Any]]) -> FeatureBuilder:
        keys = sorted({k for c in configs for k in c})
        numeric, log_scaled, categories, optional = [], set(), [], []
        for key in keys:
            values = [c[key] for c in configs if key in c and c[key] is not None]
            if len(values) < len(configs):
                optional.append(key)
            if values and all(_is_number(v) for v in values):
                numeric.append(key)
                lo, hi = min(values), max(values)
                if lo > 0 and hi / lo > 100:
                    log_scaled.add(key)
            else:
                categories.append((key, tuple(sorted({str(v) for v in values}))))
        return cls(tuple(numeric), frozenset(log_scaled), tuple(categories), tuple(optional))

    @property
    def width(self) -> int:
        """The number of hyperparameter features."""
        return len(self.numeric) + sum(len(v) for _, v in self.categories) + len(self.optional)

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """The hyperparameter features of one configuration."""
        out: list[float] = []
        for key in self.numeric:
            value = config.get(key)
            number = float(value) if _is_number(value) else 0.0  # type: ignore[arg-type]
            if key in self.log_scaled:
                number = math.log10(number) if number > 0 else 0.0
            out.append(number)
        for key, values in self.categories:
            value = config.get(key)
            out.extend(1.0 if value is not None and str(value) == v else 0.0 for v in values)
        out.extend(1.0 if config.get(key) is not None else 0.0 for key in self.optional)
        return np.asarray(out, dtype=float)

    def transform(self, config: Mapping[str, Any],
                  curve: Sequence[float] | np.ndarray) -> np.ndarray:
        """The full feature vector of a trial that has reported ``curve`` so far."""
        return np.concatenate([curve_features(curve), self.encode(config)])

    def transform_many(self, configs: Sequence[Mapping[str, Any]],
                       curves: Sequence[Sequence[float] | np.ndarray], t: int) -> np.ndarray:
        """Feature rows for each configuration's curve truncated to its first ``t`` values."""
        return np.stack([self.transform(c, y[:t]) for c, y in zip(configs, curves)])
