"""Coinbase Advanced Trade endpoints and the feed's settings (``exchanges.coinbase``)."""

from __future__ import annotations

from typing import Literal

import msgspec

from desk.core.config import FrozenConfig, PositiveFloat, PositiveInt
from desk.feeds.coinbase.symbols import is_symbol
from desk.feeds.coinbase.wire import SUBSCRIBE_CHANNELS
from desk.feeds.validation import ValidationConfig
from desk.net.config import ReconnectConfig

DEFAULT_CHANNELS = ("level2", "market_trades", "ticker")


class CoinbaseConfig(FrozenConfig, frozen=True):
    """Coinbase market data: where to connect, what to follow, how to stay healthy.

    ``symbols`` are desk's normalised names (``BTC-USD``, ``BTC-USDT``: the quote is kept, a
    dollar is not a tether); empty: the desk's ``trading.symbols``. ``channels`` are Coinbase's
    own names; ``heartbeats`` is always subscribed besides them, since it keeps quiet products'
    connections open.

    ``gap_resync`` says which books a hole in ``sequence_num`` resyncs: ``product`` (default)
    charges it to the products of the ``l2_data`` message that shows it (any other message
    showing a hole resyncs every book), ``connection`` resyncs every book of the connection
    whatever shows it (strict: the counter cannot say what the lost message was about).

    ``messages_per_second``: client messages (subscribes, resyncs) allowed per second; Coinbase
    allows 8 unauthenticated messages per second per IP.
    """

    enabled: bool = False
    symbols: tuple[str, ...] = ()
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    ws_url: str = "wss://advanced-trade-ws.coinbase.com"
    rest_url: str = "https://api.coinbase.com"
    watchdog_timeout: PositiveFloat = 10.0
    connect_timeout: PositiveFloat = 10.0
    gap_resync: Literal["product", "connection"] = "product"
    messages_per_second: PositiveInt = 8
    reconnect: ReconnectConfig = msgspec.field(default_factory=ReconnectConfig)
    validation: ValidationConfig = msgspec.field(default_factory=ValidationConfig)

    def __post_init__(self) -> None:
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise ValueError(f"@ws_url: must start with ws:// or wss://, got {self.ws_url!r}")
        if not self.rest_url.startswith(("http://", "https://")):
            raise ValueError(
                f"@rest_url: must start with http:// or https://, got {self.rest_url!r}"
            )
        for i, symbol in enumerate(self.symbols):
            if not is_symbol(symbol):
                raise ValueError(
                    f"@symbols[{i}]: {symbol!r} is not a BASE-QUOTE name such as 'BTC-USD'"
                )
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("@symbols: a symbol is listed twice")
        for i, channel in enumerate(self.channels):
            if channel not in SUBSCRIBE_CHANNELS:
                raise ValueError(
                    f"@channels[{i}]: unknown channel {channel!r}; "
                    f"expected some of {', '.join(SUBSCRIBE_CHANNELS)}"
                )
        if self.watchdog_timeout < 2.0:
            raise ValueError("@watchdog_timeout: heartbeats come once a second; allow 2 s or more")
