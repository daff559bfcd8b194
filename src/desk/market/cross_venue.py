"""Each venue's top of book per symbol, and the spreads between venues after taker fees.

The cross-venue view, the spread watcher and the arbitrage seeker all read spreads from here,
so the figure an operator sees is the figure a watcher alerts on and a seeker trades.

A spread ``buy → sell`` is what buying at ``buy``'s best ask and selling at ``sell``'s best bid
earns per unit bought, net of both venues' taker fees, in basis points of the price paid:

    (sell.bid * (1 - fee_sell) - buy.ask * (1 + fee_buy)) / (buy.ask * (1 + fee_buy)) * 1e4

Positive means the two books cross by more than the fees: an arbitrage on paper.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

BPS = 1e4


@dataclass(frozen=True, slots=True)
class VenueTop:
    """One venue's best bid and ask of one symbol, and when it was last seen (receive ns)."""

    venue: str
    symbol: str
    bid: float
    ask: float
    ts_ns: int
    bid_size: float = math.nan
    ask_size: float = math.nan

    @property
    def usable(self) -> bool:
        """Both sides present and not crossed within the venue."""
        return self.bid > 0 and self.ask > 0 and self.bid <= self.ask

    def age_s(self, now_ns: int) -> float:
        return max(0.0, (now_ns - self.ts_ns) / 1e9)


def net_spread_bps(buy: VenueTop, sell: VenueTop, fee_buy_bps: float, fee_sell_bps: float) -> float:
    """Buy at ``buy``'s ask, sell at ``sell``'s bid, after taker fees; NaN if a side is missing."""
    if not (buy.ask > 0 and sell.bid > 0):
        return math.nan
    cost = buy.ask * (1.0 + fee_buy_bps / BPS)
    proceeds = sell.bid * (1.0 - fee_sell_bps / BPS)
    return (proceeds - cost) / cost * BPS


class CrossVenueTops:
    """The latest top of book per (symbol, venue), fed by ``BookChanged`` or ``Ticker`` events.

    ``fees_bps`` is each venue's taker fee in basis points (a venue not named pays
    ``default_fee_bps``).
    """

    def __init__(self, fees_bps: Mapping[str, float] | None = None, default_fee_bps: float = 10.0):
        self.fees_bps = dict(fees_bps or {})
        self.default_fee_bps = default_fee_bps
        self._tops: dict[str, dict[str, VenueTop]] = {}

    def fee_bps(self, venue: str) -> float:
        return self.fees_bps.get(venue, self.default_fee_bps)

    def update(self, top: VenueTop) -> None:
        self._tops.setdefault(top.symbol, {})[top.venue] = top

    def on_event(self, event: object) -> None:
        """Take the top from a ``BookChanged`` (best_bid/best_ask) or a ``Ticker`` (bid/ask)."""
        bid = getattr(event, "best_bid", None)
        if bid is None:
            bid = getattr(event, "bid", None)
            ask = getattr(event, "ask", None)
        else:
            ask = getattr(event, "best_ask", None)
        if bid is None or ask is None:
            return
        self.update(
            VenueTop(
                venue=event.venue,  # type: ignore[attr-defined]
                symbol=event.symbol,  # type: ignore[attr-defined]
                bid=float(bid) if bid == bid else math.nan,
                ask=float(ask) if ask == ask else math.nan,
                ts_ns=event.ts_recv,  # type: ignore[attr-defined]
                bid_size=float(getattr(event, "bid_size", math.nan)),
                ask_size=float(getattr(event, "ask_size", math.nan)),
            )
        )

    def symbols(self) -> list[str]:
        return sorted(self._tops)

    def tops(self, symbol: str) -> dict[str, VenueTop]:
        """Each venue's top of ``symbol``, keyed by venue (empty when none seen)."""
        return dict(self._tops.get(symbol, {}))

    def matrix(self, symbol: str) -> dict[tuple[str, str], float]:
        """``(buy_venue, sell_venue) → net spread bps`` for every ordered pair of venues."""
        tops = self._tops.get(symbol, {})
        return {
            (buy, sell): net_spread_bps(
                tops[buy], tops[sell], self.fee_bps(buy), self.fee_bps(sell)
            )
            for buy in sorted(tops)
            for sell in sorted(tops)
            if buy != sell
        }

    def best(self, symbol: str) -> tuple[str, str, float] | None:
        """The most profitable ``(buy_venue, sell_venue, bps)`` of ``symbol``, or None."""
        pairs = [(bps, b, s) for (b, s), bps in self.matrix(symbol).items() if bps == bps]
        if not pairs:
            return None
        bps, buy, sell = max(pairs)
        return buy, sell, bps
