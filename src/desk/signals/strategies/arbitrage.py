"""The arbitrage seeker: a bot that trades a cross-venue spread on two venues at once.

Run as a bot with ``strategy: arbitrage`` (the bot's ``symbol`` and ``size``; its ``params``
are :class:`ArbitrageParams`). It reads every venue's top of book of its symbol
(``BookChanged`` events, not tickers: the legs fill on those local books;
:class:`~desk.market.cross_venue.CrossVenueTops`, the figures the cross-venue view and the
spread watcher show) and, when the best pair's spread net
of both taker fees exceeds ``threshold_bps``, emits a LONG signal ("long the spread"). The bot
manager runs that signal through the same fates, filters (mode, cooldown ...) and audit as any
bot's; one that is SENT comes back to :meth:`ArbitrageStrategy.execute`, which sends **two
orders**, each with ``OrderRequest.venue`` set, through the engine's order path (risk, then
the OMS, as every order):

* the buy leg on the cheap venue, the sell leg on the rich one, both ``bot.size``;
* IOC at the top crossed by ``slippage_bps`` (or MARKET), so neither leg rests.

Its legs' updates and fills arrive on ``trade_updates:{bot_id}`` and are kept in an
:class:`~desk.signals.arbitrage_ledger.ArbLedger` (per-venue and hedged position, exact PnL).
A round ends when all its legs are done. If they did not fill the same quantity (a leg was
refused by risk, or an IOC found less than the size) the round is **one-legged**: a warning
system event names both legs, and then, by ``on_one_leg``:

* ``unwind`` - the excess is traded back with a reduce-only MARKET order on the venue it was
  filled on (still through risk); if that too leaves a difference, the bot is flagged;
* ``flag`` - the bot is flagged.

A flagged seeker signals and trades nothing new until its net position is back to zero (the
operator flattened it: the flag clears itself) or it is restarted.

One signal per opportunity: once a pair has signalled, it signals again only after its spread
closed, or after a round it traded has ended.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from desk.core import topics
from desk.core.enums import Severity, Side
from desk.core.events import SystemEvent
from desk.core.orders import Fill, Order, OrderRequest, OrderStatus, OrderType
from desk.market.cross_venue import CrossVenueTops, VenueTop
from desk.signals.arbitrage_ledger import ArbLedger, ArbRound, ArbSnapshot, leg_text
from desk.signals.order_sink import OrderRefused
from desk.signals.signal import Direction, Signal
from desk.signals.strategies.deferred import DeferredStrategy

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
BPS = Decimal(10_000)
NonNegative = Annotated[float, msgspec.Meta(ge=0)]

__all__ = ["ArbitrageParams", "ArbitrageStrategy"]


class ArbitrageParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``venues``: the venues it may trade (empty: any it sees; else at least two).
    ``threshold_bps``: the net spread after both taker fees that must be exceeded.
    ``fees_bps``: taker fee per venue (others pay ``default_fee_bps``). ``order_type``: ``ioc``
    (priced ``slippage_bps`` through the top) or ``market``. ``on_one_leg``: ``unwind`` or
    ``flag``. ``max_venue_position``: a round that would take a venue's position beyond it
    (base units) is not signalled (0: no cap besides risk). ``max_age_s``: older tops are stale.
    """

    venues: tuple[str, ...] = ()
    threshold_bps: float = 5.0
    fees_bps: dict[str, NonNegative] = msgspec.field(default_factory=dict)
    default_fee_bps: NonNegative = 10.0
    order_type: Literal["ioc", "market"] = "ioc"
    slippage_bps: NonNegative = 5.0
    on_one_leg: Literal["unwind", "flag"] = "unwind"
    max_venue_position: NonNegative = 0.0
    max_age_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0

    def check(self) -> str | None:
        if len(self.venues) == 1:
            return f"venues: name at least two venues (or none for all), got {list(self.venues)}"
        if len(set(self.venues)) != len(self.venues):
            return f"venues: a venue is named twice in {list(self.venues)}"
        if not math.isfinite(self.threshold_bps):
            return f"threshold_bps: must be a finite number, got {self.threshold_bps}"
        return None


