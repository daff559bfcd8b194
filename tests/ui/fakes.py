"""A fake EngineClient with a frozen, deterministic market, for snapshot and Pilot tests.

Every view is a pure function of a few counters (book versions, health step, events added), so a
snapshot taken twice is the same picture, and a test moves the market only by calling the
helpers (``bump_book``, ``set_stale``, ``add_event``, ``step_health`` …).
"""

from __future__ import annotations

import random
from collections import Counter

from desk.bridge.views import (
    BookView,
    CandlesView,
    CandleView,
    ConnectionHealth,
    EventView,
    HealthView,
    LevelView,
    QueueHealth,
    TapeView,
    TickersView,
    TickerView,
    TradeView,
)
from desk.core.enums import ConnectionState, Mode, Severity, Side

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
    ) -> None:
        self._symbols, self._timeframes, self._mode = symbols, timeframes, mode
        self.book_versions = dict.fromkeys(symbols, 1)
        self.stale_age_ms: dict[str, float] = {}
        self.events: list[EventView] = []
        self.calls: Counter[str] = Counter()
        self.health_step = 0
        self.rss_bytes = 512 << 20
        self.connection_state = ConnectionState.CONNECTED
        self.fail_on: str | None = None
        self.started = self.stopped = False
        self._seed_events()

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

    def book(self, symbol: str, depth: int = 20) -> BookView:
        self._count("book")
        version = self.book_versions[symbol]
        mid, tick, _ = MARKETS[symbol]
        best_bid = round(mid - tick / 2, 6)
        stale = symbol in self.stale_age_ms
        return BookView(
            version=version,
            symbol=symbol,
            bids=[
                LevelView(round(best_bid - i * tick, 6), _size(i, version)) for i in range(depth)
            ],
            asks=[
                LevelView(round(best_bid + (i + 1) * tick, 6), _size(i + 50, version))
                for i in range(depth)
            ],
            seq_id=version,
            ts_exchange=T0,
            ts_recv=T0,
            age_ms=self.stale_age_ms.get(symbol, 40.0),
            stale=stale,
            last_price=round(best_bid + tick, 6),
            last_side=Side.BUY,
        )

    def tape(self, symbol: str, limit: int = 50) -> TapeView:
        self._count("tape")
        mid, tick, _ = MARKETS[symbol]
        trades = []
        for i in range(limit):
            burst = i % 7 in (1, 2)  # trade 2 follows trade 1 by 20 ms at one price: a burst
            side = Side.BUY if (i // 3) % 2 == 0 else Side.SELL
            offset = 0 if burst else (i % 5) - 2
            ts = T0 - (i - 1 if i % 7 == 2 else i) * 250_000_000 - (20_000_000 if i % 7 == 2 else 0)
            trades.append(
                TradeView(
                    ts_exchange=ts,
                    price=round(
                        mid + offset * tick - tick / 2 + (tick if side is Side.BUY else 0), 6
                    ),
                    size=_size(i, 3),
                    side=side,
                )
            )
        return TapeView(version=self.book_versions[symbol], symbol=symbol, trades=trades)

    def tickers(self) -> TickersView:
        self._count("tickers")
        views = []
        for symbol in self._symbols:
            mid, tick, open_24h = MARKETS[symbol]
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
                )
            )
        return TickersView(version=sum(self.book_versions.values()), tickers=views)

    def candles(self, symbol: str, timeframe: str, limit: int = 120) -> CandlesView:
        self._count("candles")
        return CandlesView(
            version=1,
            symbol=symbol,
            timeframe=timeframe,
            candles=_candles(symbol, timeframe, limit),
            forming=True,
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
        )

    def events_since(self, seq: int, limit: int = 200) -> list[EventView]:
        self._count("events")
        return [event for event in self.events if event.seq > seq][-limit:]

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

    def _connection(self, name: str, step: int, scale: int) -> ConnectionHealth:
        return ConnectionHealth(
            venue="okx",
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


def _size(i: int, version: int) -> float:
    return round(0.05 + ((i * 37 + version * 11) % 50) / 40, 4)


def _candles(symbol: str, timeframe: str, limit: int) -> list[CandleView]:
    mid, tick, _ = MARKETS[symbol]
    rng = random.Random(f"{symbol}/{timeframe}")
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
