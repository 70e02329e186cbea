"""Workloads used by the tests (importable by Ray workers through `workload.path`)."""

from __future__ import annotations

import math
import os
import time


def curve(config, ctx, marker_dir=None, sleep=0.0):
    """A learning curve whose level is set by `q`; records each run in marker_dir."""
    if marker_dir:
        with open(os.path.join(marker_dir, f"{os.getpid()}-{time.time_ns()}"), "w") as f:
            f.write(repr(sorted(config.items())))
    start = ctx.restored["epoch"] + 1 if ctx.restored else 1
    for epoch in range(start, ctx.max_epochs + 1):
        if sleep:
            time.sleep(sleep)
        ctx.checkpoint({"epoch": epoch})
        yield {"score": float(config.get("q", 0.5)) * (1 - math.exp(-epoch / 3)), "device": 0.0}


def conditional(config, ctx):
    """Checks that the config is consistent with the conditional space of the tests."""
    opt = config["optimizer"]
    keys = {k for k in config if k.startswith("optimizer.")}
    expected = {"sgd": {"optimizer.sgd.momentum"}, "adam": {"optimizer.adam.beta2"}}[opt]
    if keys != expected:
        raise ValueError(f"inconsistent conditional config: {config}")
    x = config["x1"]
    bonus = config.get("optimizer.sgd.momentum", 0.0)
    return {"loss": (x - 0.3) ** 2 + (0.1 if opt == "adam" else bonus * 0.01)}


def diverges(config, ctx):
    for epoch in range(1, ctx.max_epochs + 1):
        yield {"loss": float("nan") if config["x1"] > 0.5 and epoch >= 2 else 1.0 / epoch}


def raises(config, ctx):
    if config["x1"] > 0.5:
        raise RuntimeError("boom: this trial failed on purpose")
    return {"loss": config["x1"]}


def gpu_share(config, ctx, marker_dir, expect=4, wait=45.0):
    """A barrier: waits until `expect` trials run at once (or `wait` s), records what it saw."""
    me = os.path.join(marker_dir, f"start-{os.getpid()}-{time.time_ns()}")
    open(me, "w").close()
    deadline = time.time() + wait
    while time.time() < deadline:
        seen = len([n for n in os.listdir(marker_dir) if n.startswith("start-")])
        if seen >= expect:
            break
        time.sleep(0.1)
    with open(me.replace("start-", "seen-"), "w") as f:
        f.write(f"{seen} {ctx.device} {os.environ.get('CUDA_VISIBLE_DEVICES', '')}")
    return {"loss": config["x1"]}


def flaky(config, ctx, marker_dir):
    """Fails once at epoch 3 on its first attempt, then succeeds from its checkpoint."""
    flag = os.path.join(marker_dir, f"failed-{config['x1']:.6f}")
    start = ctx.restored["epoch"] + 1 if ctx.restored else 1
    with open(os.path.join(marker_dir, f"start-{config['x1']:.6f}-{start}-{time.time_ns()}"), "w"):
        pass
    for epoch in range(start, ctx.max_epochs + 1):
        if epoch == 3 and not os.path.exists(flag):
            open(flag, "w").close()
            raise RuntimeError("transient failure")
        ctx.checkpoint({"epoch": epoch})
        yield {"loss": 1.0 / epoch}


def wrong_signature(config):
    return {"loss": 0.0}


def hangs(config, ctx):
    """Reports once, then hangs (in C code, where no Python-level interrupt reaches it)."""
    yield {"loss": 1.0}
    if config["x1"] > 0.5:
        time.sleep(3600)
    yield {"loss": 0.5}


def no_metric(config, ctx):
    return {"accuracy": 0.5}


def killed_once(config, ctx, marker_dir):
    """Its worker process is SIGKILLed at epoch 3 on the first attempt."""
    import signal

    flag = os.path.join(marker_dir, "killed")
    start = ctx.restored["epoch"] + 1 if ctx.restored else 1
    open(os.path.join(marker_dir, f"start-{start}-{time.time_ns()}"), "w").close()
    for epoch in range(start, ctx.max_epochs + 1):
        if epoch == 3 and not os.path.exists(flag):
            open(flag, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        ctx.checkpoint({"epoch": epoch})
        yield {"loss": 1.0 / epoch}


def prints(config, ctx):
    print(f"hello from trial x1={config['x1']:.3f}")
    return {"loss": config["x1"]}


def slow_curve(config, ctx, sleep=0.4):
    for epoch in range(1, ctx.max_epochs + 1):
        time.sleep(sleep)
        yield {"loss": config["x1"] / epoch}


def conditional_curve(config, ctx):
    """A learning curve on the tests' conditional space (x1 and an optimizer choice)."""
    opt = config["optimizer"]
    extra = config.get("optimizer.sgd.momentum", config.get("optimizer.adam.beta2", 0.0))
    level = (config["x1"] - 0.3) ** 2 + (0.1 if opt == "adam" else 0.0) + 0.01 * extra
    for epoch in range(1, ctx.max_epochs + 1):
        yield {"loss": level + 1.0 / epoch}


def _node_of(cache, item):
    return cache["node_id"]


def pool_nodes(config, ctx):
    """Where the trial's evaluation pool ran: its size and the distinct nodes of its workers."""
    nodes = ctx.pool.map(_node_of, list(range(8)))
    yield {"workers": float(ctx.pool.size), "distinct_nodes": float(len(set(nodes)))}
