"""Faults the OKX simulator injects on request, as a client would meet them on the real venue.

In process: ``sim.faults.stall(2.0)``; out of process: ``POST /sim/faults/stall`` with body
``{"seconds": 2.0}`` (answers ``{"ok":true}``, or 400 with a reason).

Connection faults (desk.sim.faults) hit every connection open at the time of the call; stream
faults (``sequence_gap``, ``bad_checksum``, ``duplicate_trades``) hit the named instrument's
stream, hence every subscriber of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from desk.sim.faults import ConnectionFaults, FaultTarget, FaultyConnection
from desk.sim.okx.wire import notice
from desk.sim.okx.ws import PRIVATE

if TYPE_CHECKING:
    from desk.sim.okx.streams import InstrumentStreams


class OkxFaultTarget(FaultTarget, Protocol):
    """The OKX simulator as its faults see it: the venue plus its instruments' streams."""

    @property
    def streams(self) -> dict[str, InstrumentStreams]: ...


class FaultInjector(ConnectionFaults):
    """The OKX simulator's faults: the connection faults, OKX's frames and notice, the stream
    faults and dropping the private connections."""

    _sim: OkxFaultTarget

    NAMES = (
        "drop_connections",
        "stall",
        "sequence_gap",
        "bad_checksum",
        "malformed_frame",
        "truncated_frame",
        "duplicate_trades",
        "maintenance_notice",
        "drop_private",
        "fail_orders",
    )
    MALFORMED_FRAME = (
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{asks:}'
    )
    TRUNCATED_FALLBACK = (
        b'{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":"SPOT"'
    )

    def notice(self, conn: FaultyConnection) -> bytes:
        """The 64008 upgrade notice.

        ``{"event":"notice","code":"64008","msg":"The connection will soon be closed for a
        service upgrade. Please reconnect.","connId":"a4d3ae55"}``
        """
        return notice(conn.conn_id)

    def _stream(self, inst_id: str) -> InstrumentStreams:
        stream = self._sim.streams.get(inst_id)
        if stream is None:
            raise ValueError(f"unknown instrument {inst_id!r}")
        return stream

    def drop_private(self) -> int:
        """Drop every ``/ws/v5/private`` connection (TCP abort, the client sees 1006)."""
        self._count("drop_private")
        conns = [c for c in self._sim.open_connections() if c.endpoint == PRIVATE]
        for conn in conns:
            conn.abort()
        return len(conns)

    def sequence_gap(self, inst_id: str) -> None:
        """The next ``books`` update's ``prevSeqId`` is not the last ``seqId`` sent."""
        self._stream(inst_id).gap_pending = True
        self._count("sequence_gap")

    def bad_checksum(self, inst_id: str) -> None:
        """The next ``books`` update carries a wrong ``checksum`` (non-zero; the book is right)."""
        self._stream(inst_id).bad_checksum_pending = True
        self._count("bad_checksum")

    def duplicate_trades(self, inst_id: str) -> bool:
        """Re-send the last ``trades`` push of ``inst_id`` verbatim; False if none yet."""
        stream = self._stream(inst_id)
        self._count("duplicate_trades")
        data = stream.latest.get("trades")
        if data is None:
            return False
        stream.hub.broadcast(("trades", inst_id), data)
        return True
