"""The example's data: a fixed subset of Fashion-MNIST (Debian package dataset-fashion-mnist),
or scikit-learn's 8x8 digits where it is not installed."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from searchlab.stn import Split

FASHION = Path(os.environ.get("SEARCHLAB_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))


def _idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format) as a numpy array."""
    raw = gzip.open(path, "rb").read()
    ndim = raw[3]
    shape = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(train_size: int = 5000, val_size: int = 2000, test_size: int = 2000) -> Split:
    """``train_size`` training and ``val_size`` validation images out of the training set and
    ``test_size`` test images, normalised; the same subset every time."""
    if (FASHION / "train-images-idx3-ubyte.gz").exists():
        name = "fashion_mnist"
        x = _idx(FASHION / "train-images-idx3-ubyte.gz") / 255.0
        y = _idx(FASHION / "train-labels-idx1-ubyte.gz")
        xt = _idx(FASHION / "t10k-images-idx3-ubyte.gz") / 255.0
        yt = _idx(FASHION / "t10k-labels-idx1-ubyte.gz")
    else:
        from sklearn.datasets import load_digits

        name = "digits"
        images, labels = load_digits(return_X_y=True)
        images = images.reshape(-1, 8, 8) / 16.0
        x, y, xt, yt = images[360:], labels[360:], images[:360], labels[:360]
    val_size = min(val_size, len(x) // 4)  # digits has 1,437 training images
    train_size = min(train_size, len(x) - val_size)
    order = np.random.default_rng(0).permutation(len(x))
    val, train = order[:val_size], order[val_size:val_size + train_size]
    mean, std = x[train].mean(), x[train].std()

    def images_of(a: np.ndarray) -> torch.Tensor:
        return torch.tensor((a[:, None] - mean) / std, dtype=torch.float32)

    def labels_of(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.int64)

    return Split(name, images_of(x[train]), labels_of(y[train]), images_of(x[val]),
                 labels_of(y[val]), images_of(xt[:test_size]), labels_of(yt[:test_size]))
