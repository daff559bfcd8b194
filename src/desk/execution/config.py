"""Execution settings: where orders go and the limits they must pass (``execution``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from desk.core.config import FrozenConfig, PositiveFloat
from desk.execution.breaker import BreakerConfig
from desk.execution.paper import PaperConfig
from desk.execution.risk_rules import RiskConfig


class OrderHistoryConfig(FrozenConfig, frozen=True):
    """How long the OMS keeps done orders (filled, canceled, rejected, expired) in memory.

    SQLite keeps every order; memory keeps a done order ``keep_minutes`` after it ended, and at
    most ``max_done_orders`` of them (the oldest go first), so a long run stays flat. The ids of
    the ``remember_pruned`` orders pruned last are remembered: a late or duplicate report for
    one of them is recognised (logged and counted, never taken for money on an unknown order),
    and a request that reuses such an id is refused.
    """

    keep_minutes: PositiveFloat = 60.0
    max_done_orders: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    remember_pruned: Annotated[int, msgspec.Meta(ge=1)] = 100_000


class ExecutionConfig(FrozenConfig, frozen=True):
    """Where orders go and the limits they must pass.

    ``venue``: ``auto`` trades on the simulator's private OKX API in sim mode, on the paper
    venue (fills against the live book) in paper mode, and on OKX in live mode; ``paper``
    forces the paper venue. Live trading needs ``allow_live: true`` here AND a confirmation on
    screen. ``demo`` sends OKX's ``x-simulated-trading`` flag and uses the demo host.
    Credentials come from ``credentials_file`` (mode 0600, ``api_key=``, ``secret=``,
    ``passphrase=`` lines) or the ``DESK_OKX_API_KEY`` / ``DESK_OKX_SECRET`` /
    ``DESK_OKX_PASSPHRASE`` environment variables, never from this file.
    """

    venue: Literal["auto", "paper"] = "auto"
    allow_live: bool = False
    demo: bool = True
    credentials_file: str = ""
    starting_cash: Annotated[float, msgspec.Meta(ge=0)] = 100_000.0
    bot_order_type: Literal["market", "ioc"] = "market"
    risk_interval: PositiveFloat = 1.0
    request_timeout: PositiveFloat = 10.0
    risk: RiskConfig = msgspec.field(default_factory=RiskConfig)
    paper: PaperConfig = msgspec.field(default_factory=PaperConfig)
    breaker: BreakerConfig = msgspec.field(default_factory=BreakerConfig)
    history: OrderHistoryConfig = msgspec.field(default_factory=OrderHistoryConfig)
