"""The OKX ``orders`` channel mapped to venue reports (see okx.py), each reported once."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from desk.core.orders import Liquidity
from desk.execution.venue import (
    FillReport,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    VenueReport,
)
from desk.execution.venues.okx_wire import CANCELED_STATES, ms_to_ns

log = logging.getLogger("desk.execution.venues.okx")

TRACKS_KEPT = 10_000


@dataclass(slots=True)
class OrderTrack:
    """What was already reported for one clOrdId (duplicates and reordering are absorbed)."""

    venue_order_id: str = ""
    accepted: bool = False
    done: bool = False
    trades: set[str] = field(default_factory=set)


class OrderReports:
    """Per-clOrdId report state and the mapping of ``orders`` pushes to reports.

    The attributes are set by :class:`~desk.execution.venues.okx.OkxExecutionClient`.
    """

    _handler: Callable[[VenueReport], None]
    _tracks: OrderedDict[str, OrderTrack]

    def _track(self, cl: str) -> OrderTrack:
        track = self._tracks.get(cl)
        if track is None:
            track = self._tracks[cl] = OrderTrack()
            self._trim_tracks()
        return track

    def _trim_tracks(self) -> None:
        while len(self._tracks) > TRACKS_KEPT:
            self._tracks.popitem(last=False)

    def _on_order(self, entry: dict[str, Any]) -> None:
        cl = str(entry.get("clOrdId") or "")
        if not cl:
            return  # not placed by desk
        ord_id = str(entry.get("ordId", ""))
        state = entry.get("state", "")
        ts = ms_to_ns(entry.get("uTime"))
        self._accepted(cl, ord_id, ts)
        track = self._track(cl)
        trade_id = str(entry.get("tradeId") or "")
        fill_sz = Decimal(entry.get("fillSz") or "0")
        if trade_id and fill_sz > 0 and trade_id not in track.trades:
            track.trades.add(trade_id)
            fee = entry.get("fillFee") or "0"
            self._emit(
                FillReport(
                    client_order_id=cl,
                    venue_order_id=ord_id,
                    trade_id=trade_id,
                    price=Decimal(entry["fillPx"]),
                    size=fill_sz,
                    fee=-Decimal(fee),
                    fee_ccy=str(entry.get("fillFeeCcy", "")),
                    liquidity=Liquidity.MAKER if entry.get("execType") == "M" else Liquidity.TAKER,
                    ts=ms_to_ns(entry.get("fillTime") or entry.get("uTime")),
                )
            )
        if state == "filled":
            track.done = True
        elif state in CANCELED_STATES and not track.done:
            track.done = True
            source = entry.get("cancelSourceReason") or entry.get("msg") or ""
            reason = f"venue cancelSource {entry.get('cancelSource', '')}: {source}".rstrip(": ")
            self._emit(
                OrderCanceled(client_order_id=cl, venue_order_id=ord_id, reason=reason, ts=ts)
            )

    def _accepted(self, cl: str, ord_id: str, ts: int) -> None:
        track = self._track(cl)
        if not track.accepted:
            track.accepted, track.venue_order_id = True, ord_id
            self._emit(OrderAccepted(client_order_id=cl, venue_order_id=ord_id, ts=ts))

    def _reject(self, cl: str, reason: str, ts: int) -> None:
        track = self._track(cl)
        if not track.accepted and not track.done:
            track.done = True
            self._emit(OrderRejected(client_order_id=cl, reason=reason, ts=ts))

    def _emit(self, report: VenueReport) -> None:
        try:
            self._handler(report)
        except Exception:
            log.exception("okx: report handler failed on %s", type(report).__name__)
