"""``/ws/v5/business`` channels: minimal ``candle*`` and ``trades-all``, from simulated trades.

A candle stream starts on its first subscription (open = the last trade price) and from then on
folds every trade in. It pushes at most once per second while the candle changes, and once more
with ``confirm`` "1" when the bar closes. Bars 6H and longer are anchored at UTC+8 unless the
name ends in ``utc``, as on OKX.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass

import msgspec

from desk.sim.instruments import InstrumentSpec
from desk.sim.market import SyntheticMarket, TradeAggregate
from desk.sim.okx.streams import Hub
from desk.sim.okx.wire import encode, push, push_prefix

_UNITS_MS = {"s": 1000, "m": 60_000, "H": 3_600_000, "D": 86_400_000, "W": 604_800_000}
_BAR_RE = re.compile(r"^candle(1s|1m|3m|5m|15m|30m|1H|2H|4H|6H|12H|1D|2D|3D|5D|1W|1M|3M)(utc)?$")
_HK_OFFSET_MS = 8 * 3_600_000
_MONDAY_OFFSET_MS = 4 * 86_400_000  # 1970-01-01 was a Thursday
CANDLE_MIN_GAP = 1.0


def parse_bar(channel: str) -> tuple[str, bool] | None:
    """``candle1H`` -> ("1H", False), ``candle6Hutc`` -> ("6H", True); None if not a candle."""
    match = _BAR_RE.match(channel)
    if match is None or (match.group(2) and match.group(1)[-1] not in "HDWM"):
        return None
    if match.group(2) and match.group(1) in ("1H", "2H", "4H"):
        return None
    return match.group(1), bool(match.group(2))


def bar_start(ts_ms: int, bar: str, utc: bool) -> tuple[int, int]:
    """(start, end) in ms of the bar that holds ``ts_ms``."""
    n, unit = int(bar[:-1]), bar[-1]
    offset = 0 if utc or unit in "sm" else _HK_OFFSET_MS
    if unit == "M":
        return _month_bar(ts_ms, n, offset)
    length = n * _UNITS_MS[unit]
    anchor = offset - (_MONDAY_OFFSET_MS if unit == "W" else 0)
    start = (ts_ms + anchor) // length * length - anchor
    return start, start + length


def _month_bar(ts_ms: int, months: int, offset: int) -> tuple[int, int]:
    year, month = _year_month(ts_ms + offset)
    index = (year * 12 + month - 1) // months * months
    start = calendar.timegm((index // 12, index % 12 + 1, 1, 0, 0, 0)) * 1000 - offset
    index += months
    end = calendar.timegm((index // 12, index % 12 + 1, 1, 0, 0, 0)) * 1000 - offset
    return start, end


def _year_month(ts_ms: int) -> tuple[int, int]:
    tm = time.gmtime(ts_ms // 1000)
    return tm.tm_year, tm.tm_mon


@dataclass(slots=True)
class Candle:
    start: int
    end: int
    open: int
    high: int
    low: int
    close: int
    volume: int = 0
    quote_volume: int = 0

    def add(self, price: int, size: int) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += size
        self.quote_volume += price * size


class CandleStream:
    """One (instrument, bar) stream."""

    def __init__(self, spec: InstrumentSpec, channel: str, last_price: int, now_ms: int) -> None:
        parsed = parse_bar(channel)
        assert parsed is not None
        self.spec, self.channel = spec, channel
        self.bar, self.utc = parsed
        start, end = bar_start(now_ms, self.bar, self.utc)
        self.candle = Candle(start, end, last_price, last_price, last_price, last_price)
        self.prefix = push_prefix(channel, spec.inst_id)
        self.dirty = True
        self.last_push = -1.0

    def add_trades(self, trades: list[TradeAggregate]) -> list[bytes]:
        """Fold trades in; returns the confirmed pushes of bars that closed on the way."""
        out = []
        for t in trades:
            out += self.roll(t.ts_ms)
            self.candle.add(t.price, t.size)
            self.dirty = True
        return out

    def roll(self, now_ms: int) -> list[bytes]:
        """Close the current bar if ``now_ms`` is past it; returns its confirm push."""
        c = self.candle
        if now_ms < c.end:
            return []
        closed = self.row(confirm=True)
        start, end = bar_start(now_ms, self.bar, self.utc)
        self.candle = Candle(start, end, c.close, c.close, c.close, c.close)
        self.dirty = True
        return [closed]

    def row(self, confirm: bool = False) -> bytes:
        """``{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["1597026383085",
        "8533.02","8553.74","8527.17","8548.26","45247","529.5858061","529.5858061","0"]]}``."""
        c, px = self.candle, self.spec.price_str
        quote = self.spec.notional_str(c.quote_volume)
        row = [str(c.start), px(c.open), px(c.high), px(c.low), px(c.close)]
        row += [self.spec.size_str(c.volume), quote, quote, "1" if confirm else "0"]
        return self.prefix + encode(row) + b"]}"


class TradeAllData(msgspec.Struct):
    """``trades-all`` entry: ``{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9",
    "sz":"0.12060306","side":"buy","source":"0","ts":"1630048897897"}``."""

    instId: str
    tradeId: str
    px: str
    sz: str
    side: str
    source: str
    ts: str


class BusinessStreams:
    """Candle streams (created on first subscription, kept afterwards) and ``trades-all``."""

    def __init__(self, market: SyntheticMarket, hub: Hub) -> None:
        self.market = market
        self.hub = hub
        self.candles: dict[tuple[str, str], CandleStream] = {}

    def subscribed(self, channel: str, inst_id: str, now_ms: int) -> bytes | None:
        """Start the stream if new; returns the current candle row for the new subscriber."""
        if channel == "trades-all":
            return None
        key = (channel, inst_id)
        stream = self.candles.get(key)
        if stream is None:
            last = self.market.stats(inst_id).last
            spec = self.market.spec(inst_id)
            stream = self.candles[key] = CandleStream(spec, channel, last, now_ms)
        return stream.row()

    def on_trades(self, inst_id: str, trades: list[TradeAggregate]) -> None:
        key = ("trades-all", inst_id)
        if self.hub.has(key):
            self._push_trades_all(key, trades)
        for (channel, inst), stream in self.candles.items():
            if inst == inst_id:
                for data in stream.add_trades(trades):
                    self.hub.broadcast((channel, inst), data)

    def _push_trades_all(self, key: tuple[str, str], trades: list[TradeAggregate]) -> None:
        spec = self.market.spec(key[1])
        prefix = push_prefix("trades-all", key[1])
        for t in trades:
            px, side, ts = spec.price_str(t.price), t.side.value, str(t.ts_ms)
            for trade_id, size in t.fills:
                entry = TradeAllData(key[1], str(trade_id), px, spec.size_str(size), side, "0", ts)
                self.hub.broadcast(key, push(prefix, entry))

    def publish(self, now: float, now_ms: int) -> None:
        """Close finished bars and push changed candles, at most once a second each."""
        for key, stream in self.candles.items():
            for data in stream.roll(now_ms):
                self.hub.broadcast(key, data)
            if stream.dirty and now - stream.last_push >= CANDLE_MIN_GAP:
                stream.dirty = False
                stream.last_push = now
                if self.hub.has(key):
                    self.hub.broadcast(key, stream.row())
