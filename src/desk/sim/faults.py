"""Faults the OKX simulator injects on request, as a client would meet them on the real venue.

In process: ``sim.faults.stall(2.0)``; out of process: ``POST /sim/faults/stall`` with body
``{"seconds": 2.0}`` (answers ``{"ok":true}``, or 400 with a reason).

Connection faults hit every connection open at the time of the call; stream faults
(``sequence_gap``, ``bad_checksum``, ``duplicate_trades``) hit the named instrument's stream,
hence every subscriber of it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from desk.sim.okx.wire import notice
from desk.sim.okx.ws import PRIVATE

if TYPE_CHECKING:
    from desk.sim.okx.simulator import OkxSimulator
    from desk.sim.okx.streams import InstrumentStreams

MALFORMED_FRAME = (
    b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{asks:}'
)
TRUNCATED_FALLBACK = b'{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":"SPOT"'
CLOSE_GOING_AWAY = 1001


class FaultInjector:
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

    def __init__(self, sim: OkxSimulator) -> None:
        self._sim = sim
        self.injected: dict[str, int] = {}

    def apply(self, name: str, kwargs: dict[str, Any]) -> None:
        """Run fault ``name`` with keyword arguments (the HTTP route's entry point)."""
        if name not in self.NAMES:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(self.NAMES)}")
        getattr(self, name)(**kwargs)

    def _count(self, name: str) -> None:
        self.injected[name] = self.injected.get(name, 0) + 1

    def _stream(self, inst_id: str) -> InstrumentStreams:
        stream = self._sim.streams.get(inst_id)
        if stream is None:
            raise ValueError(f"unknown instrument {inst_id!r}")
        return stream

    def drop_connections(self) -> int:
        """Close every connection's TCP socket at once, with no close frame (client sees 1006)."""
        self._count("drop_connections")
        conns = self._sim.open_connections()
        for conn in conns:
            conn.abort()
        return len(conns)

    def stall(self, seconds: float) -> int:
        """Send nothing at all (pushes, acks, pongs) on current connections for ``seconds``;
        what queues up meanwhile goes out afterwards (or overflows: 4005)."""
        if not seconds > 0:
            raise ValueError("seconds must be positive")
        self._count("stall")
        conns = self._sim.open_connections()
        for conn in conns:
            conn.stall(float(seconds))
        return len(conns)

    def drop_private(self) -> int:
        """Drop every ``/ws/v5/private`` connection (TCP abort, the client sees 1006)."""
        self._count("drop_private")
        conns = [c for c in self._sim.open_connections() if c.endpoint == PRIVATE]
        for conn in conns:
            conn.abort()
        return len(conns)

    def fail_orders(self, count: int = 1, mode: str = "error") -> None:
        """The next ``count`` order requests time out or fail (see ``OrderFaults``)."""
        self._sim.order_faults.fail_next(count, mode)
        self._count("fail_orders")

    def sequence_gap(self, inst_id: str) -> None:
        """The next ``books`` update's ``prevSeqId`` is not the last ``seqId`` sent."""
        self._stream(inst_id).gap_pending = True
        self._count("sequence_gap")

    def bad_checksum(self, inst_id: str) -> None:
        """The next ``books`` update carries a wrong ``checksum`` (non-zero; the book is right)."""
        self._stream(inst_id).bad_checksum_pending = True
        self._count("bad_checksum")

    def malformed_frame(self) -> int:
        """Send every connection a text frame that is not valid JSON."""
        self._count("malformed_frame")
        conns = self._sim.open_connections()
        for conn in conns:
            conn.send(MALFORMED_FRAME, is_push=False)
        return len(conns)

    def truncated_frame(self) -> int:
        """Send every connection the first half of the last push it got (a cut-off JSON)."""
        self._count("truncated_frame")
        conns = self._sim.open_connections()
        for conn in conns:
            whole = conn.last_push or TRUNCATED_FALLBACK
            conn.send(whole[: max(1, len(whole) // 2)], is_push=False)
        return len(conns)

    def duplicate_trades(self, inst_id: str) -> bool:
        """Re-send the last ``trades`` push of ``inst_id`` verbatim; False if none yet."""
        stream = self._stream(inst_id)
        self._count("duplicate_trades")
        data = stream.latest.get("trades")
        if data is None:
            return False
        stream.hub.broadcast(("trades", inst_id), data)
        return True

    def maintenance_notice(self, close_after: float = 60.0) -> int:
        """Send the 64008 upgrade notice, then close (1001) ``close_after`` seconds later.

        ``{"event":"notice","code":"64008","msg":"The connection will soon be closed for a
        service upgrade. Please reconnect.","connId":"a4d3ae55"}``
        """
        if close_after < 0:
            raise ValueError("close_after must not be negative")
        self._count("maintenance_notice")
        loop = asyncio.get_running_loop()
        conns = self._sim.open_connections()
        for conn in conns:
            conn.send(notice(conn.conn_id), is_push=False)
            loop.call_later(
                float(close_after), conn.close_soon, CLOSE_GOING_AWAY, "service upgrade"
            )
        return len(conns)


class OrderFaults:
    """Order requests (WS ops and REST trade calls) that should fail, for circuit-breaker tests.

    ``fail_next(3, "timeout")``: the next three order requests get no answer at all (REST holds
    the request open until the client gives up); ``"error"``: they are answered with OKX's
    ``50001`` "Service temporarily unavailable" (REST: HTTP 503). Nothing is executed either way.
    """

    MODES = ("timeout", "error")

    def __init__(self) -> None:
        self.remaining = 0
        self.mode = "error"

    def fail_next(self, count: int, mode: str = "error") -> None:
        if count < 0:
            raise ValueError("count must not be negative")
        if mode not in self.MODES:
            raise ValueError(f"unknown mode {mode!r}; known: {', '.join(self.MODES)}")
        self.remaining, self.mode = int(count), mode

    def take(self) -> str | None:
        """The failure mode for this request, or None when it should go through."""
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        return self.mode
