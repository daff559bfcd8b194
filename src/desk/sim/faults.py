"""Faults a simulated venue injects on request, as a client would meet them on a real venue.

This is the venue-neutral part: the names and counts of the faults, the connection faults and
their timing (stall for some seconds, close some seconds after a notice), the order faults
(:class:`OrderFaults`) a venue's wire server consults before it executes an order request, and
the catalogue of value corruptions (:data:`VALUE_FAULTS`: NaN, inf, negative, zero and absurd
values, far-past and far-future timestamps, oversized strings) that a venue writes into the next
push of one stream. A venue's package adds its own frames and stream faults and knows where a
price, size or timestamp sits in its pushes (the OKX simulator: sim/okx/faults.py).

Connection faults hit every connection open at the time of the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, NamedTuple, Protocol

CLOSE_GOING_AWAY = 1001
OVERSIZED_CHARS = 200_000


class ValueFault(NamedTuple):
    """One value corruption: which kind of field of a push gets which text instead."""

    field: Literal["price", "size", "ts"]
    text: str


VALUE_FAULTS: dict[str, ValueFault] = {
    "nan_price": ValueFault("price", "NaN"),
    "inf_price": ValueFault("price", "Infinity"),
    "negative_price": ValueFault("price", "-1"),
    "zero_price": ValueFault("price", "0"),
    "huge_price": ValueFault("price", "1e308"),
    "nan_size": ValueFault("size", "NaN"),
    "negative_size": ValueFault("size", "-1"),
    "future_timestamp": ValueFault("ts", "99999999999999"),  # the year 5138, in ms
    "past_timestamp": ValueFault("ts", "1640995200000"),  # 2022-01-01, years from any clock
    "oversized_string": ValueFault("price", "1" * OVERSIZED_CHARS),  # a 200 kB price
}
"""Value corruptions by fault name: the next push of the chosen stream carries the bad text in
place of its first value of that kind (everything else about the push stays true, so a client
that refuses the value - rather than a broken sequence - is what is tested)."""


class FaultyConnection(Protocol):
    """What the connection faults do to one simulated WebSocket connection."""

    @property
    def conn_id(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def last_push(self) -> bytes | None: ...

    def send(self, data: bytes, is_push: bool = True) -> None: ...

    def stall(self, seconds: float) -> None: ...

    def abort(self) -> None: ...

    def close_soon(self, code: int, reason: str = "") -> None: ...


class FaultTarget(Protocol):
    """The simulated venue the faults act on."""

    @property
    def order_faults(self) -> OrderFaults: ...

    def open_connections(self) -> Sequence[FaultyConnection]: ...


class ConnectionFaults:
    """The faults any venue's wire server can meet; a venue subclass names all it offers in
    ``NAMES`` and provides its frames (``MALFORMED_FRAME``, ``TRUNCATED_FALLBACK``, ``notice``).
    """

    NAMES: ClassVar[tuple[str, ...]] = (
        "drop_connections",
        "stall",
        "malformed_frame",
        "truncated_frame",
        "maintenance_notice",
        "fail_orders",
    )
    MALFORMED_FRAME: ClassVar[bytes]
    TRUNCATED_FALLBACK: ClassVar[bytes]

    def __init__(self, sim: FaultTarget) -> None:
        self._sim = sim
        self.injected: dict[str, int] = {}

    def apply(self, name: str, kwargs: dict[str, Any]) -> None:
        """Run fault ``name`` with keyword arguments (the HTTP route's entry point)."""
        if name not in self.NAMES:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(self.NAMES)}")
        getattr(self, name)(**kwargs)

    def _count(self, name: str) -> None:
        self.injected[name] = self.injected.get(name, 0) + 1

    def notice(self, conn: FaultyConnection) -> bytes:
        """The venue's "this connection closes soon, reconnect" frame for ``conn``."""
        raise NotImplementedError

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

    def fail_orders(self, count: int = 1, mode: str = "error") -> None:
        """The next ``count`` order requests time out or fail (see ``OrderFaults``)."""
        self._sim.order_faults.fail_next(count, mode)
        self._count("fail_orders")

    def malformed_frame(self) -> int:
        """Send every connection a text frame that is not valid JSON."""
        self._count("malformed_frame")
        conns = self._sim.open_connections()
        for conn in conns:
            conn.send(self.MALFORMED_FRAME, is_push=False)
        return len(conns)

    def truncated_frame(self) -> int:
        """Send every connection the first half of the last push it got (a cut-off JSON)."""
        self._count("truncated_frame")
        conns = self._sim.open_connections()
        for conn in conns:
            whole = conn.last_push or self.TRUNCATED_FALLBACK
            conn.send(whole[: max(1, len(whole) // 2)], is_push=False)
        return len(conns)

    def maintenance_notice(self, close_after: float = 60.0) -> int:
        """Send the venue's upgrade notice (:meth:`notice`), then close (1001) ``close_after``
        seconds later."""
        if close_after < 0:
            raise ValueError("close_after must not be negative")
        self._count("maintenance_notice")
        loop = asyncio.get_running_loop()
        conns = self._sim.open_connections()
        for conn in conns:
            conn.send(self.notice(conn), is_push=False)
            loop.call_later(
                float(close_after), conn.close_soon, CLOSE_GOING_AWAY, "service upgrade"
            )
        return len(conns)


class OrderFaults:
    """Order requests (WS ops and REST trade calls) that should fail, for circuit-breaker tests.

    ``fail_next(3, "timeout")``: the next three order requests get no answer at all (REST holds
    the request open until the client gives up); ``"error"``: they are answered with the venue's
    "service unavailable" error (OKX: ``50001`` "Service temporarily unavailable", REST: HTTP
    503). Nothing is executed either way.
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
