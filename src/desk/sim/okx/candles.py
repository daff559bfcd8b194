"""``/ws/v5/business`` channels: ``candle*`` and ``trades-all``, from simulated trades.

Every instrument keeps a ``BarHistory`` (the hours before start, then every live trade), which
``market/candles`` and ``history-candles`` read too. A candle stream starts on its first
subscription with the whole current bar since its start (open, high, low, volume of every trade
already in it, from the history) and from then on folds every trade in. It pushes at most once
per second while the candle changes, and once more with ``confirm`` "1" when the bar closes.
Bars 6H and longer are anchored at UTC+8 unless the name ends in ``utc``, as on OKX.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from desk.sim.instruments import InstrumentSpec
from desk.sim.market import SyntheticMarket, TradeAggregate
from desk.sim.okx.bars import CANDLE_MIN_GAP, bar_start, parse_bar
from desk.sim.okx.history import BarHistory
from desk.sim.okx.streams import Hub
from desk.sim.okx.wire import encode, push, push_prefix


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

    def __init__(
        self, spec: InstrumentSpec, channel: str, history: BarHistory, now_ms: int
    ) -> None:
        parsed = parse_bar(channel)
        assert parsed is not None
        self.spec, self.channel = spec, channel
        self.bar, self.utc = parsed
        start, end, (o, h, lo, c, vol, quote) = history.current(self.bar, self.utc, now_ms)
        self.candle = Candle(start, end, o, h, lo, c, vol, quote)
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
        self.histories: dict[str, BarHistory] = {}

    def start_history(self, start_ms: int, hours: float, steps_per_second: float) -> None:
        """One ``BarHistory`` per instrument from ``start_ms``; its past (``hours``) is
        generated on first read."""
        market = self.market
        for inst_id, inst in market.markets.items():
            self.histories[inst_id] = BarHistory(
                inst.spec,
                market.seed,
                market.params,
                steps_per_second,
                start_ms,
                hours,
                inst.stats.last,
            )

    def history(self, inst_id: str, now_ms: int) -> BarHistory:
        """The instrument's bar history (started at ``now_ms`` with no past if not started)."""
        if not self.histories:
            self.start_history(now_ms, 0.0, 1.0)
        return self.histories[inst_id]

    def subscribed(self, channel: str, inst_id: str, now_ms: int) -> bytes | None:
        """Start the stream if new; returns the current candle row for the new subscriber."""
        if channel == "trades-all":
            return None
        key = (channel, inst_id)
        stream = self.candles.get(key)
        if stream is None:
            spec = self.market.spec(inst_id)
            history = self.history(inst_id, now_ms)
            stream = self.candles[key] = CandleStream(spec, channel, history, now_ms)
        return stream.row()

    def on_trades(self, inst_id: str, trades: list[TradeAggregate]) -> None:
        history = self.histories.get(inst_id)
        if history is not None:
            history.add_trades(trades)
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
