"""Faults the Binance simulator injects on request, as a client would meet them on Binance.

In process: ``sim.faults.sequence_gap("BTCUSDT")``; out of process: ``POST /sim/faults/{name}``
with the keyword arguments as a JSON object.

The connection faults are the venue-neutral ones (``desk.sim.faults``); Binance's notice is
``serverShutdown``, wrapped for combined-stream connections. The stream faults hit the named
symbol's streams, hence every subscriber of them:

* ``sequence_gap``: the next diff-depth event of each speed is lost (the one after it starts
  with ``U`` beyond the client's ``local + 1``); the book a client keeps without noticing it
  would be wrong, so this is a real gap, not just a jump in the numbers.
* ``duplicate_trades``: the last ``trade`` and ``aggTrade`` payloads are sent again verbatim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from desk.sim.binance.streams import FAST, SLOW
from desk.sim.binance.wire import SHUTDOWN_STREAM, server_shutdown, wrap
from desk.sim.faults import ConnectionFaults, FaultTarget, FaultyConnection

if TYPE_CHECKING:
    from desk.sim.binance.streams import SymbolStreams


class BinanceFaultTarget(FaultTarget, Protocol):
    """The Binance simulator as its faults see it: the venue plus its symbols' streams."""

    @property
    def streams(self) -> dict[str, SymbolStreams]: ...

    def now_ms(self) -> int: ...


class BinanceFaults(ConnectionFaults):
    """The connection faults with Binance's frames, plus the stream faults."""

    _sim: BinanceFaultTarget

    NAMES = (
        "drop_connections",
        "stall",
        "sequence_gap",
        "malformed_frame",
        "truncated_frame",
        "duplicate_trades",
        "maintenance_notice",
        "fail_orders",
    )
    MALFORMED_FRAME = b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","b":[[}'
    TRUNCATED_FALLBACK = b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136'

    def notice(self, conn: FaultyConnection) -> bytes:
        """``{"e":"serverShutdown","E":1770123456789}`` (wrapped on combined streams)."""
        payload = server_shutdown(self._sim.now_ms())
        return wrap(SHUTDOWN_STREAM, payload) if getattr(conn, "combined", False) else payload

    def _stream(self, native: str) -> SymbolStreams:
        stream = self._sim.streams.get(native)
        if stream is None:
            raise ValueError(f"unknown symbol {native!r}")
        return stream

    def sequence_gap(self, symbol: str) -> None:
        """The next diff-depth event of ``symbol`` (each speed) never reaches anyone."""
        self._stream(symbol).gap_pending.update((FAST, SLOW))
        self._count("sequence_gap")

    def duplicate_trades(self, symbol: str) -> bool:
        """Send the last ``trade`` and ``aggTrade`` of ``symbol`` again; False if none yet."""
        stream = self._stream(symbol)
        self._count("duplicate_trades")
        sent = False
        for kind in ("trade", "aggTrade"):
            payload = stream.latest.get(kind)
            if payload is not None:
                stream.hub.broadcast(stream.stream(kind), payload)
                sent = True
        return sent
