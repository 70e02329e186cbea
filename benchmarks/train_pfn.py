"""Train the learning-curve PFN (searchlab/predictive/pfn.py) on its synthetic prior, on the CPU.

Every step draws a fresh batch of synthetic studies from
:mod:`searchlab.predictive.curve_prior` (one number of curves ``N`` and of epochs ``T`` per
batch, log-uniform in 2..200 and uniform in 8..64) and minimises the bar-distribution negative
log-likelihood of the final value of every curve the study has not seen to the end. No real
learning curve is used. The bins' borders are quantiles of the prior's targets (drawn with the
same seed before training). The run is deterministic for a given seed and thread count, and
resumable: it checkpoints every ``--checkpoint-every`` steps to ``--checkpoint`` and picks up
from there when restarted with the same arguments.

    # the shipped weights (searchlab/data/pfn_curves.pt, 1 MB): 10,000 steps of 16 studies,
    # d_model 128 (the defaults); 57 minutes of wall time on one thread at load 13-50 on the
    # shared 2-core box (budget: one hour of one core; --max-minutes leaves, a rerun resumes)
    OMP_NUM_THREADS=1 python benchmarks/train_pfn.py --out searchlab/data/pfn_curves.pt
    python benchmarks/train_pfn.py --steps 30 --out /tmp/pfn.pt     # smoke run

The last line printed is one JSON object: steps, minutes, validation NLL, and the calibration
(ECE) of P(final beats v) on held-out synthetic studies.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from searchlab.predictive.curve_prior import sample_studies  # noqa: E402
from searchlab.predictive.pfn import (  # noqa: E402
    PFNConfig,
    bar_nll,
    build_network,
    save_network,
    study_features,
    targets,
)

MIN_T, MAX_T = 8, 64
MIN_N, MAX_N = 2, 200


def draw_shape(rng: np.random.Generator) -> tuple[int, int]:
    """(N, T) of one batch."""
    n = int(round(math.exp(rng.uniform(math.log(MIN_N), math.log(MAX_N)))))
    return n, int(rng.integers(MIN_T, MAX_T + 1))


def batch(rng: np.random.Generator, size: int, n: int, t: int) -> tuple[Any, Any, Any]:
    """Features, targets and the mask of curves to predict (not seen to the end)."""
    import torch

    studies = sample_studies(rng, size, n, t)
    features, hi, scale = study_features(studies.curves, studies.lengths)
    y = targets(studies.curves, hi, scale)
    mask = studies.lengths < t
    return (torch.from_numpy(features), torch.from_numpy(y.astype(np.float32)),
            torch.from_numpy(mask))


def make_borders(seed: int, bins: int, batches: int = 200) -> np.ndarray:
    """Quantiles of the prior's targets: ``bins + 1`` strictly increasing borders."""
    rng = np.random.default_rng(seed + 1)
    values = []
    for _ in range(batches):
        n, t = draw_shape(rng)
        studies = sample_studies(rng, 8, n, t)
        _, hi, scale = study_features(studies.curves, studies.lengths)
        y = targets(studies.curves, hi, scale)
        values.append(y[studies.lengths < t])
    v = np.concatenate(values)
    inner = np.quantile(v, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    borders = np.concatenate([[min(v.min(), -3.0) - 1.0], inner, [max(v.max(), 3.0) + 1.0]])
    for k in range(1, len(borders)):  # strictly increasing (ties in the quantiles)
        borders[k] = max(borders[k], borders[k - 1] + 1e-4)
    return borders


def validation_set(seed: int, batches: int = 24, size: int = 8) -> list[tuple[Any, Any, Any]]:
    rng = np.random.default_rng(seed + 2)
    out = []
    for _ in range(batches):
        n, t = draw_shape(rng)
        out.append(batch(rng, size, n, t))
    return out


def evaluate(network: Any, data: list[tuple[Any, Any, Any]]) -> dict[str, float]:
    """Mean NLL of the targets, and the ECE of P(final > v) for v the best final of the other
    curves of each study (the event early stopping asks about)."""
    import torch

    from searchlab.predictive.calibration import expected_calibration_error, reliability

    nll, count, stated, hits = 0.0, 0, [], []
    borders = network.borders
    with torch.inference_mode():
        for features, y, mask in data:
            logits = network(features)
            loss = bar_nll(logits, borders, y)
            nll += float(loss[mask].sum())
            count += int(mask.sum())
            probs = torch.softmax(logits.double(), dim=-1)
            cdf = torch.cumsum(probs, dim=-1)
            best = y.max(dim=1, keepdim=True).values  # the best final of the study ...
            second = y.topk(2, dim=1).values[:, 1:2] if y.shape[1] > 1 else best
            ref = torch.where(y >= best, second, best)  # ... of the other curves
            k = (torch.searchsorted(borders, ref.contiguous(), right=True) - 1).clamp(
                0, len(borders) - 2)
            lo, hi = borders[k], borders[k + 1]
            below = torch.where(k > 0, cdf.gather(-1, (k - 1).clamp(min=0)[..., None])[..., 0],
                                torch.zeros_like(ref, dtype=torch.double))
            inside = probs.gather(-1, k[..., None])[..., 0] * ((ref - lo) / (hi - lo)).clamp(0, 1)
            p = (1.0 - below - inside).clamp(0, 1)
            stated += p[mask].tolist()
            hits += (y > ref)[mask].tolist()
    bins = reliability(stated, hits)
    return {"nll": nll / max(count, 1), "ece": expected_calibration_error(bins)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=16, help="studies per step")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=PFNConfig.layers)
    parser.add_argument("--bins", type=int, default=PFNConfig.bins)
    parser.add_argument("--border-batches", type=int, default=200,
                        help="prior batches whose targets' quantiles are the bins' borders")
    parser.add_argument("--out", default=str(ROOT / "searchlab" / "data" / "pfn_curves.pt"))
    parser.add_argument("--checkpoint", default=None,
                        help="resumable state (default: <out>.ckpt)")
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--stop-after", type=int, default=0,
                        help="leave after this many steps of this invocation (0: run to the end); "
                        "a later run with the same arguments resumes from the checkpoint")
    parser.add_argument("--max-minutes", type=float, default=0.0,
                        help="leave at the next checkpoint after this many minutes (0: no limit)")
    args = parser.parse_args(argv)
    same = {k: v for k, v in vars(args).items()
            if k not in ("eval_every", "stop_after", "max_minutes")}

    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    config = PFNConfig(d_model=args.d_model, layers=args.layers, heads=4, ff=2 * args.d_model,
                       bins=args.bins)
    torch.manual_seed(args.seed)
    network = build_network(config)
    borders = make_borders(args.seed, config.bins, args.border_batches)
    network.borders.copy_(torch.from_numpy(borders))
    optimiser = torch.optim.AdamW(network.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, min(300, args.steps // 10))

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, args.steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, rate)
    rng = np.random.default_rng(args.seed)
    checkpoint = Path(args.checkpoint or args.out + ".ckpt")
    step, spent = 0, 0.0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state["args"] == same:
            network.load_state_dict(state["network"])
            optimiser.load_state_dict(state["optimiser"])
            schedule.load_state_dict(state["schedule"])
            rng.bit_generator.state = state["rng"]
            step, spent = state["step"], state["spent"]
            print(f"resumed at step {step} ({spent / 60:.1f} min spent)", flush=True)
        else:
            print(f"{checkpoint} is of other arguments: starting afresh", flush=True)
    valid = validation_set(args.seed)
    n_params = sum(p.numel() for p in network.parameters())
    print(f"network: {n_params} parameters, {config}", flush=True)
    t0, running, start = time.time(), [], step
    while step < args.steps:
        network.train()
        n, t = draw_shape(rng)
        features, y, mask = batch(rng, args.batch, n, t)
        loss = bar_nll(network(features), network.borders, y)[mask].mean()
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        running.append(loss.item())
        step += 1
        if step % args.checkpoint_every == 0 or step == args.steps:
            elapsed = spent + time.time() - t0
            print(f"step {step}: train NLL {np.mean(running):.3f} "
                  f"({elapsed / 60:.1f} min, load {os.getloadavg()[0]:.1f})", flush=True)
            running = []
            torch.save({"args": same,
                        "network": network.state_dict(), "optimiser": optimiser.state_dict(),
                        "schedule": schedule.state_dict(), "rng": rng.bit_generator.state,
                        "step": step, "spent": elapsed}, checkpoint)
        if step % args.eval_every == 0 and step < args.steps:
            network.eval()
            print(f"  validation: {evaluate(network, valid)}", flush=True)
        out_of_time = (args.max_minutes and step % args.checkpoint_every == 0
                       and time.time() - t0 > 60 * args.max_minutes)
        if step < args.steps and (out_of_time or (args.stop_after
                                                  and step - start >= args.stop_after)):
            if step % args.checkpoint_every:
                print(f"left at step {step}; resume from the checkpoint of step "
                      f"{step - step % args.checkpoint_every}", flush=True)
            print(json.dumps({"steps_done": step, "steps": args.steps, "resumable": True}))
            return
    spent += time.time() - t0
    network.eval()
    figures = evaluate(network, valid)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_network(network, args.out, {"steps": args.steps, "seed": args.seed, "batch": args.batch,
                                     "lr": args.lr, "minutes": round(spent / 60, 1),
                                     "validation": figures})
    print(json.dumps({"steps": args.steps, "seed": args.seed, "parameters": n_params,
                      "minutes": round(spent / 60, 1), "weights": args.out,
                      "weights_kb": round(Path(args.out).stat().st_size / 1024),
                      "validation_nll": round(figures["nll"], 4),
                      "validation_ece": round(figures["ece"], 4)}))


if __name__ == "__main__":
    main()
