"""Binance Spot market-data endpoints and the feed's settings (``exchanges.binance``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from desk.core.config import FrozenConfig, PositiveFloat
from desk.feeds.binance.symbols import is_normalised
from desk.feeds.validation import ValidationConfig
from desk.net.config import ReconnectConfig

MAX_STREAMS_PER_CONNECTION = 1024
"""Binance refuses more streams than this on one connection (PROTOCOLS.md B.1)."""
DAY_S = 86_400.0

SnapshotLimit = Annotated[int, msgspec.Meta(ge=1, le=5000)]


class BinanceConfig(FrozenConfig, frozen=True):
    """Binance Spot public market data: where to connect, which symbols, how to keep it alive.

    ``symbols`` are desk's names (``BTC-USDT``); the feed maps them to Binance's (``BTCUSDT``).
    Empty: the desk's ``trading.symbols`` (``DeskConfig.venue_symbols``).
    ``ws_url`` is the stream host: the feed connects to ``{ws_url}/stream?streams=...``
    (combined streams). ``trade_stream`` is ``trade`` (every fill) or ``aggTrade`` (one per
    taker order and price). ``depth_speed`` picks ``<s>@depth@100ms`` or ``<s>@depth`` (1 s).
    ``book_ticker``: the tickers, ``<s>@bookTicker`` (best bid/ask) and ``<s>@miniTicker``
    (the rolling 24 h figures, every second); two streams a symbol more.
    ``snapshot_limit`` is the depth of the REST snapshot a book starts from.

    Keepalive: the server pings every 20 s and the client's pongs are automatic; on top of that
    the feed sends its own ping after ``ping_interval`` of silence and drops the connection when
    no pong comes within ``pong_timeout``. A connection lives at most 24 h on Binance: the feed
    opens the next one after ``max_connection_age`` (or on ``serverShutdown``) and hands the
    books over without a gap, giving up after ``handover_timeout``.
    """

    enabled: bool = False
    symbols: tuple[str, ...] = ()
    ws_url: str = "wss://stream.binance.com:9443"
    rest_url: str = "https://api.binance.com"
    trade_stream: Literal["trade", "aggTrade"] = "trade"
    depth_speed: Literal["100ms", "1000ms"] = "100ms"
    book_ticker: bool = True
    snapshot_limit: SnapshotLimit = 1000
    ping_interval: PositiveFloat = 30.0
    pong_timeout: PositiveFloat = 10.0
    connect_timeout: PositiveFloat = 10.0
    max_connection_age: PositiveFloat = DAY_S - 1800.0
    handover_timeout: PositiveFloat = 30.0
    reconnect: ReconnectConfig = msgspec.field(default_factory=ReconnectConfig)
    validation: ValidationConfig = msgspec.field(default_factory=ValidationConfig)

    def __post_init__(self) -> None:
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise ValueError(f"@ws_url: must start with ws:// or wss://, got {self.ws_url!r}")
        if not self.rest_url.startswith(("http://", "https://")):
            raise ValueError(
                f"@rest_url: must start with http:// or https://, got {self.rest_url!r}"
            )
        for symbol in self.symbols:
            if not is_normalised(symbol):
                raise ValueError(
                    f"@symbols: {symbol!r} is not a desk symbol BASE-QUOTE such as BTC-USDT"
                )
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("@symbols: a symbol is listed twice")
        if len(self.symbols) * self.streams_per_symbol > MAX_STREAMS_PER_CONNECTION:
            raise ValueError(
                f"@symbols: {len(self.symbols)} symbols need more than Binance's "
                f"{MAX_STREAMS_PER_CONNECTION} streams per connection"
            )
        if self.max_connection_age > DAY_S:
            raise ValueError("@max_connection_age: Binance closes every connection after 24 h")

    @property
    def streams_per_symbol(self) -> int:
        """Depth and trades, plus ``bookTicker`` and ``miniTicker`` with ``book_ticker``."""
        return 4 if self.book_ticker else 2

    @property
    def depth_stream(self) -> str:
        """The stream suffix of the diff depth: ``depth@100ms`` or ``depth``."""
        return "depth@100ms" if self.depth_speed == "100ms" else "depth"
