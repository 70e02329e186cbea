"""Small workloads for the user-experience tests (imported by reference from study files)."""

from __future__ import annotations


def half_fail(config, ctx):
    """Fails for x >= 0 (half of a symmetric grid), else reports x**2 for each epoch."""
    x = config["x"]
    if x >= 0:
        raise ValueError(f"x={x:g} must be negative")
    for epoch in range(1, ctx.max_epochs + 1):
        print(f"epoch {epoch}: loss {x * x:.3f}")
        ctx.checkpoint({"epoch": epoch})
        yield {"loss": x * x}


def exits(config, ctx):
    """Ends its process with os._exit(3) for x > 0 (as a crashing native library would),
    after its first report; else reports x**2 for each epoch."""
    import os

    x = config["x"]
    for _ in range(ctx.max_epochs):
        yield {"loss": x * x}
        if x > 0:
            os._exit(3)


def holds(config, ctx):
    """Reports slowly, holding 100 MB, so Ray's memory monitor can end it."""
    import time

    held = bytearray(100 * 1024 * 1024)
    for _ in range(ctx.max_epochs):
        time.sleep(1.0)
        yield {"loss": config["x"] + len(held) * 0}


def slow_square(config, ctx):
    """x**2 for each epoch, 0.5 s apiece."""
    import time

    for _ in range(ctx.max_epochs):
        time.sleep(0.5)
        yield {"loss": config["x"] ** 2}
