"""The engine's venues: OKX always, Binance and Coinbase when enabled.

What the engine builds per venue lives here so ``engine.py`` stays about start/stop order:
the simulators (``desk --sim`` runs all three, each on its own port, the venues' URLs pointed
at them), the feeds, the candle aggregators (one per venue, symbol and timeframe, each fed
only by its venue's trades) and the instrument registries (a configured symbol a venue does not
list refuses the start, naming venue and symbol).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from desk.config import PRIMARY_VENUE, ConfigError, DeskConfig
from desk.core.bus import Bus
from desk.core.events import Trade
from desk.feeds.manager import FeedManager
from desk.market.candles import CandleAggregator


def resolved_exchanges(config: DeskConfig) -> Any:
    """``config.exchanges`` with each enabled venue's symbols filled in (its own list, else
    ``trading.symbols``)."""
    exchanges = config.exchanges
    changes = {
        venue: msgspec.structs.replace(
            getattr(exchanges, venue), symbols=config.venue_symbols(venue)
        )
        for venue in exchanges.venues
        if venue != PRIMARY_VENUE
    }
    return msgspec.structs.replace(exchanges, **changes) if changes else exchanges


def build_feeds(config: DeskConfig, bus: Bus) -> FeedManager:
    """The feeds of every enabled venue."""
    exchanges = resolved_exchanges(config)
    enabled = exchanges.venues
    return FeedManager(
        exchanges.okx,
        config.trading.symbols,
        config.trading.channels,
        bus,
        binance=exchanges.binance if "binance" in enabled else None,
        coinbase=exchanges.coinbase if "coinbase" in enabled else None,
    )


async def start_simulators(config: DeskConfig) -> tuple[Any, DeskConfig]:
    """Start one simulator per enabled venue (a shared fair price across them); the server
    and ``config`` with every enabled venue's URLs pointed at its simulator."""
    from desk.sim.server import SimServer  # only a sim run pays for importing the simulator

    server = SimServer(
        config.simulator, venues=config.exchanges.venues, firehose=config.simulator.firehose
    )
    await server.start()
    exchanges = config.exchanges
    okx = server.okx
    changes: dict[str, Any] = {
        "okx": msgspec.structs.replace(
            exchanges.okx,
            ws_public_url=okx.ws_public_url,
            ws_business_url=okx.ws_business_url,
            ws_private_url=okx.ws_private_url,
            rest_url=okx.rest_url,
        )
    }
    for venue in ("binance", "coinbase"):
        sim = getattr(server, venue)
        if sim is not None:
            changes[venue] = msgspec.structs.replace(
                getattr(exchanges, venue), ws_url=sim.ws_url, rest_url=sim.rest_url
            )
    exchanges = msgspec.structs.replace(exchanges, **changes)
    return server, msgspec.structs.replace(config, exchanges=exchanges)


def wire_candles(
    config: DeskConfig,
    bus: Bus,
    clock: Any,
    on_candle: Callable[[Any], None],
    on_gap: Callable[[str], None],
) -> dict[tuple[str, str], CandleAggregator]:
    """One aggregator per (venue, symbol) for every enabled venue, fed by that venue's trades
    on ``market_data:{symbol}`` (where every venue's events travel)."""
    from desk.core import topics

    candles = config.candles
    out: dict[tuple[str, str], CandleAggregator] = {}
    for venue in config.exchanges.venues:
        for symbol in config.venue_symbols(venue):
            aggregator = CandleAggregator(
                venue,
                symbol,
                config.trading.timeframes,
                clock if candles.clock == "wall" else None,  # None: the data's own time
                on_candle,
                max_fill_bars=candles.max_fill_bars,
                on_gap=on_gap,
            )
            out[(venue, symbol)] = aggregator
            bus.subscribe(topics.market_data(symbol), trade_feeder(aggregator, venue))
    return out


def trade_feeder(aggregator: CandleAggregator, venue: str = PRIMARY_VENUE) -> Callable[[Any], None]:
    """A market-data subscriber that passes ``venue``'s trades to one candle aggregator."""
    on_trade = aggregator.on_trade

    def feed(event: Any) -> None:
        if type(event) is Trade and event.venue == venue:
            on_trade(event.ts_exchange, event.price, event.size)

    return feed


def refuse_unlisted(problems: list[str]) -> None:
    """``ConfigError`` naming every venue and symbol that venue does not list."""
    if problems:
        raise ConfigError("refused at start: " + "; ".join(problems))


async def load_instruments(engine: Any) -> None:
    """Every enabled venue's instrument registry, loaded (``engine.instrument_registries``,
    ``venue_instruments`` and ``referential`` filled; OKX's also as ``instrument_registry`` /
    ``instruments``); then each refreshes daily. A symbol a venue other than OKX does not list
    raises ``ConfigError`` naming both."""
    from desk.engine.instruments import InstrumentRegistry, unlisted

    config = engine.config
    for venue in config.exchanges.venues:
        registry = InstrumentRegistry(
            config.venue_symbols(venue),
            getattr(config.exchanges, venue).rest_url,
            engine.store,
            engine.emit,
            venue=venue,
            referential=engine.referential,
        )
        engine.instrument_registries[venue] = registry
        engine.venue_instruments[venue] = registry.by_symbol
        await registry.load()
    engine.instrument_registry = engine.instrument_registries[PRIMARY_VENUE]
    engine.instruments = engine.instrument_registry.by_symbol
    refuse_unlisted(unlisted(engine.instrument_registries.values()))
    for registry in engine.instrument_registries.values():
        registry.start()
