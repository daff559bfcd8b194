"""Coinbase ``market_trades`` and ``ticker`` messages -> desk's ``Trade`` and ``Ticker`` events.

Venue quirks handled here:

* ``market_trades`` ``side`` is the **maker's** side: ``"BUY"`` means a resting buy was hit, so the
  aggressor sold. desk's ``Trade.side`` is the aggressor's, hence inverted.
* A subscription starts with a ``snapshot`` of recent trades (a replay after a reconnect): a
  trade whose id the product published lately is dropped (``trade_ids.RecentTradeIds``), and
  snapshot trades may be older than the clock-skew limit (only their century is checked).
* Trades of one message are published oldest first, whatever order the venue lists them in.
* ``ticker`` has no last size, 24 h open or quote volume: the open is derived from
  ``price_percent_chg_24_h``; the others are NaN.

Every value passes ``desk.feeds.validation`` (prices inside the symbol's band, sizes finite and
not negative, times near the clock): a refused trade or ticker is skipped, the others of the
message still go out, and the first refusal is raised as ``BadData`` for the feed to count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from desk.core.enums import Side
from desk.core.events import Ticker, Trade
from desk.core.excerpt import excerpt
from desk.core.topics import market_data
from desk.feeds.coinbase.symbols import VENUE
from desk.feeds.coinbase.timestamps import parse_ns
from desk.feeds.coinbase.trade_ids import RecentTradeIds
from desk.feeds.coinbase.wire import TickerEntry, TickerMessage, TradeEntry, TradesMessage
from desk.feeds.counters import FeedCounters
from desk.feeds.validation import (
    MAX_TS_MS,
    MIN_TS_MS,
    BadData,
    PriceGuard,
    bad_timestamp,
    check_ticker_number,
)

NS_PER_MS = 1_000_000
MIN_TS_NS = MIN_TS_MS * NS_PER_MS
MAX_TS_NS = MAX_TS_MS * NS_PER_MS
MAKER_TO_AGGRESSOR = {"BUY": Side.SELL, "SELL": Side.BUY, "buy": Side.SELL, "sell": Side.BUY}

Publish = Callable[[str, Any], None]
Route = tuple[str, str, PriceGuard, Callable[[str], bool]]
"""A product's (desk symbol, topic, price band, duplicate check)."""
Accepted = tuple[int, TradeEntry, Side, Route]
"""A trade that passed the checks: (time ns, entry, aggressor side, its product's route)."""


