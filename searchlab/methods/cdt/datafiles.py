"""Reading a user's data files for CDT's bandit environments (numpy and pandas; no Ray).

Two kinds of file, each as CSV (with a header row), NumPy ``.npz`` or ``.npy``:

**Contextual data** (``kind: data``): per row, a context and the reward every arm would have
paid (full information, as logged or simulated data gives it).

- ``.csv``: the columns whose names start with ``reward_`` are the arms' rewards, in the order
  they appear; columns starting with ``mean_`` (optional, one per arm, same order) are expected
  rewards, used for the regret in place of the realised ones; every other column is a feature
  of the context (numbers only).
- ``.npz``: arrays ``contexts`` (n x d: one context per row, shared by the arms; or n x K x d:
  one per arm), ``rewards`` (n x K) and optionally ``means`` (n x K).
- ``.npy``: one n x (d + K) array; the last K columns (``arms: K`` in the study file) are the
  rewards.

**Classification data** (``kind: classification`` with ``file:``): features and a label per row.

- ``.csv``: the column named by ``label`` (default ``label``) is the class (any values: numbers
  or names); every other column is a numeric feature.
- ``.npz``: arrays ``features`` (n x p) and ``labels`` (n), or ``X`` and ``y``.
- ``.npy``: one n x (p + 1) array whose last column is the class.

Every value must be a finite number (labels excepted). Errors are ``ValueError`` with one line.
Files are read once per process (cached on path, size and modification time).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUFFIXES = (".csv", ".npz", ".npy")
REWARD_PREFIX, MEAN_PREFIX = "reward_", "mean_"


@dataclass(frozen=True)
class ContextualData:
    contexts: np.ndarray  # (n, d) shared by the arms, or (n, K, d) one per arm
    rewards: np.ndarray  # (n, K) realised reward of every arm
    means: np.ndarray | None  # (n, K) expected rewards, when the file gives them

    @property
    def rows(self) -> int:
        return len(self.rewards)

    @property
    def arms(self) -> int:
        return self.rewards.shape[1]

    @property
    def features(self) -> int:
        return self.contexts.shape[-1]


def _suffix(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: unsupported file type '{suffix or '(none)'}'; use "
                         f"{', '.join(SUFFIXES)}")
    return suffix


def _stamp(path: str) -> tuple[int, int]:
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


def load_contextual(path: str, arms: int | None = None) -> ContextualData:
    """A contextual data file (see the module docstring); ``arms`` is needed for ``.npy``."""
    return _load_contextual(str(path), arms, _stamp(path))


@functools.lru_cache(maxsize=8)
def _load_contextual(path: str, arms: int | None, _stamp: tuple[int, int]) -> ContextualData:
    suffix = _suffix(path)
    means = None
    if suffix == ".csv":
        frame = _read_csv(path)
        cols = [str(c) for c in frame.columns]
        reward_cols = [c for c in cols if c.startswith(REWARD_PREFIX)]
        mean_cols = [c for c in cols if c.startswith(MEAN_PREFIX)]
        feature_cols = [c for c in cols if c not in reward_cols and c not in mean_cols]
        if len(reward_cols) < 2:
            raise ValueError(f"{path}: needs a column per arm named '{REWARD_PREFIX}<arm>' (at "
                             f"least 2), found {len(reward_cols)} among {_names(cols)}")
        if mean_cols and len(mean_cols) != len(reward_cols):
            raise ValueError(f"{path}: {len(mean_cols)} '{MEAN_PREFIX}' columns for "
                             f"{len(reward_cols)} '{REWARD_PREFIX}' columns; give one per arm "
                             "or none")
        if not feature_cols:
            raise ValueError(f"{path}: no feature columns (every column is a reward or a mean)")
        contexts = _numeric(frame, feature_cols, path)
        rewards = _numeric(frame, reward_cols, path)
        means = _numeric(frame, mean_cols, path) if mean_cols else None
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("contexts", "rewards") if k not in z.files]
            if missing:
                raise ValueError(f"{path}: needs arrays 'contexts' and 'rewards' (and optionally "
                                 f"'means'); it has {_names(z.files)}")
            contexts, rewards = _float(z["contexts"], path, "contexts"), _float(z["rewards"], path,
                                                                               "rewards")
            means = _float(z["means"], path, "means") if "means" in z.files else None
    else:
        table = _float(np.load(path, allow_pickle=False), path, "the array")
        if table.ndim != 2:
            raise ValueError(f"{path}: a .npy file holds one 2-D array (rows x (features + arms)), "
                             f"got shape {table.shape}")
        if arms is None:
            raise ValueError(f"{path}: a .npy file needs 'arms: K' in the study file (its last K "
                             "columns are the rewards)")
        if not 2 <= arms < table.shape[1]:
            raise ValueError(f"{path}: arms: {arms} needs at least {arms + 1} columns, it has "
                             f"{table.shape[1]}")
        contexts, rewards = table[:, :-arms], table[:, -arms:]
    if rewards.ndim != 2 or rewards.shape[1] < 2:
        raise ValueError(f"{path}: rewards must be rows x arms (at least 2 arms), got shape "
                         f"{rewards.shape}")
    n, k = rewards.shape
    if contexts.ndim not in (2, 3) or len(contexts) != n or (contexts.ndim == 3
                                                             and contexts.shape[1] != k):
        raise ValueError(f"{path}: contexts must be {n} x d or {n} x {k} x d for rewards of "
                         f"shape {rewards.shape}, got {contexts.shape}")
    if means is not None and means.shape != rewards.shape:
        raise ValueError(f"{path}: means must have the rewards' shape {rewards.shape}, got "
                         f"{means.shape}")
    if arms is not None and arms != k:
        raise ValueError(f"{path}: the study file says arms: {arms}, the file has {k}")
    if n < 1 or contexts.shape[-1] < 1:
        raise ValueError(f"{path}: no rows or no features")
    return ContextualData(contexts, rewards, means)


def load_classification(path: str, label: str = "label") -> tuple[np.ndarray, np.ndarray]:
    """Features (n x p, float) and class indices 0..C-1 (n, int) of a classification file."""
    return _load_classification(str(path), label, _stamp(path))


@functools.lru_cache(maxsize=8)
def _load_classification(path: str, label: str, _stamp: tuple[int, int]
                         ) -> tuple[np.ndarray, np.ndarray]:
    suffix = _suffix(path)
    if suffix == ".csv":
        frame = _read_csv(path)
        cols = [str(c) for c in frame.columns]
        if label not in cols:
            raise ValueError(f"{path}: no label column '{label}' (set 'label:' to one of "
                             f"{_names(cols)})")
        features = [c for c in cols if c != label]
        X = _numeric(frame, features, path) if features else np.zeros((len(frame), 0))
        raw = frame[label].to_numpy()
        if frame[label].isna().any():
            raise ValueError(f"{path}: column '{label}' has empty labels")
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            keys = next((p for p in (("features", "labels"), ("X", "y")) if set(p) <= set(z.files)),
                        None)
            if keys is None:
                raise ValueError(f"{path}: needs arrays 'features' and 'labels' (or 'X' and 'y'); "
                                 f"it has {_names(z.files)}")
            X, raw = _float(z[keys[0]], path, keys[0]), z[keys[1]]
    else:
        table = _float(np.load(path, allow_pickle=False), path, "the array")
        if table.ndim != 2 or table.shape[1] < 2:
            raise ValueError(f"{path}: a .npy file holds one 2-D array (rows x (features + 1)), "
                             f"the label last; got shape {table.shape}")
        X, raw = table[:, :-1], table[:, -1]
    if X.ndim != 2 or X.shape[1] < 1:
        raise ValueError(f"{path}: features must be rows x features (at least one), got {X.shape}")
    if np.ndim(raw) != 1 or len(raw) != len(X):
        raise ValueError(f"{path}: need one label per row ({len(X)}), got shape {np.shape(raw)}")
    classes, y = np.unique(raw.astype(str) if raw.dtype == object else raw, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"{path}: needs at least 2 classes (one arm per class), found "
                         f"{len(classes)}")
    return X, y.astype(int)


def _read_csv(path: str):  # -> pandas.DataFrame
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as e:
        line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"{path}: cannot read as CSV: {line[:200]}") from None
    if frame.empty:
        raise ValueError(f"{path}: no rows")
    return frame


def _numeric(frame, cols: list[str], path: str) -> np.ndarray:
    bad = [c for c in cols if frame[c].dtype.kind not in "biuf"]
    if bad:
        raise ValueError(f"{path}: column{'s' if len(bad) > 1 else ''} {_names(bad)} "
                         "not numeric (every feature and reward must be a number)")
    return _float(frame[cols].to_numpy(dtype=float), path, f"columns {_names(cols)}")


def _float(a: np.ndarray, path: str, what: str) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{path}: {what} must hold numbers, got dtype {a.dtype}")
    a = np.asarray(a, dtype=float)
    if not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise ValueError(f"{path}: {what} holds {bad} value(s) that are NaN or infinite "
                         "(or empty cells)")
    return a


def _names(names: list[str] | tuple[str, ...]) -> str:
    shown = ", ".join(f"'{n}'" for n in list(names)[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")
