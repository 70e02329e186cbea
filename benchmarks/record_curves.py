"""Record full learning curves of real training runs for the early-stopping benchmark and
``replay``.

Samples configurations of an MLP (learning rate, width, depth, dropout, batch size, weight decay
and a conditional optimizer choice), trains each for ``--epochs`` epochs on the CPU and saves
every epoch's ``val_accuracy`` and ``val_loss`` to a compressed curve file
(:class:`searchlab.predictive.curves.CurveSet`). Two workloads:

* ``digits``: ``searchlab.workloads.digits:digits_mlp`` on scikit-learn's 8x8 digits;
* ``fashion``: the same MLP family on a fixed subset of Fashion-MNIST (``--train`` training
  images, ``--val`` images of the test split for validation), read by
  :func:`searchlab.workloads.datasets.image_classification` (digits when the Debian package is
  absent: the file then says ``dataset: digits``);
* ``charlm``: another family, a character-level language model (Bengio et al. 2003's MLP on the
  ``context`` previous characters, embedded in ``embed`` dimensions) on the English license
  texts every Debian system ships (``/usr/share/common-licenses``; 85% for training, the last
  15% for validation), ``--train`` random training windows per epoch; ``val_accuracy`` is the
  next-character accuracy on ``--val`` validation windows::

    nice -n 10 python benchmarks/record_curves.py            # 240 configs x 30 epochs, ~10 min
    nice -n 10 python benchmarks/record_curves.py --workload fashion --configs 120 --epochs 20 \
        --out benchmarks/data/fashion_curves.npz                # ~15 min on a shared core
    nice -n 10 python benchmarks/record_curves.py --workload charlm --configs 100 --epochs 20 \
        --train 8000 --val 4000 --out benchmarks/data/charlm_curves.npz
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


def fashion_mlp(config: dict[str, Any], ctx: Any, train: int = 4000, val: int = 2000
                ) -> Any:
    """The digits MLP family on a fixed subset of Fashion-MNIST (flattened, standardised)."""
    import torch
    from torch import nn

    from searchlab.workloads.datasets import image_classification
    from searchlab.workloads.digits import build_optimizer

    torch.set_num_threads(1)
    torch.manual_seed(ctx.seed)
    data = image_classification()
    xtr = torch.from_numpy(data.x_train[:train].reshape(min(train, len(data.x_train)), -1))
    ytr = torch.from_numpy(data.y_train[:train])
    xva = torch.from_numpy(data.x_test[:val].reshape(min(val, len(data.x_test)), -1))
    yva = torch.from_numpy(data.y_test[:val])
    mean, std = xtr.mean(), xtr.std()
    xtr, xva = (xtr - mean) / std, (xva - mean) / std
    width, hidden = xtr.shape[1], int(config["hidden"])
    mods: list[nn.Module] = []
    for _ in range(int(config["layers"])):
        mods += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(float(config["dropout"]))]
        width = hidden
    model = nn.Sequential(*mods, nn.Linear(width, data.classes))
    opt = build_optimizer(config, model.parameters())
    batch = int(config["batch_size"])
    gen = torch.Generator().manual_seed(ctx.seed)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(ctx.max_epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), batch):
            b = perm[i:i + batch]
            opt.zero_grad()
            loss_fn(model(xtr[b]), ytr[b]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            logits = model(xva)
            val_loss = float(loss_fn(logits, yva))
            acc = float((logits.argmax(1) == yva).float().mean())
        yield {"val_accuracy": acc, "val_loss": val_loss}


LICENSES = Path("/usr/share/common-licenses")


def license_text() -> str:
    """The license texts of a Debian system, each file once, in name order."""
    if not LICENSES.is_dir():
        raise SystemExit(f"charlm: {LICENSES} is not here (Debian's base-files ships it)")
    seen, parts = set(), []
    for path in sorted(LICENSES.iterdir()):
        real = path.resolve()
        if real.is_file() and real not in seen:
            seen.add(real)
            parts.append(real.read_text(errors="replace"))
    return "\n".join(parts)


def char_mlp(config: dict[str, Any], ctx: Any, train: int = 20000, val: int = 5000) -> Any:
    """A character-level MLP language model; yields next-character accuracy and loss."""
    import torch
    from torch import nn

    from searchlab.workloads.digits import build_optimizer

    torch.set_num_threads(1)
    torch.manual_seed(ctx.seed)
    text = license_text()
    vocab = sorted(set(text))
    codes = torch.tensor([vocab.index(c) for c in text], dtype=torch.long)
    context, embed = int(config["context"]), int(config["embed"])
    split = int(0.85 * len(codes))
    fixed = torch.Generator().manual_seed(0)  # the same windows for every configuration
    tr_pos = torch.randint(context, split, (train,), generator=fixed)
    va_pos = torch.randint(split + context, len(codes), (val,), generator=fixed)
    offsets = torch.arange(-context, 0)
    xtr, ytr = codes[tr_pos[:, None] + offsets], codes[tr_pos]
    xva, yva = codes[va_pos[:, None] + offsets], codes[va_pos]
    width, hidden = context * embed, int(config["hidden"])
    mods: list[nn.Module] = [nn.Embedding(len(vocab), embed), nn.Flatten()]
    for _ in range(int(config["layers"])):
        mods += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(float(config["dropout"]))]
        width = hidden
    model = nn.Sequential(*mods, nn.Linear(width, len(vocab)))
    opt = build_optimizer(config, model.parameters())
    batch = int(config["batch_size"])
    gen = torch.Generator().manual_seed(ctx.seed)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(ctx.max_epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), batch):
            b = perm[i:i + batch]
            opt.zero_grad()
            loss_fn(model(xtr[b]), ytr[b]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            logits = model(xva)
            val_loss = float(loss_fn(logits, yva))
            acc = float((logits.argmax(1) == yva).float().mean())
        yield {"val_accuracy": acc, "val_loss": val_loss}


def main(argv: list[str] | None = None) -> None:
    from searchlab.predictive.curves import CurveSet
    from searchlab.workloads.api import Context
    from searchlab.workloads.datasets import image_classification
    from searchlab.workloads.digits import digits_mlp

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--configs", type=int, default=240)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workload", choices=("digits", "fashion", "charlm"), default="digits")
    parser.add_argument("--train", type=int, default=4000,
                        help="fashion: training images; charlm: training windows")
    parser.add_argument("--val", type=int, default=2000,
                        help="fashion: validation images; charlm: validation windows")
    parser.add_argument("--out", default=None,
                        help="default: benchmarks/data/<workload>_curves.npz")
    args = parser.parse_args(argv)
    args.out = args.out or str(ROOT / "benchmarks" / "data" / f"{args.workload}_curves.npz")
    if args.workload == "fashion":
        print(f"dataset: {image_classification().name}", flush=True)

        def train(config: dict[str, Any], ctx: Any) -> Any:
            return fashion_mlp(config, ctx, args.train, args.val)
    elif args.workload == "charlm":
        print(f"corpus: {len(license_text())} characters of {LICENSES}", flush=True)

        def train(config: dict[str, Any], ctx: Any) -> Any:
            return char_mlp(config, ctx, args.train, args.val)
    else:
        train = digits_mlp

    rng = np.random.default_rng(args.seed)
    configs = [sample_config(rng) for _ in range(args.configs)]
    if args.workload == "charlm":  # two more hyperparameters of the language model
        for config in configs:
            config["context"] = int(rng.choice([3, 6, 12]))
            config["embed"] = int(rng.choice([8, 16, 32]))
    acc = np.zeros((args.configs, args.epochs))
    loss = np.zeros((args.configs, args.epochs))
    t0 = time.time()
    for i, config in enumerate(configs):
        ctx = Context(max_epochs=args.epochs, seed=args.seed * 100_000 + i)
        for epoch, metrics in enumerate(train(config, ctx)):
            acc[i, epoch] = metrics["val_accuracy"]
            loss[i, epoch] = (min(metrics["val_loss"], 1e3) if np.isfinite(metrics["val_loss"])
                              else 1e3)
        if (i + 1) % 20 == 0:
            print(f"{i + 1}/{args.configs} configs, {time.time() - t0:.0f} s", flush=True)
    CurveSet(configs, {"val_accuracy": acc, "val_loss": loss}).save(args.out)
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {args.configs} curves x {args.epochs} epochs, {size / 1024:.0f} KiB, "
          f"{time.time() - t0:.0f} s; best final accuracy {acc[:, -1].max():.4f}, "
          f"median {np.median(acc[:, -1]):.4f}")


if __name__ == "__main__":
    main()
