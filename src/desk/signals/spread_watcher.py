"""The spread watcher: alerts when a cross-venue spread, net of taker fees, stays open.

A *watcher* reads markets and emits alerts and signals; it never trades. It keeps each venue's
top of book per symbol (:class:`~desk.market.cross_venue.CrossVenueTops`, the same figures the
cross-venue view shows and the arbitrage seeker trades) and follows every ordered venue pair
(buy on one, sell on the other) of every watched symbol.

An **episode** of a pair starts at the first moment its net spread exceeds ``threshold_bps``
and ends at the first moment it does not (or a side goes missing, or a venue's top grows older
than ``max_age_s``). Between two observations the books are taken to stand as last seen, so
"continuously for ``min_duration_s``" means: every observation since the episode started was
above the threshold and the last one is at least ``min_duration_s`` after the start. Then,
once per episode:

* a :class:`~desk.core.events.SystemEvent` (severity warning) on ``system_events``:
  ``BTC-USDT: buy binance 64,010.5 / sell okx 64,052.1 = +3.2 bps net for 2.1 s``;
* a LONG :class:`~desk.signals.signal.Signal` (long the spread) recorded in the bots' signal
  audit (``bot_signals`` table, and published on ``bot_signals:{watcher_id}``) with the fate
  ``watched``.

When an alerted episode ends, a "closed" note (severity info) and a FLAT signal follow. An
episode that ends within ``cooldown_s`` of the pair's last alert raises nothing (a spread that
flickers around the threshold alerts once per cooldown).

Time is the events' receive time (``ts_recv``, ns), never the wall clock, so a replay and a
test give the same alerts; :meth:`SpreadWatcher.check` lets a timer advance it when no market
event comes (``now_ns`` in the same clock).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import msgspec

from desk.core import topics
from desk.core.bus import Bus
from desk.core.config import FrozenConfig
from desk.core.enums import Severity
from desk.core.events import SystemEvent
from desk.market.cross_venue import CrossVenueTops, VenueTop, net_spread_bps
from desk.signals.bots import BOT_ID_PATTERN, BotSignal, SignalFate
from desk.signals.signal import Direction, Signal

NS_PER_S = 1_000_000_000
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
SOURCE = "spread_watcher"
STRATEGY = "spread_watch"


class SpreadWatchConfig(FrozenConfig, frozen=True):
    """``watchers.spread``: which spreads to watch and when to alert.

    ``symbols`` (empty: every traded symbol) and ``venues`` (empty: every venue seen) narrow
    what is watched. ``threshold_bps``: the net spread (after both taker fees) that must be
    exceeded; ``fees_bps``: each venue's taker fee (a venue not named pays
    ``default_fee_bps``). ``min_duration_s``: how long it must stay exceeded before an alert.
    ``cooldown_s``: after an alert, the same pair alerts again only this much later.
    ``max_age_s``: a venue's top older than this is stale and counts as missing.
    """

    enabled: bool = False
    symbols: tuple[str, ...] = ()
    venues: tuple[str, ...] = ()
    threshold_bps: float = 0.0
    min_duration_s: NonNegative = 1.0
    cooldown_s: NonNegative = 60.0
    max_age_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    fees_bps: dict[str, NonNegative] = msgspec.field(default_factory=dict)
    default_fee_bps: NonNegative = 10.0
    watcher_id: str = "spread-watch"

    def __post_init__(self) -> None:
        if not math.isfinite(self.threshold_bps):
            raise ValueError(f"@threshold_bps: must be a finite number, got {self.threshold_bps}")
        if not BOT_ID_PATTERN.fullmatch(self.watcher_id):
            raise ValueError(
                f"@watcher_id: must be 1-32 letters, digits, '-' or '_', got {self.watcher_id!r}"
            )
        if len(set(self.venues)) != len(self.venues):
            raise ValueError(f"@venues: a venue is named twice in {list(self.venues)}")


class SignalStore(Protocol):
    """The part of the SQLite store the watcher records its signals in."""

    def record_signal(
        self, *, bot_id: str, signal: Signal, fate: str, recorded_ns: int, order_id: str = ""
    ) -> None: ...


@dataclass(slots=True)
class Episode:
    """One stretch of time a pair's net spread stayed above the threshold."""

    symbol: str
    buy: str
    sell: str
    start_ns: int
    bps: float
    buy_ask: float
    sell_bid: float
    peak_bps: float
    last_ns: int
    alerted: bool = False

    def duration_s(self, now_ns: int) -> float:
        return (now_ns - self.start_ns) / NS_PER_S