def leg_order_id(owner: str, ts: int, role: str) -> str:
    """A stable OKX-valid client order id (letters/digits, 32) for one leg of one signal."""
    return "a" + hashlib.sha256(f"{owner}\x00{ts}\x00{role}".encode()).hexdigest()[:31]


class ArbitrageStrategy(DeferredStrategy):
    """Trades the best cross-venue spread of its symbol on two venues (module docstring)."""

    name: ClassVar[str] = "arbitrage"
    Params: ClassVar[type[msgspec.Struct]] = ArbitrageParams
    wants_market: ClassVar[bool] = True
    every_venue: ClassVar[bool] = True

    def _build(self) -> None:
        p: ArbitrageParams = self.params
        self.tops = CrossVenueTops(p.fees_bps, p.default_fee_bps)
        self.ledger: ArbLedger | None = None  # made on the first event (it knows the symbol)
        self.flagged = ""
        self.current: ArbRound | None = None
        self._signalled: tuple[str, str] | None = None
        self._opportunities: dict[int, tuple[str, str, float, float, float]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._venues = frozenset(p.venues)

    def _reset_stream(self) -> None:
        """A (re)start: forget the quotes, the pending opportunity and the flag; keep the books."""
        self.flagged = ""
        self.tops = CrossVenueTops(self.params.fees_bps, self.params.default_fee_bps)
        self._signalled = None
        self._opportunities.clear()

    # -- lifecycle (the bot manager's) -------------------------------------------------------

    def take_over(self, old: Any, *, running: bool) -> None:
        """A parameter change: keep the books, the open round and any flag of ``old``."""
        if isinstance(old, ArbitrageStrategy):
            self.ledger, self.current, self.flagged = old.ledger, old.current, old.flagged
        super().take_over(old, running=running)

    def prepare(self) -> None:
        services = self.services
        bus = getattr(services, "bus", None)
        if bus is None:
            raise ValueError("arbitrage: needs the engine's bus to follow its orders")
        if self._unsubscribe is None:
            self._unsubscribe = bus.subscribe(topics.trade_updates(self.owner), self.on_update)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- candles: none (no batch path: it trades books, not bars) -----------------------------

    def on_candle(self, candle: Any) -> Signal | None:
        return None

    def indicator_series(self, candles: Iterable[Any]) -> dict[str, list[float]]:
        return {}

    def _series(self, arrays: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("arbitrage trades live cross-venue books: it has no candle backtest")

    def _codes(self, series: dict[str, Any]) -> Any:
        raise ValueError("arbitrage trades live cross-venue books: it has no candle backtest")

    # -- market ------------------------------------------------------------------------------

    def on_market(self, event: Any) -> None:
        venue = getattr(event, "venue", None)
        if venue is None or (self._venues and venue not in self._venues):
            return
        if not hasattr(event, "best_bid"):  # book changes only: the books the legs fill on
            return
        self.tops.on_event(event)
        ledger = self._ledger(event.symbol)
        top = self.tops.tops(event.symbol).get(venue)
        if top is not None and top.usable:
            ledger.mids[venue] = (top.bid + top.ask) / 2
        if self.current is not None or self.flagged:
            return
        best = self._best(event.symbol, event.ts_recv)
        if best is None:
            self._signalled = None
            return
        buy, sell, bps = best
        if self._signalled == (buy.venue, sell.venue):
            return
        self._signalled = (buy.venue, sell.venue)
        ts = event.ts_recv
        self._opportunities = {ts: (buy.venue, sell.venue, buy.ask, sell.bid, bps)}
        reason = (
            f"{event.symbol}: buy {buy.venue} {buy.ask:,} / sell {sell.venue} {sell.bid:,} "
            f"= {bps:+.1f} bps net"
        )
        signal = Signal(
            ts=ts,
            symbol=event.symbol,
            timeframe="",
            direction=Direction.LONG,
            strength=1.0,
            price=buy.ask,
            indicators={"net_bps": bps, "buy_ask": buy.ask, "sell_bid": sell.bid},
            reason=reason,
            strategy=self.name,
        )
        self.deliver(signal, False)

    def _best(self, symbol: str, now_ns: int) -> tuple[VenueTop, VenueTop, float] | None:
        """The pair with the widest net spread above the threshold, within the caps."""
        p: ArbitrageParams = self.params
        max_age = p.max_age_s * NS_PER_S
        fresh = [
            t for t in self.tops.tops(symbol).values() if t.usable and now_ns - t.ts_ns <= max_age
        ]
        best: tuple[VenueTop, VenueTop, float] | None = None
        matrix = self.tops.matrix(symbol) if len(fresh) > 1 else {}
        for buy in fresh:
            for sell in fresh:
                if buy.venue == sell.venue or not self._room(buy.venue, sell.venue):
                    continue
                bps = matrix.get((buy.venue, sell.venue), math.nan)
                if bps > p.threshold_bps and (best is None or bps > best[2]):
                    best = (buy, sell, bps)
        return best

    def _room(self, buy_venue: str, sell_venue: str) -> bool:
        cap = self.params.max_venue_position
        if not cap or self.ledger is None:
            return True
        limit = Decimal(repr(cap))
        positions = self.ledger.positions
        return (
            positions.get(buy_venue, Decimal(0)) < limit
            and positions.get(sell_venue, Decimal(0)) > -limit
        )

    # -- orders ------------------------------------------------------------------------------

    def execute(self, bot: Any, signal: Signal) -> str:
        """Send both legs of the opportunity ``signal`` announced; the buy leg's order id.

        OrderRefused (fate ``filtered_risk``) when flagged, when no order path exists, or when
        the first leg is refused (then the second is not sent).
        """
        if self.flagged:
            raise OrderRefused(f"one-legged and flagged: {self.flagged}")
        opportunity = self._opportunities.get(signal.ts)
        if opportunity is None:
            raise OrderRefused("the opportunity is gone")
        submit = getattr(self.services, "orders", None)
        if submit is None:
            raise OrderRefused("no order path: execution unavailable")
        buy_venue, sell_venue, ask, bid, bps = opportunity
        ledger = self._ledger(signal.symbol)
        size = Decimal(repr(bot.size))
        buy = self._request(signal, Side.BUY, buy_venue, size, ask, "buy")
        sell = self._request(signal, Side.SELL, sell_venue, size, bid, "sell")
        first: Order = submit(buy)
        if first.status is OrderStatus.REJECTED:
            raise OrderRefused(f"buy leg on {buy_venue}: {first.reason}")
        trade = ledger.open_round(signal.ts, buy_venue, sell_venue, bps)
        self.current = trade
        ledger.add_leg(trade, "buy", first, buy_venue)
        ledger.add_leg(trade, "sell", submit(sell), sell_venue)
        self._settle_if_done()
        return first.client_order_id

    def _request(
        self, signal: Signal, side: Side, venue: str, size: Decimal, top: float, role: str
    ) -> OrderRequest:
        p: ArbitrageParams = self.params
        price: Decimal | None = None
        order_type = OrderType.MARKET
        if p.order_type == "ioc":
            order_type = OrderType.IOC
            slip = Decimal(repr(p.slippage_bps)) / BPS
            price = Decimal(repr(top)) * (1 + slip if side is Side.BUY else 1 - slip)
        return OrderRequest(
            symbol=signal.symbol,
            side=side,
            order_type=order_type,
            size=size,
            price=price,
            bot_id=self.owner,
            client_order_id=leg_order_id(self.owner, signal.ts, role),
            venue=venue,
        )

    # -- order updates -----------------------------------------------------------------------

    def on_update(self, event: Any) -> None:
        """An ``Order`` or ``Fill`` of this bot (``trade_updates:{bot_id}``)."""
        if self.ledger is None:
            symbol = getattr(event, "symbol", "")
            if not symbol:
                return
            self._ledger(symbol)
        assert self.ledger is not None
        if isinstance(event, Fill):
            self.ledger.on_fill(event)
            if self.flagged and self.ledger.net_position == 0:
                self.flagged = ""  # hedged again (the operator flattened it)
                self._emit("arb_resolved", f"{self.owner}: hedged again", Severity.INFO)
        elif isinstance(event, Order):
            self.ledger.on_order(event)
        self._settle_if_done()

    def _settle_if_done(self) -> None:
        trade, ledger = self.current, self.ledger
        if trade is None or ledger is None:
            return
        legs = ledger.round_legs(trade)
        if trade.outcome == "unwinding" and len(legs) < 3:
            return  # the unwind order is being submitted (its own update got here first)
        if not all(leg.done for leg in legs):
            return
        excess = ledger.imbalance(trade)
        if excess == 0:
            trade.outcome = "unwound" if len(legs) > 2 else "hedged"
            ledger.hedged += trade.outcome == "hedged"
            self._end(trade)
            return
        text = f"{self.owner} round {trade.round_no}: one-legged, " + "; ".join(
            leg_text(leg) for leg in legs
        )
        unwinding = len(legs) == 2 and self.params.on_one_leg == "unwind"
        if unwinding and self._unwind(trade, excess, text):
            return
        ledger.one_legged += 1
        trade.outcome = "one_legged"
        trade.note = text
        self.flagged = text
        self._emit("arb_one_legged", f"{text}; flagged: no new rounds", Severity.WARNING)
        self._end(trade)

    def _unwind(self, trade: ArbRound, excess: Decimal, text: str) -> bool:
        """Trade ``excess`` back on the venue it was filled on; False if it could not be sent."""
        assert self.ledger is not None
        filled = [leg for leg in self.ledger.round_legs(trade) if leg.filled]
        venue = (filled[0] if filled else self.ledger.round_legs(trade)[0]).venue
        side = Side.SELL if excess > 0 else Side.BUY
        request = OrderRequest(
            symbol=trade.symbol,
            side=side,
            order_type=OrderType.MARKET,
            size=abs(excess),
            bot_id=self.owner,
            client_order_id=leg_order_id(self.owner, trade.ts, "unwind"),
            reduce_only=True,
            venue=venue,
        )
        self._emit("arb_one_legged", f"{text}; unwinding {side} {abs(excess)} on {venue}",
                   Severity.WARNING)  # fmt: skip
        submit = getattr(self.services, "orders", None)
        if submit is None:
            return False
        trade.outcome = "unwinding"
        try:
            order = submit(request)
        except Exception as exc:  # an order path that raises: flag instead
            log.exception("arbitrage %s: unwind failed", self.owner)
            trade.note = f"unwind failed: {exc}"
            return False
        self.ledger.add_leg(trade, "unwind", order, venue)
        if order.status is OrderStatus.REJECTED:
            return False
        self._settle_if_done()
        return True

    def _end(self, trade: ArbRound) -> None:
        self.current = None
        self._signalled = None  # a spread still open may be traded again

    # -- helpers -----------------------------------------------------------------------------

    def _ledger(self, symbol: str) -> ArbLedger:
        if self.ledger is None:
            self.ledger = ArbLedger(symbol)
        return self.ledger

    def snapshot(self) -> ArbSnapshot | None:
        """The legs, positions and PnL for the bots mode (None before any market event)."""
        return None if self.ledger is None else self.ledger.snapshot(self.flagged)

    def _emit(self, kind: str, message: str, severity: Severity) -> None:
        bus = getattr(self.services, "bus", None)
        if bus is None:
            return
        clock = getattr(self.services, "clock", None)
        now = clock() if clock is not None else 0
        bus.publish(
            topics.SYSTEM_EVENTS,
            SystemEvent(
                ts_exchange=0,
                ts_recv=now,
                source="arbitrage",
                kind=kind,
                message=message,
                severity=severity,
                symbol=self.ledger.symbol if self.ledger is not None else "",
            ),
        )
