"""The arbitrage seeker's books: its rounds and their legs, its position per venue, its PnL.

A **round** is one attempt to trade a spread: a buy leg on the cheap venue and a sell leg on
the rich one, of the same size, sent together (and, if only one of them filled, an unwind leg
that trades the filled leg's excess back on its own venue). Each leg follows its order's
updates (``Order`` events) and fills (``Fill`` events) as the OMS publishes them on
``trade_updates:{bot_id}``; a leg is known by its client order id, so a fill counts on the
venue the leg was sent to.

Money is exact (``Decimal``), from fills alone: ``cash`` = sell proceeds - buy costs - fees
(fees in the quote currency, as the paper venues charge them). The **hedged position** is the
sum over venues (buying 0.5 on one and selling 0.5 on the other nets to 0); ``pnl`` = cash +
net position x mark, the mark being the mean of the venues' mids, so a hedged seeker's PnL is
exactly its cash: what the spread earned after both fees.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Any

import msgspec

from desk.core.enums import Side
from desk.core.orders import Fill, Order, OrderStatus

ZERO = Decimal(0)
RECENT_ROUNDS = 50
RECENT_FILLS = 200


class ArbLeg(msgspec.Struct, kw_only=True):
    """One order of a round: ``role`` is buy, sell or unwind."""

    client_order_id: str
    round_no: int
    role: str
    venue: str
    side: Side
    size: Decimal
    filled: Decimal = ZERO
    avg_price: Decimal = ZERO
    fee: Decimal = ZERO
    status: str = str(OrderStatus.PENDING_NEW)
    reason: str = ""

    @property
    def done(self) -> bool:
        return OrderStatus(self.status).terminal


class ArbRound(msgspec.Struct, kw_only=True):
    """One attempt at a spread; ``outcome`` is open, hedged, unwound or one_legged."""

    round_no: int
    ts: int
    symbol: str
    buy_venue: str
    sell_venue: str
    net_bps: float
    legs: list[str]
    outcome: str = "open"
    note: str = ""


class ArbFill(msgspec.Struct, frozen=True, kw_only=True):
    """A fill of one of the seeker's legs, as the bots mode lists it."""

    ts: int
    round_no: int
    role: str
    venue: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal


class ArbSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What the bots mode shows of a seeker (plain data; crosses process boundaries)."""

    symbol: str
    positions: dict[str, Decimal]
    net_position: Decimal
    cash: Decimal
    fees: Decimal
    pnl: Decimal
    rounds: int
    hedged: int
    one_legged: int
    flagged: str
    legs: list[ArbLeg]
    fills: list[ArbFill]


class ArbLedger:
    """The seeker's rounds, legs, per-venue positions and exact PnL (module docstring)."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.legs: dict[str, ArbLeg] = {}
        self.rounds: deque[ArbRound] = deque(maxlen=RECENT_ROUNDS)
        self.fills: deque[ArbFill] = deque(maxlen=RECENT_FILLS)
        self.positions: dict[str, Decimal] = {}
        self.cash = ZERO
        self.fees = ZERO
        self.mids: dict[str, float] = {}
        self.round_count = 0
        self.hedged = 0
        self.one_legged = 0
        self._seen: set[tuple[str, str]] = set()

    # -- rounds ------------------------------------------------------------------------------

    def open_round(self, ts: int, buy_venue: str, sell_venue: str, net_bps: float) -> ArbRound:
        self.round_count += 1
        trade = ArbRound(
            round_no=self.round_count,
            ts=ts,
            symbol=self.symbol,
            buy_venue=buy_venue,
            sell_venue=sell_venue,
            net_bps=net_bps,
            legs=[],
        )
        self.rounds.append(trade)
        return trade

    def add_leg(self, trade: ArbRound, role: str, order: Order, venue: str) -> ArbLeg:
        """Track ``order`` (as the OMS answered its submission) as ``role`` of ``trade``."""
        leg = ArbLeg(
            client_order_id=order.client_order_id,
            round_no=trade.round_no,
            role=role,
            venue=venue,
            side=order.side,
            size=order.size,
        )
        self.legs[leg.client_order_id] = leg
        trade.legs.append(leg.client_order_id)
        self.on_order(order)
        return leg

    def round_legs(self, trade: ArbRound) -> list[ArbLeg]:
        return [self.legs[cid] for cid in trade.legs]

    def imbalance(self, trade: ArbRound) -> Decimal:
        """Signed base quantity the round's legs left unhedged (+: long on some venue)."""
        total = ZERO
        for leg in self.round_legs(trade):
            total += leg.filled if leg.side is Side.BUY else -leg.filled
        return total

    # -- updates -----------------------------------------------------------------------------

    def on_order(self, order: Order) -> ArbLeg | None:
        """An order update of one of our legs (others are ignored); the leg, or None."""
        leg = self.legs.get(order.client_order_id)
        if leg is None:
            return None
        leg.status = str(order.status)
        leg.reason = order.reason or leg.reason
        leg.filled = max(leg.filled, order.filled)
        if order.filled:
            leg.avg_price = order.avg_price
        return leg

    def on_fill(self, fill: Fill) -> bool:
        """Apply one fill of ``symbol`` exactly once (key: venue, trade id); False if known.

        A fill of an order that is not a leg (the operator flattening the bot by hand) counts
        on the venue the fill names.
        """
        key = (fill.venue, fill.trade_id)
        if fill.symbol != self.symbol or key in self._seen:
            return False
        self._seen.add(key)
        leg = self.legs.get(fill.client_order_id)
        venue = leg.venue if leg is not None else fill.venue
        signed = fill.size if fill.side is Side.BUY else -fill.size
        self.positions[venue] = self.positions.get(venue, ZERO) + signed
        notional = fill.price * fill.size
        self.cash += -notional if fill.side is Side.BUY else notional
        self.cash -= fill.fee
        self.fees += fill.fee
        if leg is not None:
            leg.fee += fill.fee
        self.fills.append(
            ArbFill(
                ts=fill.ts_recv,
                round_no=leg.round_no if leg is not None else 0,
                role=leg.role if leg is not None else "manual",
                venue=venue,
                side=str(fill.side),
                price=fill.price,
                size=fill.size,
                fee=fill.fee,
            )
        )
        return True

    # -- figures -----------------------------------------------------------------------------

    @property
    def net_position(self) -> Decimal:
        return sum(self.positions.values(), ZERO)

    def mark(self) -> Decimal | None:
        """The mean of the venues' mids (None before any)."""
        mids = [Decimal(repr(m)) for m in self.mids.values() if m == m and m > 0]
        return sum(mids, ZERO) / len(mids) if mids else None

    def pnl(self) -> Decimal:
        """cash + net position x mark (exactly the cash while hedged)."""
        net = self.net_position
        if net == 0:
            return self.cash
        mark = self.mark()
        return self.cash if mark is None else self.cash + net * mark

    def snapshot(self, flagged: str = "") -> ArbSnapshot:
        recent = [cid for trade in list(self.rounds)[-10:] for cid in trade.legs]
        return ArbSnapshot(
            symbol=self.symbol,
            positions={v: p for v, p in sorted(self.positions.items())},
            net_position=self.net_position,
            cash=self.cash,
            fees=self.fees,
            pnl=self.pnl(),
            rounds=self.round_count,
            hedged=self.hedged,
            one_legged=self.one_legged,
            flagged=flagged,
            legs=[msgspec.structs.replace(self.legs[cid]) for cid in reversed(recent)],
            fills=list(reversed(self.fills))[:50],
        )


def leg_text(leg: ArbLeg) -> str:
    """``buy 0.5 on okx: filled 0.5 @ 100.2`` / ``sell 0.5 on binance: rejected (reason)``."""
    head = f"{leg.side} {leg.size} on {leg.venue}"
    if leg.filled:
        return f"{head}: filled {leg.filled} @ {leg.avg_price}"
    return f"{head}: {leg.status}" + (f" ({leg.reason})" if leg.reason else "")


def as_builtins(snapshot: ArbSnapshot) -> dict[str, Any]:
    return msgspec.to_builtins(snapshot)