class SpreadWatcher:
    """Watches cross-venue spreads of ``symbols`` on the bus and alerts (module docstring)."""

    def __init__(
        self,
        config: SpreadWatchConfig,
        bus: Bus,
        store: SignalStore | None,
        *,
        symbols: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.bus = bus
        self.store = store
        self.symbols = config.symbols or symbols
        self.tops = CrossVenueTops(config.fees_bps, config.default_fee_bps)
        self.episodes: dict[tuple[str, str, str], Episode] = {}
        self.alerts = 0
        self._last_alert_ns: dict[tuple[str, str, str], int] = {}
        self._venues = frozenset(config.venues)
        self._unsubscribe: list[Callable[[], None]] = []

    # -- wiring ------------------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to ``market_data:{symbol}`` of every watched symbol."""
        for symbol in self.symbols:
            self._unsubscribe.append(self.bus.subscribe(topics.market_data(symbol), self.on_event))

    def stop(self) -> None:
        for remove in self._unsubscribe:
            remove()
        self._unsubscribe.clear()

    # -- input -------------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        """A market event: book changes and tickers move the tops; others are ignored."""
        venue = getattr(event, "venue", None)
        if venue is None or (self._venues and venue not in self._venues):
            return
        if not (hasattr(event, "best_bid") or hasattr(event, "bid")):
            return
        symbol = event.symbol
        if symbol not in self.symbols:
            return
        self.tops.on_event(event)
        self._evaluate(symbol, event.ts_recv)

    def check(self, now_ns: int) -> None:
        """Advance time to ``now_ns`` with no new quote (a timer's call)."""
        for symbol in self.symbols:
            self._evaluate(symbol, now_ns)

    # -- the rule ----------------------------------------------------------------------------

    def _evaluate(self, symbol: str, now_ns: int) -> None:
        fresh = self._fresh_tops(symbol, now_ns)
        threshold = self.config.threshold_bps
        seen: set[tuple[str, str, str]] = set()
        for buy, buy_top in fresh.items():
            for sell, sell_top in fresh.items():
                if buy == sell:
                    continue
                bps = self._net(buy_top, sell_top)
                if not bps > threshold:  # NaN is never above
                    continue
                key = (symbol, buy, sell)
                seen.add(key)
                self._observe(key, bps, buy_top.ask, sell_top.bid, now_ns)
        for key in [k for k in self.episodes if k[0] == symbol and k not in seen]:
            self._close(self.episodes.pop(key), now_ns)

    def _fresh_tops(self, symbol: str, now_ns: int) -> dict[str, VenueTop]:
        max_age_ns = self.config.max_age_s * NS_PER_S
        return {
            venue: top
            for venue, top in self.tops.tops(symbol).items()
            if top.usable and now_ns - top.ts_ns <= max_age_ns
        }

    def _net(self, buy: VenueTop, sell: VenueTop) -> float:
        return net_spread_bps(
            buy, sell, self.tops.fee_bps(buy.venue), self.tops.fee_bps(sell.venue)
        )

    def _observe(
        self, key: tuple[str, str, str], bps: float, ask: float, bid: float, now_ns: int
    ) -> None:
        episode = self.episodes.get(key)
        if episode is None:
            symbol, buy, sell = key
            episode = Episode(symbol, buy, sell, now_ns, bps, ask, bid, bps, now_ns)
            self.episodes[key] = episode
        episode.bps, episode.buy_ask, episode.sell_bid = bps, ask, bid
        episode.peak_bps = max(episode.peak_bps, bps)
        episode.last_ns = now_ns
        if episode.alerted or episode.duration_s(now_ns) < self.config.min_duration_s:
            return
        last = self._last_alert_ns.get(key)
        if last is not None and now_ns - last < self.config.cooldown_s * NS_PER_S:
            return
        episode.alerted = True
        self._last_alert_ns[key] = now_ns
        self.alerts += 1
        self._alert(episode, now_ns)

    # -- output ------------------------------------------------------------------------------

    def _alert(self, episode: Episode, now_ns: int) -> None:
        text = alert_text(episode, now_ns)
        self._system_event("spread_open", text, Severity.WARNING, episode.symbol, now_ns)
        self._record(episode, Direction.LONG, text, now_ns)

    def _close(self, episode: Episode, now_ns: int) -> None:
        if not episode.alerted:
            return
        text = (
            f"{episode.symbol}: buy {episode.buy} / sell {episode.sell} closed after "
            f"{episode.duration_s(now_ns):.1f} s (peak {episode.peak_bps:+.1f} bps net)"
        )
        self._system_event("spread_closed", text, Severity.INFO, episode.symbol, now_ns)
        self._record(episode, Direction.FLAT, text, now_ns)

    def _system_event(
        self, kind: str, text: str, severity: Severity, symbol: str, now_ns: int
    ) -> None:
        event = SystemEvent(
            ts_exchange=0,
            ts_recv=now_ns,
            source=SOURCE,
            kind=kind,
            message=text,
            severity=severity,
            symbol=symbol,
        )
        self.bus.publish(topics.SYSTEM_EVENTS, event)

    def _record(self, episode: Episode, direction: Direction, text: str, now_ns: int) -> None:
        signal = Signal(
            ts=now_ns,
            symbol=episode.symbol,
            timeframe="",
            direction=direction,
            strength=1.0 if direction is Direction.LONG else 0.0,
            price=episode.buy_ask,
            indicators={
                "net_bps": episode.bps,
                "peak_bps": episode.peak_bps,
                "buy_ask": episode.buy_ask,
                "sell_bid": episode.sell_bid,
                "duration_s": episode.duration_s(now_ns),
            },
            reason=text,
            strategy=f"{STRATEGY}:{episode.buy}>{episode.sell}",
        )
        watcher_id = self.config.watcher_id
        if self.store is not None:
            self.store.record_signal(
                bot_id=watcher_id, signal=signal, fate=str(SignalFate.WATCHED), recorded_ns=now_ns
            )
        self.bus.publish(
            topics.bot_signals(watcher_id),
            BotSignal(
                ts_exchange=now_ns,
                ts_recv=now_ns,
                bot_id=watcher_id,
                signal=signal,
                fate=SignalFate.WATCHED,
            ),
        )


def alert_text(episode: Episode, now_ns: int) -> str:
    """``BTC-USDT: buy binance 64,010.5 / sell okx 64,052.1 = +3.2 bps net for 2.1 s``."""
    return (
        f"{episode.symbol}: buy {episode.buy} {episode.buy_ask:,} / sell {episode.sell} "
        f"{episode.sell_bid:,} = {episode.bps:+.1f} bps net for {episode.duration_s(now_ns):.1f} s"
    )


class WatchersConfig(FrozenConfig, frozen=True):
    """``watchers``: components that read markets and alert, never trade."""

    spread: SpreadWatchConfig = msgspec.field(default_factory=SpreadWatchConfig)


def spread_problem(
    config: SpreadWatchConfig, symbols: tuple[str, ...], venues: tuple[str, ...]
) -> str:
    """Why ``config`` cannot watch these traded ``symbols`` on these enabled ``venues`` ("")."""
    for i, symbol in enumerate(config.symbols):
        if symbol not in symbols:
            return f"symbols[{i}]: {symbol!r} is not traded by any venue ({', '.join(symbols)})"
    for i, venue in enumerate(config.venues):
        if venue not in venues:
            return f"venues[{i}]: {venue!r} is not an enabled venue ({', '.join(venues)})"
    for venue in config.fees_bps:
        if venue not in venues:
            return f"fees_bps: {venue!r} is not an enabled venue ({', '.join(venues)})"
    return ""
