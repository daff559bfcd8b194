"""What the gateway takes from the engine: shapes, so gateway/ never imports engine/.

The engine imports the gateway and hands it itself (:class:`EngineSource`) and its views
(:class:`DeskViews`, which :class:`~desk.engine.views.EngineViews` satisfies). Everything here
is read on the engine's event loop; nothing is written back (the gateway is read-only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from desk.bridge.views import (
        BookView,
        BotsView,
        EventView,
        HealthView,
        ModelsView,
        SignalsView,
        TradingView,
    )
    from desk.core.bus import Bus


class DeskViews(Protocol):
    """The plain state views the routes stream (each cached by its version)."""

    @property
    def symbols(self) -> tuple[str, ...]: ...

    def book(self, symbol: str, depth: int = 20, venue: str = ...) -> BookView: ...

    def bots(self) -> BotsView: ...

    def signals(self, *, bot_id: str | None = None, limit: int = 200) -> SignalsView: ...

    def trading(self) -> TradingView: ...

    def health(self) -> HealthView: ...

    def models(self) -> ModelsView: ...

    def events_since(self, seq: int, limit: int = 200) -> list[EventView]: ...


class LoopLag(Protocol):
    @property
    def last_ms(self) -> float: ...

    def percentile_ms(self, q: float) -> float: ...


class ProcessReadings(Protocol):
    def cpu_percent(self) -> float: ...

    def rss_bytes(self) -> int: ...


class EngineSource(Protocol):
    """The engine's own counters the ``/metrics`` collector reads at scrape time, and the bus
    the streams subscribe to. Parts an engine (or a split role) does not run are None:

    * ``feeds``: the FeedManager (``.feeds``: connections with ``name``, ``counters``,
      ``state``);
    * ``store``: the SQLite store (``backlog``, ``rows_written``, ``write_errors`` ...);
    * ``execution``: the ExecutionService (``oms``, ``portfolio``, ``risk``);
    * ``bots``: the BotManager (``statuses()``, ``models.health()``);
    * ``redis_link``: the RedisLink (``publisher``, ``connected``).
    """

    @property
    def bus(self) -> Bus: ...

    @property
    def feeds(self) -> Any: ...

    @property
    def store(self) -> Any: ...

    @property
    def execution(self) -> Any: ...

    @property
    def bots(self) -> Any: ...

    @property
    def redis_link(self) -> Any: ...

    @property
    def loop_lag(self) -> LoopLag: ...

    @property
    def process(self) -> ProcessReadings: ...

    @property
    def started_ns(self) -> int: ...

    @property
    def candles_closed(self) -> int: ...
