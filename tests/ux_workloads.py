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
