"""Faults the OKX simulator injects on request, as a client would meet them on the real venue.

In process: ``sim.faults.stall(2.0)``; out of process: ``POST /sim/faults/stall`` with body
``{"seconds": 2.0}`` (answers ``{"ok":true}``, or 400 with a reason).

Connection faults (desk.sim.faults) hit every connection open at the time of the call; stream
faults (``sequence_gap``, ``bad_checksum``, ``duplicate_trades``) hit the named instrument's
stream, hence every subscriber of it.

Value corruptions (``nan_price``, ``inf_price``, ``negative_price``, ``zero_price``,
``huge_price``, ``nan_size``, ``negative_size``, ``future_timestamp``, ``past_timestamp``,
``oversized_string``; see ``desk.sim.faults.VALUE_FAULTS``) rewrite one value of the next push
of one stream: ``POST /sim/faults/nan_price`` with ``{"inst_id": "BTC-USDT", "channel":
"books"}`` (channel ``trades`` by default; ``books``, ``books5``, ``bbo-tbt``, ``tickers``). On a
book channel it is the first level's price or size, so the push needs levels: an idle heartbeat
passes unharmed and the corruption waits for the next update.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from desk.sim.faults import VALUE_FAULTS, ConnectionFaults, FaultTarget, FaultyConnection
from desk.sim.okx.wire import notice
from desk.sim.okx.ws import PRIVATE

if TYPE_CHECKING:
    from desk.sim.okx.streams import Hub, InstrumentStreams


class OkxFaultTarget(FaultTarget, Protocol):
    """The OKX simulator as its faults see it: the venue plus its instruments' streams."""

    @property
    def streams(self) -> dict[str, InstrumentStreams]: ...

    @property
    def hub(self) -> Hub: ...


_FIELD = {  # channel -> value kind -> the pattern of its first occurrence in a push
    "trades": {"price": rb'"px":"[^"]*"', "size": rb'"sz":"[^"]*"', "ts": rb'"ts":"[^"]*"'},
    "tickers": {"price": rb'"last":"[^"]*"', "size": rb'"lastSz":"[^"]*"', "ts": rb'"ts":"[^"]*"'},
}
_LEVEL = re.compile(rb'\[\["([^"]*)","([^"]*)"')  # a book side's first level: [["px","sz"
_TS = re.compile(rb'"ts":"[^"]*"')
BOOK_CHANNELS = ("books", "books5", "bbo-tbt")
Corrupt = Callable[[bytes], bytes | None]


def value_corruption(channel: str, field: str, text: str) -> Corrupt:
    """A function that writes ``text`` in place of the first ``field`` value of an OKX push of
    ``channel`` (None when the push has no such value, e.g. a book heartbeat)."""
    bad = text.encode()
    if channel in BOOK_CHANNELS and field != "ts":

        def level(frame: bytes) -> bytes | None:
            found = _LEVEL.search(frame)
            if found is None:
                return None
            px, sz = (bad, found.group(2)) if field == "price" else (found.group(1), bad)
            return frame[: found.start()] + b'[["' + px + b'","' + sz + b'"' + frame[found.end() :]

        return level
    if channel in BOOK_CHANNELS:
        pattern = _TS
    elif channel in _FIELD:
        pattern = re.compile(_FIELD[channel][field])
    else:
        known = ", ".join((*_FIELD, *BOOK_CHANNELS))
        raise ValueError(f"no value corruption for channel {channel!r}; known: {known}")
    key = pattern.pattern.split(b":", 1)[0]

    def first(frame: bytes) -> bytes | None:
        found = pattern.search(frame)
        if found is None:
            return None
        return frame[: found.start()] + key + b':"' + bad + b'"' + frame[found.end() :]

    return first


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
        *VALUE_FAULTS,
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

    def apply(self, name: str, kwargs: dict[str, Any]) -> None:
        """Run fault ``name``; a value corruption takes ``inst_id`` and ``channel``."""
        if name in VALUE_FAULTS:
            self.corrupt(name, **kwargs)
        else:
            super().apply(name, kwargs)

    def state(self) -> dict[str, Any]:
        """Faults injected so far by name, and the streams whose corruption still waits."""
        pending = sorted(f"{channel}:{inst}" for channel, inst in self._sim.hub.corruptions)
        return {"injected": dict(self.injected), "pending": pending}

    def corrupt(self, name: str, inst_id: str, channel: str = "trades") -> None:
        """Write value fault ``name`` (``VALUE_FAULTS``) into the next ``channel`` push of
        ``inst_id``; one pending corruption per stream, a new one replaces it."""
        fault = VALUE_FAULTS.get(name)
        if fault is None:
            raise ValueError(f"unknown value fault {name!r}; known: {', '.join(VALUE_FAULTS)}")
        self._stream(inst_id)  # ValueError for an instrument the venue does not list
        self._sim.hub.corrupt_next((channel, inst_id), value_corruption(channel, *fault))
        self._count(name)

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
