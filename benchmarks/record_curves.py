"""Record full learning curves of the digits MLP for the early-stopping benchmark and ``replay``.

Samples configurations of ``searchlab.workloads.digits:digits_mlp`` (a real torch training run on
scikit-learn's 8x8 digits: learning rate, width, depth, dropout, batch size, weight decay and a
conditional optimizer choice), trains each for ``--epochs`` epochs on the CPU and saves every
epoch's ``val_accuracy`` and ``val_loss`` to a compressed curve file
(:class:`searchlab.predictive.curves.CurveSet`)::

    nice -n 10 python benchmarks/record_curves.py            # 240 configs x 30 epochs, ~10 min
    nice -n 10 python benchmarks/record_curves.py --configs 20 --epochs 5 --out /tmp/c.npz
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sample_config(rng: np.random.Generator) -> dict[str, Any]:
    def logu(lo: float, hi: float) -> float:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    config: dict[str, Any] = {
        "lr": logu(1e-4, 0.3),
        "hidden": int(rng.choice([16, 32, 64, 128])),
        "layers": int(rng.integers(1, 4)),
        "dropout": float(rng.uniform(0.0, 0.5)),
        "batch_size": int(rng.choice([16, 32, 64, 128, 256])),
        "weight_decay": logu(1e-6, 1e-2),
        "optimizer": str(rng.choice(["sgd", "adam"])),
    }
    if config["optimizer"] == "sgd":
        config["optimizer.sgd.momentum"] = float(rng.uniform(0.0, 0.99))
    else:
        config["optimizer.adam.beta2"] = float(rng.uniform(0.9, 0.9999))
    return config


def main(argv: list[str] | None = None) -> None:
    from searchlab.predictive.curves import CurveSet
    from searchlab.workloads.api import Context
    from searchlab.workloads.digits import digits_mlp

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--configs", type=int, default=240)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "data" / "digits_curves.npz"))
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    configs = [sample_config(rng) for _ in range(args.configs)]
    acc = np.zeros((args.configs, args.epochs))
    loss = np.zeros((args.configs, args.epochs))
    t0 = time.time()
    for i, config in enumerate(configs):
        ctx = Context(max_epochs=args.epochs, seed=args.seed * 100_000 + i)
        for epoch, metrics in enumerate(digits_mlp(config, ctx)):
            acc[i, epoch] = metrics["val_accuracy"]
            loss[i, epoch] = min(metrics["val_loss"], 1e3) if np.isfinite(metrics["val_loss"]) else 1e3
        if (i + 1) % 20 == 0:
            print(f"{i + 1}/{args.configs} configs, {time.time() - t0:.0f} s", flush=True)
    CurveSet(configs, {"val_accuracy": acc, "val_loss": loss}).save(args.out)
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {args.configs} curves x {args.epochs} epochs, {size / 1024:.0f} KiB, "
          f"{time.time() - t0:.0f} s; best final accuracy {acc[:, -1].max():.4f}, "
          f"median {np.median(acc[:, -1]):.4f}")


if __name__ == "__main__":
    main()
