"""The read side of :class:`~desk.clients.redis.RedisClient`: Redis views, cached here.

Every view the engine's :class:`~desk.engine.redis_link.RedisLink` keeps in Redis
(:mod:`desk.bridge.redis_views`) is read with one pipelined MGET per UI tick (only values whose
bytes changed are opened and decoded), and the UI's synchronous view calls return the cached
views (sliced to the depth/limit asked; signal filters applied here over the cached recent
list). A value that does not carry the engine's seal (:mod:`desk.bridge.signing`) is not shown:
the view stays as last verified, and the refusal is reported in this UI's event log.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from desk.bridge.codec import CodecError, decode_as
from desk.bridge.keys import RedisKeys
from desk.bridge.redis_publisher import CONNECTION_ERRORS
from desk.bridge.redis_views import (
    SPLIT_EVENT_ROLES,
    DeskMeta,
    EventsView,
    InstrumentsView,
    StrategiesView,
    ViewKeys,
)
from desk.bridge.signing import Liveness, SealedReader
from desk.bridge.venue_views import (
    ALL_VENUES,
    PRIMARY_VENUE,
    CrossVenueView,
    empty_cross_venue,
)
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
    SignalView,
    StrategyInfo,
    TapeView,
    TickersView,
    TradingView,
    no_trading_view,
)
from desk.core.enums import Mode

REDIS_ERRORS = (*CONNECTION_ERRORS, RedisError)


class RedisViewCache:
    """The views half of a :class:`~desk.clients.redis.RedisClient`, which sets up its state."""

    keys: RedisKeys
    view_keys: ViewKeys
    holder_id: str
    _redis: aioredis.Redis | None
    _meta: DeskMeta | None
    _raw: dict[str, bytes]
    _views: dict[str, Any]
    _slices: dict[Any, Any]
    _events: deque[EventView]
    _event_seq: int
    _remote_epoch: int
    _remote_seqs: dict[str, int]
    _redis_ok: bool
    _engine_alive: bool
    _holder: str | None
    _has_control: bool
    _view_reader: SealedReader
    _liveness: Liveness
    forged_views: int
    _observe_grant: Callable[[bytes | None], None]  # RedisControl's
    refreshes: int
    decode_errors: int
    last_error: str

    # -- EngineClient: identity ------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self._meta.mode if self._meta is not None else Mode.SIM

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._meta.symbols if self._meta is not None else ()

    @property
    def timeframes(self) -> tuple[str, ...]:
        return self._meta.timeframes if self._meta is not None else ()

    @property
    def venues(self) -> tuple[str, ...]:
        return self._meta.venues if self._meta is not None else (PRIMARY_VENUE,)

    @property
    def connected(self) -> bool:
        """Redis answers and the engine's (sealed) heartbeat still moves."""
        return self._redis_ok and self._engine_alive

    def _note_error(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._redis_ok = False

    # -- reading ---------------------------------------------------------------------------

    def _wanted(self) -> list[tuple[str, Any]]:
        """Every view key to read, with the type it decodes to."""
        vk = self.view_keys
        wanted: list[tuple[str, Any]] = [
            (vk.meta, DeskMeta),
            (vk.tickers, TickersView),
            (vk.health, HealthView),
            (vk.bots, BotsView),
            (vk.signals, SignalsView),
            (vk.indicators, IndicatorsView),
            (vk.models, ModelsView),
            (vk.trading, TradingView),
            (vk.instruments, InstrumentsView),
            (vk.strategies, StrategiesView),
            (vk.events, EventsView),
            (vk.cross_venue, CrossVenueView),
            *((vk.component_events(role), EventsView) for role in SPLIT_EVENT_ROLES),
        ]
        for symbol in self.symbols:
            wanted.extend((vk.book(symbol, venue), BookView) for venue in self.venues)
            wanted.append((vk.tape(symbol), TapeView))
            if len(self.venues) > 1:
                wanted.extend((vk.tape(symbol, venue), TapeView) for venue in self.venues)
            wanted.extend(
                (vk.candles(symbol, tf, venue), CandlesView)
                for tf in self.timeframes
                for venue in self.venues
            )
        bots = self._views.get(vk.bots)
        if bots is not None:
            wanted.extend((vk.bot(b.bot_id), BotDetailView) for b in bots.bots)
        return wanted

    async def refresh(self) -> None:
        """One round trip: every view, the engine's heartbeat and the lease grant."""
        if self._redis is None:
            return
        wanted = self._wanted()
        component = self._meta.component if self._meta is not None else "engine"
        heartbeat = self.keys.heartbeat(component)
        pipe = self._redis.pipeline(transaction=False)
        pipe.mget([key for key, _ in wanted])
        pipe.get(heartbeat)
        pipe.get(self.keys.control_lease)
        try:
            values, beat, grant = await pipe.execute()
        except REDIS_ERRORS as exc:
            self._note_error(exc)
            return
        self._redis_ok = True
        self._engine_alive = self._liveness.observe(heartbeat, beat)
        self._observe_grant(grant)
        for (key, type_), raw in zip(wanted, values, strict=True):
            if raw is None or self._raw.get(key) == raw:
                continue  # missing (Redis restarted: keep what we had) or unchanged
            self._raw[key] = raw  # a refused value is not opened (nor reported) again
            payload = self._view_reader.open(key, raw)
            if payload is None:
                self.forged_views += 1
                continue
            try:
                view = decode_as(payload, type_)
            except CodecError as exc:
                self.decode_errors += 1
                self.last_error = str(exc)
                continue
            self._views[key] = view
            if type_ is DeskMeta:
                self._meta = view
            elif type_ is EventsView:
                self._merge_events(key, view)
        self.refreshes += 1

    def _merge_events(self, key: str, view: EventsView) -> None:
        """Number events here (from every process that writes events), so an engine restart
        (its seq starts again) loses none."""
        epoch = self._meta.started_ns if self._meta is not None else 0
        if key == self.view_keys.events and epoch != self._remote_epoch:
            self._remote_epoch = epoch
            self._remote_seqs[key] = 0
        last = self._remote_seqs.get(key, 0)
        if view.events and view.events[-1].seq < last:
            last = 0  # that process restarted
        for event in view.events:
            if event.seq <= last:
                continue
            last = event.seq
            self._event_seq += 1
            self._events.append(msgspec.structs.replace(event, seq=self._event_seq))
        self._remote_seqs[key] = last

    def _sliced(self, key: Any, view: Any, build: Callable[[], Any]) -> Any:
        """Cache a derived view per source object, so the same input gives the same object."""
        hit = self._slices.get(key)
        if hit is not None and hit[0] is view:
            return hit[1]
        out = build()
        self._slices[key] = (view, out)
        return out

    # -- EngineClient: views ---------------------------------------------------------------

    def book(self, symbol: str, depth: int = 20, venue: str = PRIMARY_VENUE) -> BookView:
        view = self._views.get(self.view_keys.book(symbol, venue))
        if view is None:
            return BookView(
                venue=venue,
                symbol=symbol,
                bids=[],
                asks=[],
                seq_id=0,
                ts_exchange=0,
                ts_recv=time.time_ns(),
                age_ms=math.inf,
                stale=True,
            )
        stale = view.stale or not self.connected
        return self._sliced(
            ("book", symbol, depth, stale, venue),
            view,
            lambda: msgspec.structs.replace(
                view, bids=view.bids[:depth], asks=view.asks[:depth], stale=stale
            ),
        )

    def tape(self, symbol: str, limit: int = 50, venue: str = ALL_VENUES) -> TapeView:
        if len(self.venues) < 2:  # one venue: its tape is the merged one
            venue = ALL_VENUES
        view = self._views.get(self.view_keys.tape(symbol, venue))
        if view is None:
            return TapeView(symbol=symbol, trades=[])
        return self._sliced(
            ("tape", symbol, limit, venue),
            view,
            lambda: msgspec.structs.replace(view, trades=view.trades[:limit]),
        )

    def cross_venue(self) -> CrossVenueView:
        return self._views.get(self.view_keys.cross_venue) or empty_cross_venue(list(self.venues))

    def tickers(self) -> TickersView:
        return self._views.get(self.view_keys.tickers) or TickersView(tickers=[])

    def candles(
        self, symbol: str, timeframe: str, limit: int = 120, venue: str = "okx"
    ) -> CandlesView:
        """``venue``'s candles, as the engine wrote them for each of its venues."""
        view = self._views.get(self.view_keys.candles(symbol, timeframe, venue))
        if view is None:
            return CandlesView(
                symbol=symbol, timeframe=timeframe, candles=[], forming=False, venue=venue
            )
        return self._sliced(
            ("candles", symbol, timeframe, limit, venue),
            view,
            lambda: msgspec.structs.replace(view, candles=view.candles[-limit:]),
        )

    def health(self) -> HealthView:
        view = self._views.get(self.view_keys.health)
        if view is not None:
            return view
        return HealthView(
            ts=time.time_ns(),
            mode=self.mode,
            connections=[],
            loop_lag_ms=0.0,
            loop_lag_p99_ms=0.0,
            cpu_percent=0.0,
            rss_bytes=0,
            max_memory_bytes=0,
            queues=[],
            sqlite_backlog=0,
            sqlite_rows_written=0,
            sqlite_write_errors=0,
            candles_closed=0,
            uptime_s=0.0,
        )

    def events_since(self, seq: int, limit: int = 200) -> list[EventView]:
        newer = [e for e in self._events if e.seq > seq]
        return newer[-limit:]

    def bots(self) -> BotsView:
        return self._views.get(self.view_keys.bots) or BotsView(bots=[])

    def signals(
        self,
        *,
        bot_id: str | None = None,
        fate: str | None = None,
        symbol: str | None = None,
        text: str = "",
        limit: int = 200,
    ) -> SignalsView:
        view = self._views.get(self.view_keys.signals)
        if view is None:
            return SignalsView(signals=[], total=0)
        return self._sliced(
            ("signals", bot_id, fate, symbol, text, limit),
            view,
            lambda: _filter_signals(view, bot_id, fate, symbol, text, limit),
        )

    def bot_detail(self, bot_id: str, limit: int = 120) -> BotDetailView:
        """KeyError for an unknown bot."""
        view = self._views.get(self.view_keys.bot(bot_id))
        if view is None:
            raise KeyError(f"unknown bot {bot_id!r}")
        return self._sliced(
            ("bot", bot_id, limit),
            view,
            lambda: msgspec.structs.replace(
                view,
                candles=view.candles[-limit:],
                indicators={name: series[-limit:] for name, series in view.indicators.items()},
            ),
        )

    def indicators(self) -> IndicatorsView:
        return self._views.get(self.view_keys.indicators) or IndicatorsView(rows=[])

    def strategies(self) -> list[StrategyInfo]:
        view = self._views.get(self.view_keys.strategies)
        return list(view.strategies) if view is not None else []

    def trading(self) -> TradingView:
        view = self._views.get(self.view_keys.trading)
        if view is not None:
            return view
        return no_trading_view("unknown", "no trading view from the engine yet")

    def instruments(self) -> list[InstrumentView]:
        view = self._views.get(self.view_keys.instruments)
        return list(view.instruments) if view is not None else []

    def models(self) -> ModelsView:
        """The live models' health as the engine (or a split desk's bots) last wrote it
        (``view:models``, at most once a second); none before the first write."""
        return self._views.get(self.view_keys.models) or ModelsView()


def _filter_signals(
    view: SignalsView,
    bot_id: str | None,
    fate: str | None,
    symbol: str | None,
    text: str,
    limit: int,
) -> SignalsView:
    """The engine's filter (``BotBoard.recent_signals``) over the cached newest-first list."""
    needle = text.lower()
    found: list[SignalView] = []
    total = 0
    for sig in view.signals:
        if bot_id and sig.bot_id != bot_id:
            continue
        if fate and not sig.fate.startswith(fate):
            continue
        if symbol and sig.symbol != symbol:
            continue
        if needle:
            hay = (
                f"{sig.bot_id} {sig.symbol} {sig.strategy} {sig.direction} {sig.fate} {sig.reason}"
            )
            if needle not in hay.lower():
                continue
        total += 1
        if len(found) < limit:
            found.append(sig)
    return SignalsView(version=view.version, signals=found, total=total)
