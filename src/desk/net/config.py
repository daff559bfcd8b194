"""The connection layer's settings: reconnect backoff."""

from __future__ import annotations

from typing import Annotated

import msgspec

from desk.core.config import FrozenConfig, PositiveFloat


class ReconnectConfig(FrozenConfig, frozen=True):
    initial_delay: PositiveFloat = 0.5
    max_delay: PositiveFloat = 30.0
    multiplier: Annotated[float, msgspec.Meta(ge=1.0)] = 2.0
    jitter: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.25
