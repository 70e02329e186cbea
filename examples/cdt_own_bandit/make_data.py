"""Write the example's two data files into data/ next to this script (about 2 MB; not committed).

- ``data/clicks.npz`` -- contextual data: 5,000 logged rounds of 6 offers. Each row has a user's
  8 features (``contexts``, 5,000 x 8, shared by the offers), whether each offer would have been
  clicked (``rewards``, 5,000 x 6, 0 or 1) and the click probability the simulator used
  (``means``, for the regret). Offer k's click probability is sigmoid(x . w_k - 1).
- ``data/digits.csv`` -- a classification data set: scikit-learn's bundled handwritten digits
  (1,797 images of 8 x 8 pixels), one row per image, the class in the column ``label``.

    python make_data.py            # once, before `searchlab run study.yaml`

Everything is drawn from fixed seeds: the files are the same on every machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def clicks(path: Path, rows: int = 5_000, offers: int = 6, features: int = 8,
           seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 1.0, (offers, features))
    x = rng.normal(0.0, 1.0, (rows, features)) / np.sqrt(features)
    means = 1.0 / (1.0 + np.exp(-(x @ w.T - 1.0)))
    rewards = (rng.random((rows, offers)) < means).astype(np.float32)
    np.savez_compressed(path, contexts=x.astype(np.float32), rewards=rewards,
                        means=means.astype(np.float32))


def digits(path: Path) -> None:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    header = ",".join([f"pixel{i}" for i in range(X.shape[1])] + ["label"])
    table = np.column_stack([X.astype(int), y])
    np.savetxt(path, table, fmt="%d", delimiter=",", header=header, comments="")


def main(out: Path = HERE / "data") -> None:
    out.mkdir(parents=True, exist_ok=True)
    clicks(out / "clicks.npz")
    digits(out / "digits.csv")
    print(f"wrote {out / 'clicks.npz'} and {out / 'digits.csv'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "data")
