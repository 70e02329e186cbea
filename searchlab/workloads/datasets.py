"""Offline data sets the built-in workloads share: nothing is downloaded at run time.

- :func:`image_classification`: Fashion-MNIST from the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``, or ``SEARCHLAB_FASHION_MNIST``), else scikit-learn's
  bundled 8x8 digits. The result says which one it is, so reports can say so too.
- :func:`text_corpus`: characters of the Python standard library's own source files, a corpus
  every Python installation carries.
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530  # over the 60k training images


@dataclass(frozen=True)
class ImageData:
    """Images as float32 arrays of shape (n, 1, side, side), scaled to [0, 1]; int64 labels."""

    name: str  # "fashion_mnist" or "digits"
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int = 10

    @property
    def side(self) -> int:
        return int(self.x_train.shape[-1])


def fashion_mnist_dir() -> Path | None:
    """Where the Fashion-MNIST files are, or None when the package is absent."""
    d = Path(os.environ.get("SEARCHLAB_FASHION_MNIST", FASHION_DIR))
    needed = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return d if all((d / f).exists() for f in needed) else None


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


@functools.lru_cache(maxsize=2)
def image_classification(prefer: str = "fashion_mnist") -> ImageData:
    """Fashion-MNIST (60k train / 10k test, 28x28) when installed and preferred, else digits
    (1,437 train / 360 test, 8x8, a fixed split)."""
    d = fashion_mnist_dir() if prefer == "fashion_mnist" else None
    if d is not None:
        def images(name: str) -> np.ndarray:
            return (_idx(d / name).astype(np.float32) / 255.0)[:, None, :, :]

        return ImageData("fashion_mnist", images("train-images-idx3-ubyte.gz"),
                         _idx(d / "train-labels-idx1-ubyte.gz").astype(np.int64),
                         images("t10k-images-idx3-ubyte.gz"),
                         _idx(d / "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    idx = np.random.default_rng(0).permutation(len(x))
    x = (x[idx] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = y[idx].astype(np.int64)
    n_test = len(x) // 5
    return ImageData("digits", x[n_test:], y[n_test:], x[:n_test], y[:n_test])


@functools.lru_cache(maxsize=4)
def text_corpus(max_chars: int = 2_000_000, seed: int = 0) -> str:
    """Up to ``max_chars`` characters of the standard library's source (a fixed file order), as
    ASCII (other characters dropped)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py"))
    rng = np.random.default_rng(seed)
    rng.shuffle(files)
    parts, total = [], 0
    for p in files:
        try:
            text = p.read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue
        text = text.encode("ascii", errors="ignore").decode()
        parts.append(text)
        total += len(text)
        if total >= max_chars:
            break
    return "".join(parts)[:max_chars]
