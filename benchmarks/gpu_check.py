"""One prepared check for a machine with a GPU (``scripts/gpu_check.sh`` runs it).

    python benchmarks/gpu_check.py [--dry-run] [--quick]

In this order, each through searchlab as a user runs it (a local Ray cluster of its own, MLflow
tracking into a temporary SQLite store) except the Deep GA, which is timed directly:

1. ``packing``: 8 trials at ``resources: {gpu: 0.25}`` on one GPU: Ray packs 4 at a time onto
   it; each trial records the GPU ids Ray gave it, ``CUDA_VISIBLE_DEVICES`` as it sees it, its
   device, the CUDA device name, and which other trials ran at the same time.
2. ``deep_ga``: the Deep GA (CartPole-v1, population 1,000, a 4-256-256-2 MLP, torch forward
   pass) for ``--generations`` generations on the GPU and on the CPU: frames per second.
3. ``stn``: STN on its reference MLP (784-1200-1200-10 on Fashion-MNIST, spaces/stn_mlp.yaml)
   with ``resources: {gpu: 1}``: wall time, final validation loss and error, the device.
4. ``lr_free``: one lr_free workload (``fashion_cnn``) at ``size: full`` with ``gpu: 1``,
   Prodigy and AdamW at their defaults: wall time, final validation error, target reached.

``--dry-run``: no GPU needed: the local cluster declares one logical GPU (``--gpus 1``), trials
run on the CPU (device ``cpu``), the Deep GA compares the CPU with itself, and STN and lr_free
run at small sizes. CI runs it this way (tests/test_gpu_check.py). ``--quick`` shortens the real
run (fewer epochs) where time is short.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


# ---------------------------------------------------------------------------- 1. packing
def packed_probe(config: dict[str, Any], ctx: Any, marker_dir: str, expect: int = 4,
                 wait: float = 120.0) -> dict[str, float]:
    """A trial of the packing check: waits (up to ``wait`` s) until ``expect`` trials run at
    once, and records what it was given."""
    import ray

    me = Path(marker_dir) / f"{config['i']:02d}"
    start = time.time()
    me.with_suffix(".start").write_text(str(start))
    deadline = start + wait
    while time.time() < deadline:
        if len(list(Path(marker_dir).glob("*.start"))) >= expect:
            break
        time.sleep(0.1)
    name = ""
    if ctx.device == "cuda":
        import torch

        x = torch.ones(1024, 1024, device="cuda")
        float((x @ x).sum())  # a kernel ran on the device this trial was given
        name = torch.cuda.get_device_name(0)
    running = sorted(p.stem for p in Path(marker_dir).glob("*.start")
                     if not Path(marker_dir, p.stem + ".end").exists())
    me.with_suffix(".json").write_text(json.dumps({
        "trial": config["i"], "ray_gpu_ids": [str(g) for g in ray.get_gpu_ids()],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "device": ctx.device,
        "device_name": name, "running_with": running, "pid": os.getpid()}))
    time.sleep(1.0)  # the others see this one running
    me.with_suffix(".end").write_text(str(time.time()))
    return {"done": 1.0}


def _run(text: str, tmp: Path, gpus: float | None) -> Any:
    from searchlab.runner import RunOptions, run_study
    from searchlab.spec.parse import parse_text

    name = next(line for line in text.splitlines() if line.startswith("name:")).split(":")[1]
    name = name.strip()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    loaded = parse_text(text, str(tmp / f"{name}.yaml"))
    t0 = time.perf_counter()
    result = run_study(loaded, RunOptions(storage=str(tmp / "studies"), quiet=True, gpus=gpus),
                       out=sys.stderr)
    return result, time.perf_counter() - t0


def packing(tmp: Path, gpus: float | None) -> dict[str, Any]:
    marks = tmp / "packing"
    marks.mkdir()
    result, seconds = _run(textwrap.dedent(f"""\
        name: gpu-packing
        workload: {{function: "gpu_check:packed_probe", path: "{HERE}",
                   args: {{marker_dir: "{marks}"}}}}
        metric: {{name: done, mode: max}}
        space: {{i: {{grid: [0, 1, 2, 3, 4, 5, 6, 7]}}}}
        search: {{algorithm: grid}}
        budget: {{concurrency: 8}}
        resources: {{cpu: 1, gpu: 0.25}}
        """), tmp, gpus)
    seen = [json.loads(p.read_text()) for p in sorted(marks.glob("*.json"))]
    return {
        "trials": len(seen), "completed": result.counts.get("completed", 0),
        "most_at_once": max((len(s["running_with"]) for s in seen), default=0),
        "ray_gpu_ids": sorted({",".join(s["ray_gpu_ids"]) for s in seen}),
        "cuda_visible_devices": sorted({str(s["cuda_visible_devices"]) for s in seen}),
        "devices": sorted({s["device"] for s in seen}),
        "device_names": sorted({s["device_name"] for s in seen if s["device_name"]}),
        "processes": len({s["pid"] for s in seen}), "seconds": round(seconds, 1)}


# ---------------------------------------------------------------------------- 2. Deep GA
def deep_ga(generations: int, dry_run: bool) -> dict[str, Any]:
    import torch

    from searchlab.methods.deep_ga.algorithm import DeepGA
    from searchlab.methods.deep_ga.settings import GAConfig
    from searchlab.workloads.api import SerialPool

    cfg = GAConfig(env="CartPole-v1", hidden=(256, 256), population=1000, truncation=20,
                   elite_candidates=5, elite_episodes=5, generations=generations + 1,
                   final_episodes=0, backend="torch")
    gpu = torch.cuda.is_available() and not dry_run
    out: dict[str, Any] = {"population": cfg.population, "hidden": list(cfg.hidden),
                           "generations": generations}
    for device in (["cuda"] if gpu else []) + ["cpu"]:
        ga = DeepGA(cfg, 0, SerialPool(device), device)
        ga.step()  # warm-up: allocations, the CUDA context
        frames, wall = ga.frames, ga.wall_time
        for _ in range(generations):
            ga.step()
        rate = (ga.frames - frames) / max(ga.wall_time - wall, 1e-9)
        out[f"{device}_frames_per_s"] = round(rate)
        out[f"{device}_best_score"] = round(float(ga.best_ever), 1)
    if gpu:
        out["gpu_over_cpu"] = round(out["cuda_frames_per_s"] / out["cpu_frames_per_s"], 2)
    return out


# ---------------------------------------------------------------------------- 3. STN
def stn(tmp: Path, gpus: float | None, dry_run: bool, quick: bool) -> dict[str, Any]:
    from searchlab.workloads.datasets import fashion_mnist_dir

    data = "fashion_mnist" if fashion_mnist_dir() is not None else "digits"
    import yaml

    study = yaml.safe_load((REPO / "spaces" / "stn_mlp.yaml").read_text())  # the reference
    study["name"] = "gpu-stn"
    study["method"].update({"variants": ["stn"], "seeds": 1, "data": data})
    if dry_run:
        study["method"].update({"epochs": 1, "warmup_epochs": 0, "train_size": 1000,
                                "val_size": 300, "test_size": 300})
    elif quick:
        study["method"].update({"epochs": 4, "warmup_epochs": 1})
    study["budget"] = {"concurrency": 1}
    study["resources"] = {"cpu": 1, "gpu": 1}
    result, seconds = _run(yaml.safe_dump(study, sort_keys=False), tmp, gpus)
    row = result.rows[0] if result.rows else None
    return {"data": data, "epochs_planned": study["method"]["epochs"],
            "status": row.status if row else None,
            "epochs": row.epochs if row else 0, "metric": result.metric,
            "value": None if row is None or row.value is None else round(float(row.value), 4),
            "seconds": round(seconds, 1)}


# ---------------------------------------------------------------------------- 4. lr_free
def lr_free(tmp: Path, gpus: float | None, dry_run: bool, quick: bool) -> dict[str, Any]:
    size = "small" if dry_run else "full"
    epochs = 10 if dry_run or quick else 30  # evaluations: the workload's budget at that size
    result, seconds = _run(textwrap.dedent(f"""\
        name: gpu-lr-free
        workload: {{function: "searchlab.methods.lr_free.workloads:fashion_cnn",
                   args: {{size: {size}}}}}
        metric: {{name: val_metric, mode: min}}
        space: {{optimizer: {{grid: [prodigy, adamw]}}}}
        search: {{algorithm: grid}}
        budget: {{concurrency: 1, max_epochs: {epochs}}}
        resources: {{cpu: 1, gpu: 1}}
        """), tmp, gpus)
    return {"workload": "fashion_cnn", "size": size,
            "trials": {str(r.config.get("optimizer")): {
                "status": r.status, "evaluations": r.epochs,
                "val_error": None if r.value is None else round(float(r.value), 4)}
                for r in result.rows},
            "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true",
                    help="no GPU: one logical GPU on the local cluster, small sizes")
    ap.add_argument("--quick", action="store_true", help="fewer epochs on a real GPU")
    ap.add_argument("--generations", type=int, help="Deep GA generations timed (default 3; "
                    "1 in a dry run)")
    ap.add_argument("--only", nargs="*", choices=["packing", "deep_ga", "stn", "lr_free"],
                    help="run only these parts")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(HERE))  # this module, for the packing trials' workload
    import torch

    from searchlab.execution.ray_start import cuda_devices

    physical = cuda_devices()
    if not args.dry_run and (physical == 0 or not torch.cuda.is_available()):
        raise SystemExit("gpu_check: no GPU here (CUDA not available); run with --dry-run")
    gpus = 1.0 if args.dry_run else None
    summary: dict[str, Any] = {
        "dry_run": args.dry_run, "torch": torch.__version__,
        "cuda": torch.version.cuda, "gpus": physical,
        "gpu_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() and not
        args.dry_run else None}
    parts = args.only or ["packing", "deep_ga", "stn", "lr_free"]
    with tempfile.TemporaryDirectory(prefix="searchlab-gpu-check-") as d:
        tmp = Path(d)
        for part in parts:
            t0 = time.perf_counter()
            try:
                if part == "packing":
                    summary[part] = packing(tmp, gpus)
                elif part == "deep_ga":
                    summary[part] = deep_ga(args.generations or (1 if args.dry_run else 3),
                                            args.dry_run)
                elif part == "stn":
                    summary[part] = stn(tmp, gpus, args.dry_run, args.quick)
                else:
                    summary[part] = lr_free(tmp, gpus, args.dry_run, args.quick)
            except Exception as e:  # noqa: BLE001 - one part failing leaves the others' figures
                summary[part] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
            print(f"gpu_check: {part} in {time.perf_counter() - t0:.1f} s: "
                  f"{json.dumps(summary[part])}", file=sys.stderr, flush=True)
    summary["load_1min"] = round(os.getloadavg()[0], 1)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
