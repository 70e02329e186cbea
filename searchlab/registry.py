"""Lazy "module:attribute" references, as the method and scheduler registries use them."""

from __future__ import annotations

import importlib
from typing import Any


def load(ref: str) -> Any:
    """Import ``module`` and return its ``attribute`` for a ``"module:attribute"`` reference."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
