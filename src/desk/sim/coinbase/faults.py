"""Faults the Coinbase simulator injects on request, as a client would meet them on the venue.

In process: ``sim.faults.sequence_gap("BTC-USD")``; out of process: ``POST /sim/faults/{name}``
with a JSON body of keyword arguments. Connection faults (``desk.sim.faults``: drop, stall,
malformed and truncated frames) hit every open connection; stream faults hit one product's
subscribers:

* ``sequence_gap(product_id)``: every ``level2`` subscriber of the product sees a hole in its
  ``sequence_num`` right before the product's next ``l2_data`` update (the update itself
  arrives).
* ``duplicate_trades(product_id)``: the product's last ``market_trades`` batch is sent again in a
  new message (a fresh number, the same trade ids), as a replay after a resubscription would.

Garbage frames (malformed, truncated) take no ``sequence_num``: the client reads nothing of them.
Coinbase documents no upgrade notice, so there is no ``maintenance_notice`` here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from desk.sim.coinbase.wire import rfc3339_ns
from desk.sim.faults import ConnectionFaults, FaultTarget, FaultyConnection

if TYPE_CHECKING:
    from desk.sim.coinbase.streams import ProductStreams


class CoinbaseFaultTarget(FaultTarget, Protocol):
    """The Coinbase simulator as its faults see it."""

    @property
    def streams(self) -> dict[str, ProductStreams]: ...

    def now_ns(self) -> int: ...


class CoinbaseFaults(ConnectionFaults):
    _sim: CoinbaseFaultTarget

    NAMES = (
        "drop_connections",
        "stall",
        "sequence_gap",
        "malformed_frame",
        "truncated_frame",
        "duplicate_trades",
    )
    MALFORMED_FRAME = b'{"channel":"l2_data","timestamp":"2023-02-09T20:32:50Z","events":[{type:}'
    TRUNCATED_FALLBACK = b'{"channel":"ticker","timestamp":"2023-02-09T20:30:37.167359596Z","seq'

    def notice(self, conn: FaultyConnection) -> bytes:
        raise NotImplementedError("Coinbase sends no maintenance notice")

    def _stream(self, product_id: str) -> ProductStreams:
        stream = self._sim.streams.get(product_id)
        if stream is None:
            raise ValueError(f"unknown product {product_id!r}")
        return stream

    def sequence_gap(self, product_id: str) -> None:
        """Subscribers of ``product_id``'s ``level2`` miss numbers before its next update."""
        self._stream(product_id).gap_pending = True
        self._count("sequence_gap")

    def duplicate_trades(self, product_id: str) -> bool:
        """Send the last ``market_trades`` batch of ``product_id`` again; False if none yet."""
        stream = self._stream(product_id)
        self._count("duplicate_trades")
        if not stream.last_batch:
            return False
        stream.send_trades(stream.last_batch, rfc3339_ns(self._sim.now_ns()))
        return True
