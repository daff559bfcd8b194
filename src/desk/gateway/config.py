"""The gateway's settings (``gateway:``): :class:`GatewayConfig`.

The struct is defined in :mod:`desk.config`, beside the other engine-level sections (redis,
system): config.py assembles ``DeskConfig`` on the floor below gateway/ and may not import
upwards (tests/test_layout.py). The gateway's modules take it from here.
"""

from __future__ import annotations

from desk.config import GatewayConfig

MAX_BOOK_DEPTH = 400
"""The deepest book a client may ask for (``?depth=``): OKX's full book; the config's
``book_depth`` is held to the same bound."""

__all__ = ["MAX_BOOK_DEPTH", "GatewayConfig"]
