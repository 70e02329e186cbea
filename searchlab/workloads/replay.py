"""Replay recorded learning curves epoch by epoch, as if the configurations were training.

``curves`` is a curve file (:class:`searchlab.predictive.curves.CurveSet`, for example the one
``benchmarks/record_curves.py`` writes). A trial's configuration selects its curve either by an
integer ``curve`` key (the row) or by equal values of the recorded hyperparameters (numbers
compared to 1e-9 relative). Every recorded metric is reported at each epoch, up to
``ctx.max_epochs``; a resumed trial continues after its last checkpointed epoch. A relative path
is taken from the current directory, then from the repository root.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from searchlab.workloads.api import Context


@lru_cache(maxsize=4)
def _load(path: str) -> Any:
    from searchlab.predictive.curves import CurveSet

    return CurveSet.load(path)


def _resolve(curves: str) -> str:
    p = Path(curves).expanduser()
    if not p.is_absolute() and not p.exists():
        repo = Path(__file__).resolve().parents[2] / p
        if repo.exists():
            p = repo
    if not p.exists():
        raise FileNotFoundError(f"replay: curve file {curves!r} not found")
    return str(p.resolve())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def find_row(configs: list[dict[str, Any]], config: Mapping[str, Any]) -> int:
    """The row of the recorded configuration that ``config`` names."""
    if "curve" in config:
        row = int(config["curve"])
        if not 0 <= row < len(configs):
            raise ValueError(f"replay: curve {row} out of range (the file has {len(configs)})")
        return row
    for row, recorded in enumerate(configs):
        if all(k in config and _same(config[k], v) for k, v in recorded.items()):
            return row
    raise KeyError("replay: no recorded curve has this configuration; give a `curve` index or "
                   f"the recorded keys ({', '.join(configs[0]) if configs else 'none'})")


def replay(config: dict[str, Any], ctx: Context, curves: str = "benchmarks/data/digits_curves.npz"
           ) -> Iterator[dict[str, float]]:
    """Report the recorded metrics of ``config``'s curve, one epoch per step."""
    data = _load(_resolve(curves))
    row = find_row(data.configs, config)
    epochs = min(ctx.max_epochs, data.epochs)
    start = int(ctx.restored["epoch"]) + 1 if ctx.restored else 1
    for epoch in range(start, epochs + 1):
        ctx.checkpoint({"epoch": epoch})
        yield {m: float(values[row, epoch - 1]) for m, values in data.curves.items()}


def _preflight(curves: str = "benchmarks/data/digits_curves.npz", **_: Any) -> str | None:
    """Why ``replay`` cannot run here (its curve file missing), or None."""
    try:
        _resolve(curves)
    except FileNotFoundError as e:
        return str(e)
    return None


replay.preflight = _preflight  # type: ignore[attr-defined]
