"""The replay server's settings (``replay``): what to play, how fast, where to listen."""

from __future__ import annotations

from typing import Annotated

import msgspec

from desk.core.config import FrozenConfig, Port

SPEED_MAX = 0.0
"""``speed: 0`` (``--speed max``): no pacing, as fast as the client reads."""


def parse_speed(text: str | float) -> float:
    """``"1"``, ``"10"``, ``"2.5"`` -> that factor; ``"max"`` -> :data:`SPEED_MAX`."""
    if isinstance(text, str) and text.strip().lower() == "max":
        return SPEED_MAX
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"speed must be a positive number or 'max', got {text!r}") from None
    if not speed > 0 or speed == float("inf"):
        raise ValueError(f"speed must be a positive number or 'max', got {text!r}")
    return speed


class ReplayConfig(FrozenConfig, frozen=True):
    """A recording played through the OKX wire server (``desk replay``, ``desk --replay``).

    ``path``: the recording's root (``venue=okx/kind=raw/...`` under it; empty: no replay).
    ``speed``: 1 = as recorded, 10 = ten times faster, 0 = as fast as possible (``max``).
    ``start_ns`` / ``end_ns``: only frames received in this range (0: from the start / to the
    end). ``symbols``: only these instruments (empty: every recorded one).
    """

    path: str = ""
    speed: Annotated[float, msgspec.Meta(ge=0.0)] = 1.0
    start_ns: Annotated[int, msgspec.Meta(ge=0)] = 0
    end_ns: Annotated[int, msgspec.Meta(ge=0)] = 0
    symbols: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: Port = 0

    @property
    def enabled(self) -> bool:
        return bool(self.path)
