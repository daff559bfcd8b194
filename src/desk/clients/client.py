"""EngineClient: the one interface between the engine and any UI (DESIGN.md section 1).

The UI samples state at its own rate and never reaches into engine objects. Two implementations:
in-process (``InProcessClient``, the default ``desk`` and the UI tests) and Redis (``desk ui
--attach``, later). The interface is transport-neutral: snapshots of state that carry a version,
a sequence of recent system events, and commands answered by an acknowledgement.
"""

from __future__ import annotations

from typing import Protocol

from desk.bridge.venue_views import CrossVenueView
from desk.bridge.views import (
    BookView,
    BotDetailView,
    BotsView,
    CandlesView,
    EventView,
    HealthView,
    IndicatorsView,
    InstrumentView,
    ModelsView,
    SignalsView,
    StrategyInfo,
    TapeView,
    TickersView,
    TradingView,
)
from desk.core.commands import Command, CommandAck
from desk.core.enums import Mode
from desk.core.orders import OrderRequest

__all__ = ["CommandAck", "EngineClient"]


class EngineClient(Protocol):
    """What a UI may ask of an engine, wherever it runs."""

    @property
    def mode(self) -> Mode: ...

    @property
    def symbols(self) -> tuple[str, ...]: ...

    @property
    def timeframes(self) -> tuple[str, ...]: ...

    @property
    def connected(self) -> bool:
        """Whether the client currently reaches its engine."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def venues(self) -> tuple[str, ...]:
        """The venues whose market data the engine shows ("okx" first)."""
        ...

    def book(self, symbol: str, depth: int = 20, venue: str = "okx") -> BookView:
        """One venue's book of ``symbol``."""
        ...

    def cross_venue(self) -> CrossVenueView:
        """Each venue's top of book per symbol and the net spreads between venues."""
        ...

    def tape(self, symbol: str, limit: int = 50, venue: str = "all") -> TapeView:
        """``venue``'s trades of ``symbol``, newest first ("all": every venue's, each tagged)."""
        ...

    def tickers(self) -> TickersView:
        """The latest ticker of every symbol on every venue (by symbol, then venue order)."""
        ...

    def candles(
        self, symbol: str, timeframe: str, limit: int = 120, venue: str = "okx"
    ) -> CandlesView:
        """``venue``'s candles of ``symbol``; the view's ``venue`` says whose they are (a client
        that keeps only OKX's answers with those)."""
        ...

    def health(self) -> HealthView: ...

    def events_since(self, seq: int, limit: int = 200) -> list[EventView]:
        """System events with ``seq`` greater than the given one, oldest first."""
        ...

    def bots(self) -> BotsView: ...

    def signals(
        self,
        *,
        bot_id: str | None = None,
        fate: str | None = None,
        symbol: str | None = None,
        text: str = "",
        limit: int = 200,
    ) -> SignalsView:
        """Recent signals newest first; ``fate`` matches by prefix ("filtered" = any filter)."""
        ...

    def bot_detail(self, bot_id: str, limit: int = 120) -> BotDetailView:
        """KeyError for an unknown bot."""
        ...

    def indicators(self) -> IndicatorsView: ...

    def strategies(self) -> list[StrategyInfo]: ...

    def trading(self) -> TradingView:
        """Orders, fills, positions, PnL, risk and reconciliation state."""
        ...

    def instruments(self) -> list[InstrumentView]: ...

    def models(self) -> ModelsView:
        """Every live model's health (LSTM bots' inference, live scores, drift, staleness)."""
        ...

    def check_order(self, request: OrderRequest) -> str:
        """Why the engine would refuse ``request`` now ("" if it would pass); sends nothing.

        The ticket calls this as the operator types, so the reason shows before sending.
        """
        ...

    async def execute(self, command: Command) -> CommandAck:
        """Run a command in the engine; never raises for a refused command."""
        ...
