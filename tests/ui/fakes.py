"""A fake EngineClient with a frozen, deterministic market, for snapshot and Pilot tests.

Every view is a pure function of a few counters (book versions, health step, events added), so a
snapshot taken twice is the same picture, and a test moves the market only by calling the
helpers (``bump_book``, ``set_stale``, ``add_event``, ``step_health`` …).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import msgspec

from desk.bridge.venue_views import CrossVenueView
from desk.bridge.views import (
    BookView,
    BotDetailView,
    BotEventView,
    BotsView,
    BotView,
    CandlesView,
    CandleView,
    ConnectionHealth,
    EventView,
    FeatureDriftView,
    HealthView,
    IndicatorRow,
    IndicatorsView,
    LatencyView,
    LevelView,
    LiveScoreView,
    ModelsView,
    ModelView,
    QueueHealth,
    SignalsView,
    SignalView,
    StrategyInfo,
    TapeView,
    TickersView,
    TickerView,
    TradeView,
)
from desk.core.commands import (
    AddBot,
    Command,
    CommandAck,
    PauseBot,
    ResumeBot,
    SetBotMode,
    SetBotParams,
    StartBot,
    StopBot,
)
from desk.core.enums import ConnectionState, Mode, Severity, Side
from desk.core.histogram import LatencyHistogram
from tests.ui.venue_fakes import frozen_cross_venue, venue_shift

T0 = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC, the frozen "now" of the tests
NS = 1_000_000_000
MARKETS = {  # symbol -> (mid, tick, 24h open)
    "BTC-USDT": (65432.15, 0.1, 64210.0),
    "ETH-USDT": (3456.785, 0.01, 3501.2),
    "SOL-USDT": (145.2345, 0.001, 139.87),
}
TIMEFRAMES = ("1s", "3s", "1m", "5m", "15m", "1h", "4h", "1d")
UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def frozen_clock() -> int:
    return T0


class FakeEngineClient:
    """Deterministic views; ``calls`` counts every request so tests can bound the work done."""

    def __init__(
        self,
        symbols: tuple[str, ...] = tuple(MARKETS),
        timeframes: tuple[str, ...] = TIMEFRAMES,
        mode: Mode = Mode.SIM,
        venues: tuple[str, ...] = ("okx",),
    ) -> None:
        self._symbols, self._timeframes, self._mode = symbols, timeframes, mode
        self._venues = venues  # more than OKX: see tests/ui/venue_fakes.py
        self.book_versions = dict.fromkeys(symbols, 1)
        self.stale_age_ms: dict[str, float] = {}
        self.events: list[EventView] = []
        self.calls: Counter[str] = Counter()
        self.health_step = 0
        self.rss_bytes = 512 << 20
        self.connection_state = ConnectionState.CONNECTED
        self.binance_feed = False  # a Binance connection beside OKX's two (health by venue)
        self.fail_on: str | None = None
        self.started = self.stopped = False
        self._seed_events()
        self.bot_list: list[BotView] = _seed_bots()
        self.bots_version = 1
        self.signal_list: list[SignalView] = _seed_signals()  # oldest first
        self.bot_events: list[BotEventView] = _seed_bot_events()
        self.indicators_version = 1
        self.executed: list[Command] = []
        self.model_list: list[ModelView] = _seed_models()
        self.model_warnings: list[str] = []  # the health view's (the header shows them)
        self.latencies: list[LatencyView] = _seed_latencies()  # the health view's
        # command class name (or "Name:bot_id") -> reason it is refused with
        self.refuse: dict[str, str] = {}

    # -- EngineClient ----------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    @property
    def timeframes(self) -> tuple[str, ...]:
        return self._timeframes

    @property
    def connected(self) -> bool:
        return self.connection_state is ConnectionState.CONNECTED

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    @property
    def venues(self) -> tuple[str, ...]:
        return self._venues

    def cross_venue(self) -> CrossVenueView:
        self._count("cross_venue")
        return frozen_cross_venue(self, self._venues)

    def book(self, symbol: str, depth: int = 20, venue: str = "okx") -> BookView:
        self._count("book")
        version = self.book_versions[symbol]
        mid, tick, _ = MARKETS[symbol]
        best_bid = round(mid - tick / 2 + venue_shift(venue, mid, tick, symbol), 6)
        index = self._venues.index(venue) if venue in self._venues else 0
        stale = symbol in self.stale_age_ms
        return BookView(
            version=version,
            symbol=symbol,
            bids=[
                LevelView(round(best_bid - i * tick, 6), _size(i + 17 * index, version))
                for i in range(depth)
            ],
            asks=[
                LevelView(round(best_bid + (i + 1) * tick, 6), _size(i + 50 + 17 * index, version))
                for i in range(depth)
            ],
            seq_id=version,
            ts_exchange=T0,
            ts_recv=T0,
            age_ms=self.stale_age_ms.get(symbol, 40.0),
            stale=stale,
            last_price=round(best_bid + tick, 6),
            last_side=Side.BUY,
            venue=venue,
        )

    def tape(self, symbol: str, limit: int = 50, venue: str = "all") -> TapeView:
        """One venue's trades; "all" on several venues: each trade from the next venue."""
        self._count("tape")
        mid, tick, _ = MARKETS[symbol]
        trades = []
        venues = self._venues if venue == "all" else (venue,)
        for i in range(limit):
            where = venues[(i - (i % 7 == 2)) % len(venues)]  # a burst stays on one venue
            burst = i % 7 in (1, 2)  # trade 2 follows trade 1 by 20 ms at one price: a burst
            side = Side.BUY if (i // 3) % 2 == 0 else Side.SELL
            offset = 0 if burst else (i % 5) - 2
            ts = T0 - (i - 1 if i % 7 == 2 else i) * 250_000_000 - (20_000_000 if i % 7 == 2 else 0)
            trades.append(
                TradeView(
                    ts_exchange=ts,
                    price=round(
                        mid
                        + offset * tick
                        - tick / 2
                        + (tick if side is Side.BUY else 0)
                        + venue_shift(where, mid, tick, symbol),
                        6,
                    ),
                    size=_size(i, 3),
                    side=side,
                    venue=where,
                )
            )
        return TapeView(version=self.book_versions[symbol], symbol=symbol, trades=trades)

    def tickers(self) -> TickersView:
        """Every symbol's ticker on every venue (each venue's prices shifted from OKX's)."""
        self._count("tickers")
        views = []
        for symbol in self._symbols:
            for venue in self._venues:
                mid, tick, open_24h = MARKETS[symbol]
                mid += venue_shift(venue, mid, tick, symbol)
                last = round(mid + tick / 2, 6)
                views.append(
                    TickerView(
                        symbol=symbol,
                        last=last,
                        open_24h=open_24h,
                        change_24h_pct=(last / open_24h - 1) * 100,
                        bid=round(mid - tick / 2, 6),
                        ask=round(mid + tick / 2, 6),
                        volume_24h=12345.6,
                        ts_recv=T0,
                        venue=venue,
                    )
                )
        return TickersView(version=sum(self.book_versions.values()), tickers=views)

    def candles(
        self, symbol: str, timeframe: str, limit: int = 120, venue: str = "okx"
    ) -> CandlesView:
        """``venue``'s candles: a series of its own (another seed), on its own price level."""
        self._count("candles")
        if venue not in self._venues:
            venue = self._venues[0]  # as a client keeping only its first venue's candles
        return CandlesView(
            version=1,
            symbol=symbol,
            timeframe=timeframe,
            candles=_candles(symbol, timeframe, limit, venue),
            forming=True,
            venue=venue,
        )

    def health(self) -> HealthView:
        self._count("health")
        step = self.health_step
        return HealthView(
            version=step + 1,
            ts=T0 + step * NS,
            mode=self._mode,
            connections=[
                self._connection("okx-public", step, 2),
                self._connection("okx-business", step, 1),
                *([self._connection("binance", step, 1, "binance")] if self.binance_feed else []),
            ],
            loop_lag_ms=0.4 + step % 3 * 0.1,
            loop_lag_p99_ms=1.8 + step % 4 * 0.3,
            cpu_percent=12.0 + step % 6,
            rss_bytes=self.rss_bytes,
            max_memory_bytes=2 << 30,
            queues=[
                QueueHealth(name="sqlite", depth=12, maxsize=100_000, dropped=0, over_bound=0),
                QueueHealth(name="recorder", depth=0, maxsize=10_000, dropped=3, over_bound=1),
            ],
            sqlite_backlog=12,
            sqlite_rows_written=48_210,
            sqlite_write_errors=0,
            candles_closed=321,
            uptime_s=754.0 + step,
            model_warnings=list(self.model_warnings),
            latencies=list(self.latencies),
        )

    def events_since(self, seq: int, limit: int = 200) -> list[EventView]:
        self._count("events")
        return [event for event in self.events if event.seq > seq][-limit:]

    # -- bots and signals ------------------------------------------------------------------

    def bots(self) -> BotsView:
        self._count("bots")
        return BotsView(version=self.bots_version, bots=list(self.bot_list))

    def signals(
        self,
        *,
        bot_id: str | None = None,
        fate: str | None = None,
        symbol: str | None = None,
        text: str = "",
        limit: int = 200,
    ) -> SignalsView:
        self._count("signals")
        needle = text.lower()
        found = [
            sig
            for sig in reversed(self.signal_list)
            if (not bot_id or sig.bot_id == bot_id)
            and (not fate or sig.fate.startswith(fate))
            and (not symbol or sig.symbol == symbol)
            and (
                not needle
                or needle in f"{sig.bot_id} {sig.symbol} {sig.strategy} {sig.reason}".lower()
            )
        ]
        return SignalsView(version=len(self.signal_list), signals=found[:limit], total=len(found))

    def bot_detail(self, bot_id: str, limit: int = 120) -> BotDetailView:
        self._count("bot_detail")
        bot = self._bot(bot_id)
        candles = _candles(bot.symbol, bot.timeframe, min(limit, 120))
        return BotDetailView(
            version=self.bots_version * 1000 + len(self.signal_list) + len(self.bot_events),
            bot=bot,
            candles=candles,
            indicators=_indicator_series(bot, [c.close for c in candles]),
            signals=[s for s in reversed(self.signal_list) if s.bot_id == bot_id],
            events=[e for e in reversed(self.bot_events) if e.bot_id == bot_id],
        )

    def indicators(self) -> IndicatorsView:
        self._count("indicators")
        rows = [
            _indicator_row(symbol, timeframe, i)
            for i, (symbol, timeframe) in enumerate(
                (symbol, tf) for symbol in self._symbols for tf in self._timeframes[:2]
            )
        ]
        return IndicatorsView(version=self.indicators_version, rows=rows)

    def models(self) -> ModelsView:
        self._count("models")
        return ModelsView(version=1, ts=T0, models=list(self.model_list))

    def strategies(self) -> list[StrategyInfo]:
        return [
            StrategyInfo(
                name="ma_crossover",
                defaults={"fast": 10, "slow": 30, "kind": "sma", "full_gap": 0.005},
                doc="Fast/slow moving-average crossover.",
            ),
            StrategyInfo(
                name="rsi_mean_reversion",
                defaults={"n": 14, "oversold": 30.0, "overbought": 70.0, "exit": 50.0},
                doc="RSI mean reversion.",
            ),
        ]

    async def execute(self, command: Command) -> CommandAck:
        """Record ``command``; refuse it if ``refuse`` says so, else apply it to the fake bots."""
        self.executed.append(command)
        name = type(command).__name__
        bot_id = getattr(command, "bot_id", "")
        reason = self.refuse.get(f"{name}:{bot_id}") or self.refuse.get(name)
        if reason:
            return CommandAck(command=name, accepted=False, reason=reason)
        if isinstance(command, AddBot):
            return self._add_bot(command)
        if bot_id and bot_id not in {b.bot_id for b in self.bot_list}:
            return CommandAck(command=name, accepted=False, reason=f"unknown bot {bot_id!r}")
        changes: dict[str, Any] = {}
        if isinstance(command, StartBot):
            changes = {"state": "running"}
        elif isinstance(command, StopBot):
            changes = {"state": "stopped"}
        elif isinstance(command, PauseBot):
            changes = {"mode": "paused"}
        elif isinstance(command, ResumeBot):
            changes = {"mode": "auto"}
        elif isinstance(command, SetBotMode):
            changes = {"mode": command.mode}
        elif isinstance(command, SetBotParams):
            changes = {"params": {**self._bot(bot_id).params, **command.params}}
        self._change_bot(bot_id, name, changes)
        return CommandAck(command=name, accepted=True)

    def _bot(self, bot_id: str) -> BotView:
        for bot in self.bot_list:
            if bot.bot_id == bot_id:
                return bot
        raise KeyError(bot_id)

    def _change_bot(self, bot_id: str, kind: str, changes: dict[str, Any]) -> None:
        self.bot_list = [
            msgspec.structs.replace(b, **changes) if b.bot_id == bot_id else b
            for b in self.bot_list
        ]
        self.bots_version += 1
        summary = " ".join(f"{k} {v}" for k, v in changes.items())
        self.bot_events.append(
            BotEventView(
                seq=len(self.bot_events) + 1,
                ts=T0,
                bot_id=bot_id,
                kind=kind,
                summary=summary,
                actor="operator",
            )
        )

    def _add_bot(self, command: AddBot) -> CommandAck:
        config = command.config
        bot_id = str(config.get("bot_id", ""))
        if not bot_id:
            return CommandAck(command="AddBot", accepted=False, reason="`bot_id` must be given")
        if bot_id in {b.bot_id for b in self.bot_list}:
            return CommandAck(
                command="AddBot", accepted=False, reason=f"bot {bot_id!r} already exists"
            )
        self.bot_list.append(
            _bot(
                bot_id,
                str(config["strategy"]),
                str(config["symbol"]),
                str(config["timeframe"]),
                dict(config.get("params", {})),
                state="running" if command.start else "stopped",
                size=float(config["size"]),
            )
        )
        self.bots_version += 1
        return CommandAck(command="AddBot", accepted=True, detail={"bot_id": bot_id})

    def add_signal(self, bot_id: str, fate: str = "sent", reason: str = "") -> SignalView:
        """A new signal from ``bot_id`` (the stream's version moves)."""
        bot = self._bot(bot_id)
        signal = _signal(len(self.signal_list) + 1, bot, "long", fate, reason)
        self.signal_list.append(signal)
        return signal

    # -- test controls ---------------------------------------------------------------------

    def bump_book(self, symbol: str = "BTC-USDT", by: int = 1) -> None:
        self.book_versions[symbol] += by

    def set_stale(self, symbol: str, age_ms: float | None) -> None:
        """Mark a symbol's feed stale for ``age_ms`` (None: fresh again)."""
        if age_ms is None:
            self.stale_age_ms.pop(symbol, None)
        else:
            self.stale_age_ms[symbol] = age_ms
        self.book_versions[symbol] += 1

    def add_event(
        self,
        message: str,
        severity: Severity = Severity.INFO,
        source: str = "okx",
        kind: str = "note",
        symbol: str = "",
    ) -> EventView:
        event = EventView(
            seq=len(self.events) + 1,
            ts=T0 + len(self.events) * NS,
            source=source,
            kind=kind,
            severity=severity,
            message=message,
            symbol=symbol,
        )
        self.events.append(event)
        return event

    def step_health(self) -> None:
        self.health_step += 1

    def _count(self, name: str) -> None:
        self.calls[name] += 1
        if self.fail_on == name:
            raise RuntimeError(f"fake {name} exploded")

    def _connection(self, name: str, step: int, scale: int, venue: str = "okx") -> ConnectionHealth:
        return ConnectionHealth(
            venue=venue,
            name=name,
            state=self.connection_state,
            msgs_per_s=float(scale * (800 + (step * 137) % 400)),
            bytes_per_s=scale * 250_000.0,
            latency_p50_ms=1.2 * scale,
            latency_p99_ms=4.8 * scale,
            last_message_age_ms=35.0,
            reconnects=scale - 1,
            gaps=0,
            resyncs=scale - 1,
            checksum_failures=0,
            decode_errors=0,
            books_ready=3 if scale == 2 else 0,
            books_total=3 if scale == 2 else 0,
        )

    def _seed_events(self) -> None:
        self.add_event("engine started in sim mode", source="engine", kind="started")
        self.add_event("connected to ws://127.0.0.1/ws/v5/public", kind="connected")
        self.add_event(
            "sequence gap 1041 -> 1043, resyncing",
            Severity.WARNING,
            kind="resync",
            symbol="ETH-USDT",
        )
        self.add_event("book resynced", kind="resynced", symbol="ETH-USDT")


def latency(name: str, path: str, values: list[int]) -> LatencyView:
    """A latency view of exactly ``values`` (ns)."""
    histogram = LatencyHistogram()
    for value in values:
        histogram.record(value)
    return LatencyView(
        name=name,
        path=path,
        counts=list(histogram.counts),
        count=histogram.count,
        sum_ns=histogram.sum_ns,
        min_ns=histogram.min_ns,
        max_ns=histogram.max_ns,
    )


def _seed_latencies() -> list[LatencyView]:
    """OKX exchange-to-receive (median ~1.2 ms, a tail past 20 ms) and the bots' tick-to-order
    (median ~180 µs), from seeded draws."""
    rng = random.Random(16)
    exchange = [int(rng.lognormvariate(14.0, 0.7)) for _ in range(4000)]
    exchange += [int(rng.uniform(15e6, 40e6)) for _ in range(30)]
    orders = [int(rng.lognormvariate(12.1, 0.5)) for _ in range(300)]
    return [latency("okx", "exchange", exchange), latency("bots", "tick_to_order", orders)]


def _size(i: int, version: int) -> float:
    return round(0.05 + ((i * 37 + version * 11) % 50) / 40, 4)


def _candles(symbol: str, timeframe: str, limit: int, venue: str = "okx") -> list[CandleView]:
    """A seeded random walk per (symbol, timeframe, venue); OKX's is the one every snapshot
    was drawn with, another venue's has a seed of its own and sits at its venue shift."""
    mid, tick, _ = MARKETS[symbol]
    mid += venue_shift(venue, mid, tick, symbol)
    rng = random.Random(f"{symbol}/{timeframe}" + ("" if venue == "okx" else f"/{venue}"))
    step_ns = int(timeframe[:-1]) * UNIT[timeframe[-1]] * NS
    decimals = len(f"{tick:g}".split(".")[-1]) if tick < 1 else 0

    def on_tick(price: float) -> float:
        return round(round(price / tick) * tick, decimals)

    price = on_tick(mid * 0.99)
    out = []
    for i in range(120):
        open_ = price
        close = on_tick(open_ + rng.gauss(0, mid * 0.0015))
        high = on_tick(max(open_, close) + abs(rng.gauss(0, mid * 0.0008)))
        low = on_tick(min(open_, close) - abs(rng.gauss(0, mid * 0.0008)))
        end = T0 - (119 - i) * step_ns
        out.append(CandleView(end, open_, high, low, close, round(rng.uniform(1, 40), 3)))
        price = close
    return out[-limit:]


# -- bots and signals ------------------------------------------------------------------------

FATE_CYCLE = (
    "sent",
    "filtered_strength",
    "sent",
    "filtered_cooldown",
    "filtered_paused",
    "sent",
    "failed",
    "filtered_unconfirmed",
)


def _bot(
    bot_id: str,
    strategy: str,
    symbol: str,
    timeframe: str,
    params: dict[str, Any],
    *,
    state: str = "running",
    mode: str = "auto",
    position: float = 0.0,
    pnl: float = 0.0,
    size: float = 0.01,
    last: tuple[int, str] | None = None,
    counts: tuple[int, int] = (0, 0),
    accuracy: tuple[float, int] | None = None,
) -> BotView:
    return BotView(
        bot_id=bot_id,
        strategy=strategy,
        symbol=symbol,
        timeframe=timeframe,
        state=state,
        mode=mode,
        size=size,
        position=position,
        pnl=pnl,
        last_signal_ts=last[0] if last else None,
        last_signal_direction=last[1] if last else None,
        signal_count=counts[1],
        sent_count=counts[0],
        params=params,
        min_strength=0.2,
        cooldown_s=5.0,
        confirm_bars=1,
        accuracy=accuracy[0] if accuracy else None,
        accuracy_signals=accuracy[1] if accuracy else 0,
    )


def _seed_bots() -> list[BotView]:
    return [
        _bot(
            "ma-fast",
            "ma_crossover",
            "BTC-USDT",
            "1s",
            {"fast": 5, "slow": 20, "kind": "sma", "full_gap": 0.005},
            position=0.01,
            pnl=12.34,
            last=(T0 - 4 * NS, "long"),
            counts=(3, 5),
            accuracy=(0.62, 37),
        ),
        _bot(
            "rsi-revert",
            "rsi_mean_reversion",
            "ETH-USDT",
            "1s",
            {"n": 14, "oversold": 30.0, "overbought": 70.0, "exit": 50.0},
            mode="paused",
            position=-0.5,
            pnl=-3.21,
            last=(T0 - 190 * NS, "short"),
            counts=(1, 4),
            accuracy=(0.41, 17),
        ),
        _bot(
            "macd-trend",
            "macd_trend",
            "SOL-USDT",
            "1m",
            {"fast": 12, "slow": 26, "signal": 9},
            state="stopped",
        ),
    ]


def _signal(seq: int, bot: BotView, direction: str, fate: str, reason: str) -> SignalView:
    mid = MARKETS[bot.symbol][0]
    return SignalView(
        seq=seq,
        ts=T0 - (40 - seq) * 7 * NS,
        recorded_ns=T0 - (40 - seq) * 7 * NS,
        bot_id=bot.bot_id,
        symbol=bot.symbol,
        timeframe=bot.timeframe,
        strategy=bot.strategy,
        direction=direction,
        strength=round(0.1 + (seq * 0.37) % 0.9, 2),
        price=round(mid * (1 + ((seq * 13) % 7 - 3) / 1000), 2),
        fate=fate,
        reason=reason or ("" if fate == "sent" else fate.replace("_", " ")),
        indicators={},
    )


def _seed_signals() -> list[SignalView]:
    bots = _seed_bots()[:2]
    return [
        _signal(
            seq,
            bots[seq % 2],
            ("long", "short", "flat")[seq % 3],
            FATE_CYCLE[seq % len(FATE_CYCLE)],
            "order sink: venue refused" if FATE_CYCLE[seq % len(FATE_CYCLE)] == "failed" else "",
        )
        for seq in range(1, 13)
    ]


def _seed_bot_events() -> list[BotEventView]:
    rows = [
        ("ma-fast", "added", "added", "config"),
        ("ma-fast", "started", "started", "config"),
        ("rsi-revert", "added", "added", "config"),
        ("rsi-revert", "started", "started", "config"),
        ("rsi-revert", "mode", "mode auto -> paused", "operator"),
        ("ma-fast", "params", "params fast 8 -> 5", "operator"),
    ]
    return [
        BotEventView(
            seq=i + 1,
            ts=T0 - (len(rows) - i) * 60 * NS,
            bot_id=bot_id,
            kind=kind,
            summary=summary,
            actor=actor,
        )
        for i, (bot_id, kind, summary, actor) in enumerate(rows)
    ]


def _moving_average(values: list[float], n: int) -> list[float]:
    return [
        sum(values[i - n + 1 : i + 1]) / n if i >= n - 1 else math.nan for i in range(len(values))
    ]


def _indicator_series(bot: BotView, closes: list[float]) -> dict[str, list[float]]:
    """What the strategies' ``indicator_series`` give, computed simply from the closes."""
    if bot.strategy == "ma_crossover":
        return {
            "fast": _moving_average(closes, int(bot.params["fast"])),
            "slow": _moving_average(closes, int(bot.params["slow"])),
        }
    if bot.strategy == "rsi_mean_reversion":
        return {
            "rsi": [math.nan] * 14 + [50 + 30 * math.sin(i / 6) for i in range(len(closes) - 14)]
        }
    fast, slow = _moving_average(closes, 12), _moving_average(closes, 26)
    macd = [f - s for f, s in zip(fast, slow, strict=True)]
    signal = [math.nan if math.isnan(m) else m * 0.8 for m in macd]
    return {
        "macd": macd,
        "signal": signal,
        "hist": [m - s for m, s in zip(macd, signal, strict=True)],
    }


def _indicator_row(symbol: str, timeframe: str, i: int) -> IndicatorRow:
    mid = MARKETS[symbol][0]
    rsi = (22.5, 48.0, 77.25, 55.0, 64.0, 31.0)[i % 6]
    warming = i == 5
    return IndicatorRow(
        symbol=symbol,
        timeframe=timeframe,
        ts=T0,
        close=mid,
        sma_20=mid * 0.999,
        ema_20=mid * 1.001,
        rsi_14=math.nan if warming else rsi,
        macd=mid * 0.0004 * (1 if i % 2 else -1),
        macd_signal=mid * 0.0003,
        macd_hist=mid * 0.0001 * (1 if i % 2 else -1),
        bb_upper=mid * 1.002,
        bb_lower=mid * 0.997,
        atr_14=mid * 0.0012,
        zscore_20=(i - 2.5) / 2,
        vol_20=0.0004 + i * 0.0001,
        imbalance=((i * 7) % 11 - 5) / 10,
        bars=60 + i,
    )


MODEL_FEATURES = (
    "ret_1", "ret_2", "ret_4", "ret_8", "ret_16", "rsi", "macd_hist", "bb_pctb", "atr_close",
    "close_z", "log_volume", "volume_z", "book_imbalance", "spread_bps", "flow_imbalance",
)  # fmt: skip


def _seed_models() -> list[ModelView]:
    """Two live models: a healthy one, and one whose inputs drifted and whose answers run late."""
    calm = [0.01 + 0.005 * i for i in range(len(MODEL_FEATURES))]
    drifted = [*calm[:12], 0.05, 0.71, 0.38]
    return [
        ModelView(
            model_id="lstm-BTC-USDT-1m@3f2a9c1e",
            path="models/lstm-BTC-USDT-1m",
            created_ns=T0 - 7200 * NS,
            age_s=7200.0,
            train_start="2024-01-01T00:00:00+00:00",
            train_end="2024-01-02T00:00:00+00:00",
            symbols=["BTC-USDT"],
            timeframe="1m",
            horizon=5,
            bots=["lstm-btc"],
            predictions=1840,
            late=0,
            queued=0,
            per_second=1.0,
            infer_p50_us=36.0,
            infer_p99_us=88.0,
            wait_p50_us=12.0,
            wait_p99_us=41.0,
            model=LiveScoreView(n=420, accuracy=0.47, hit_rate=0.55, calls=180),
            persistence=LiveScoreView(n=420, accuracy=0.39, hit_rate=0.31, calls=240),
            majority=LiveScoreView(n=420, accuracy=0.52, hit_rate=None, calls=0),
            brier=0.598,
            test_accuracy=0.55,
            test_hit_rate=0.58,
            drift=[
                FeatureDriftView(name=n, psi=v, rows=1000)
                for n, v in zip(MODEL_FEATURES, calm, strict=True)
            ],
            input_age_s=12.0,
        ),
        ModelView(
            model_id="lstm-ETH-USDT-1m@a1b2c3d4",
            path="models/lstm-ETH-USDT-1m",
            created_ns=T0 - 86400 * NS,
            age_s=86400.0,
            train_start="2024-01-01T00:00:00+00:00",
            train_end="2024-01-01T12:00:00+00:00",
            symbols=["ETH-USDT"],
            timeframe="1m",
            horizon=5,
            bots=["lstm-eth", "lstm-eth2"],
            predictions=960,
            late=41,
            queued=3,
            per_second=2.0,
            infer_p50_us=1250.0,
            infer_p99_us=9800.0,
            wait_p50_us=400.0,
            wait_p99_us=52000.0,
            model=LiveScoreView(n=300, accuracy=0.36, hit_rate=0.29, calls=150),
            persistence=LiveScoreView(n=300, accuracy=0.38, hit_rate=0.33, calls=170),
            majority=LiveScoreView(n=300, accuracy=0.5, hit_rate=None, calls=0),
            brier=0.701,
            test_accuracy=0.51,
            test_hit_rate=0.49,
            drift_exact=False,
            drift=[
                FeatureDriftView(name=n, psi=v, rows=640, warn=v > 0.25)
                for n, v in zip(MODEL_FEATURES, drifted, strict=True)
            ],
            input_age_s=3.0,
            warnings=[
                "drift PSI > 0.25: spread_bps 0.71, flow_imbalance 0.38",
                "late 41/200 predictions",
            ],
        ),
    ]