class TradeTickerNormaliser:
    """Turns trades and tickers of the followed products into events on the bus."""

    def __init__(
        self,
        products: Mapping[str, str],
        guards: Mapping[str, PriceGuard],
        *,
        publish: Publish,
        counters: FeedCounters,
        skew_ns: int,
        venue: str = VENUE,
    ) -> None:
        """``products``: Coinbase product id -> desk symbol; ``guards``: desk symbol -> band."""
        self.venue = venue
        self.symbols = dict(products)
        self.topics = {pid: market_data(symbol) for pid, symbol in products.items()}
        self.guards = guards
        self.skew_ns = skew_ns
        self.trade_ids = {pid: RecentTradeIds() for pid in products}
        self._routes: dict[str, Route] = {
            pid: (symbol, self.topics[pid], guards[symbol], self.trade_ids[pid].seen)
            for pid, symbol in products.items()
        }
        """Product id -> (desk symbol, topic, price band, duplicate check): one lookup."""
        self._publish = publish
        self._counters = counters

    # --- trades ---------------------------------------------------------------------------

    def trades(self, msg: TradesMessage, recv_ns: int) -> None:
        error: BadData | None = None
        routes = self._routes
        early, late = -self.skew_ns, self.skew_ns
        for event in msg.events:
            snapshot = event.type == "snapshot"
            accepted: list[Accepted] = []
            in_order = True
            last_ts = 0
            seen_time: str | None = None  # trades of one taker order share a time: parsed once
            for t in event.trades:
                route = routes.get(t.product_id)
                if route is None:
                    self._counters.unknown_symbols += 1
                    continue
                guard = route[2]
                side = MAKER_TO_AGGRESSOR.get(t.side)
                if side is None or not guard.lo < t.price < guard.hi:
                    error = error or _refusal(t, side, guard)
                    continue
                if t.time != seen_time:
                    try:
                        ts = _trade_time(t.time, snapshot, recv_ns, early, late)
                    except ValueError as exc:
                        error = error or (exc if isinstance(exc, BadData) else BadData(str(exc)))
                        seen_time = None
                        continue
                    seen_time = t.time
                if ts < last_ts:
                    in_order = False
                last_ts = ts
                accepted.append((ts, t, side, route))
            if not in_order:
                accepted.sort(key=_first)
            self._publish_trades(accepted, snapshot, recv_ns)
        if error is not None:
            raise error

    def _publish_trades(self, accepted: list[Accepted], snapshot: bool, recv: int) -> None:
        """Publish the trades not published lately, in the given order."""
        publish = self._publish
        venue = self.venue
        for ts, t, side, (symbol, topic, guard, seen) in accepted:
            if seen(t.trade_id):
                self._counters.duplicate_trades += 1
                continue
            if not snapshot:
                guard.last = t.price
            publish(
                topic,
                Trade(
                    ts_exchange=ts,
                    ts_recv=recv,
                    venue=venue,
                    symbol=symbol,
                    trade_id=t.trade_id,
                    price=t.price,
                    size=t.size,
                    side=side,
                ),
            )

    # --- tickers --------------------------------------------------------------------------

    def tickers(self, msg: TickerMessage, ts: int, recv_ns: int) -> None:
        """Every ticker of the message, stamped with the message's time ``ts`` (ns)."""
        error: BadData | None = None
        for event in msg.events:
            for entry in event.tickers:
                symbol = self.symbols.get(entry.product_id)
                if symbol is None:
                    self._counters.unknown_symbols += 1
                    continue
                try:
                    ticker = self._ticker(entry, symbol, ts, recv_ns)
                except BadData as exc:
                    error = error or exc
                    continue
                self._publish(self.topics[entry.product_id], ticker)
        if error is not None:
            raise error

    def _ticker(self, d: TickerEntry, symbol: str, ts: int, recv_ns: int) -> Ticker:
        guard = self.guards[symbol]
        last = check_ticker_number(d.price, guard, "ticker price")
        high = check_ticker_number(d.high_24_h, None, "24h high")
        low = check_ticker_number(d.low_24_h, None, "24h low")
        return Ticker(
            ts_exchange=ts,
            ts_recv=recv_ns,
            venue=self.venue,
            symbol=symbol,
            last=last,
            last_size=math.nan,
            bid=check_ticker_number(d.best_bid, guard, "best bid"),
            bid_size=check_ticker_number(d.best_bid_quantity, None, "best bid size"),
            ask=check_ticker_number(d.best_ask, guard, "best ask"),
            ask_size=check_ticker_number(d.best_ask_quantity, None, "best ask size"),
            open_24h=_open_24h(last, d.price_percent_chg_24_h),
            high_24h=high,
            low_24h=low,
            volume_24h=check_ticker_number(d.volume_24_h, None, "24h volume"),
            volume_quote_24h=math.nan,
        )


def _open_24h(last: float, change_pct: str) -> float:
    """The price 24 h ago from the last price and its change in percent (NaN if unknown)."""
    try:
        pct = float(change_pct)
    except ValueError:
        return math.nan
    if not math.isfinite(pct) or pct <= -100.0:
        return math.nan
    return last / (1.0 + pct / 100.0)


def _first(item: Accepted) -> int:
    return item[0]


def _refusal(t: TradeEntry, side: Side | None, guard: PriceGuard) -> BadData:
    if side is None:
        return BadData(f"trade side {excerpt(t.side, 20)} is neither BUY nor SELL")
    return guard.refuse(t.price, "trade price")


def _trade_time(text: str, snapshot: bool, recv_ns: int, early: int, late: int) -> int:
    """A trade's time (ns); BadData when far from the clock (snapshot trades, recent trades
    replayed on subscribe, only when not in this century), ValueError when not a time."""
    ts = parse_ns(text)
    if snapshot:
        if not MIN_TS_NS < ts < MAX_TS_NS:
            raise BadData(f"trade time {excerpt(text, 40)} is not in this century", "timestamp")
    elif not early <= recv_ns - ts <= late:
        raise bad_timestamp(ts, recv_ns, late)
    return ts
