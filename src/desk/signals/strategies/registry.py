"""The registry of strategies by name (for configs and the UI): filled by the package's
``__init__`` with the built-in strategies, read by :func:`create_strategy`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desk.signals.strategy import BaseStrategy

STRATEGIES: dict[str, type[BaseStrategy]] = {}


def create_strategy(name: str, parameters: Mapping[str, Any] | None = None) -> BaseStrategy:
    """A new strategy of the registered ``name``; ValueError for an unknown name or bad params."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise ValueError(f"unknown strategy {name!r}; known: {known}") from None
    return cls(parameters)
