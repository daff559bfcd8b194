"""The planned reconnect: a new connection takes over the books without a gap.

Binance closes every connection after 24 h and says so shortly before with ``serverShutdown``.
Reconnecting the usual way would clear every book and rebuild it from REST snapshots. Instead,
``Handover`` opens a second connection with the same streams while the first keeps feeding the
books (make before break):

1. the standby's depth events are buffered per symbol; its trades and tickers are handled at once
   (the trade ids and the ``bookTicker`` update id drop what both connections deliver);
2. update ids are the venue's, not the connection's, so the standby's stream continues the very
   chain the books are on. A symbol is covered once the standby's first buffered ``U`` is at
   most the book's ``local + 1``; a symbol with no event on the standby after ``QUIET_GRACE``
   seconds is covered too (nothing happened to it since the standby subscribed);
3. when every book is covered (or ``handover_timeout`` passed, or the old connection dropped),
   the standby becomes the active connection: its buffers are replayed through the live rule
   (``u <= local`` dropped, the rest chains on) and the old connection is closed.

A book that would not chain is resynced alone by the live rule; nothing else is lost. If the
standby cannot connect before the timeout, it is dropped and the old connection carries on (the
next attempt waits ``handover_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from desk.core.enums import ConnectionState, Severity
from desk.feeds.binance.books import LIVE, BinanceBookKeeper
from desk.feeds.binance.config import BinanceConfig
from desk.feeds.binance.connection import BinanceConnection
from desk.feeds.binance.wire import DepthFrame, DepthUpdate, decoder, stream_of
from desk.feeds.counters import FeedCounters
from desk.feeds.reporting import FeedReporter

log = logging.getLogger(__name__)

ACTIVE = "active"
STANDBY = "standby"
RETIRED = "retired"
QUIET_GRACE = 1.0
POLL_S = 0.05


class Link:
    """One connection of the feed and its role: ``active`` (feeds the books), ``standby`` (the
    next one, during a handover) or ``retired`` (closing; its frames are ignored)."""

    __slots__ = ("conn", "connected_at", "role")

    def __init__(self, role: str) -> None:
        self.role = role
        self.conn: BinanceConnection | None = None
        self.connected_at = 0.0  # monotonic time of the last connect

    @property
    def connected(self) -> bool:
        return self.conn is not None and self.conn.connected


class Host(Protocol):
    """What a handover needs of its feed (``BinanceFeed``)."""

    config: BinanceConfig
    counters: FeedCounters
    keeper: BinanceBookKeeper
    reporter: FeedReporter
    streams: list[str]
    link: Link
    handovers: int

    def new_connection(self, link: Link) -> BinanceConnection: ...

    def dispatch(self, raw: bytes, recv_ns: int, *, standby: bool = False) -> None: ...

    def decode_error(self, raw: bytes | str, exc: Exception, recv_ns: int) -> None: ...


class Handover:
    """Runs one planned reconnect at a time for ``feed`` (module docstring)."""

    def __init__(self, feed: Host) -> None:
        self.feed = feed
        self.standby: Link | None = None
        self.buffers: dict[str, list[tuple[DepthUpdate, int]]] = {}
        self.reason = ""
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._next_try = 0.0
        self._depth_streams = {
            s.encode() for s in feed.streams if s.split("@", 1)[1] == feed.config.depth_stream
        }
        self._decode_frame = decoder(DepthFrame).decode
        self._decode_payload = decoder(DepthUpdate).decode

    @property
    def in_progress(self) -> bool:
        return self.standby is not None

    def begin(self, reason: str) -> bool:
        """Start a handover unless one runs or the last failed attempt is too recent."""
        if self.standby is not None or time.monotonic() < self._next_try:
            return False
        self.reason = reason
        self.buffers = {}
        self.standby = Link(STANDBY)
        self.feed.new_connection(self.standby)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="binance-handover")
        return True

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        standby, self.standby = self.standby, None
        if standby is not None and standby.conn is not None:
            await standby.conn.stop()
        for closing in list(self._closing):
            with contextlib.suppress(asyncio.CancelledError):
                await closing

    # --- frames of the standby ----------------------------------------------------------

    def receive(self, raw: bytes | str, recv_ns: int) -> None:
        """A frame on the standby: depth is buffered, everything else handled as usual."""
        feed = self.feed
        counters = feed.counters
        if recv_ns >= counters.next_mark_ns:
            counters.mark(recv_ns)
        counters.messages += 1
        counters.bytes += len(raw)
        counters.last_recv_ns = recv_ns
        if isinstance(raw, str):
            raw = raw.encode()
        name = stream_of(raw)
        if name is not None and name in self._depth_streams:
            try:
                self._buffer(self._decode_frame(raw).data, recv_ns)
            except ValueError as exc:
                feed.decode_error(raw, exc, recv_ns)
        else:
            feed.dispatch(raw, recv_ns, standby=True)

    def buffer_payload(self, raw: bytes, recv_ns: int) -> None:
        self._buffer(self._decode_payload(raw), recv_ns)

    def _buffer(self, ev: DepthUpdate, recv_ns: int) -> None:
        self.buffers.setdefault(ev.s, []).append((ev, recv_ns))

    # --- the run ------------------------------------------------------------------------

    async def _run(self) -> None:
        standby = self.standby
        assert standby is not None and standby.conn is not None
        feed = self.feed
        feed.reporter.report("handover", f"planned reconnect ({self.reason})", Severity.INFO)
        await standby.conn.start()
        deadline = time.monotonic() + feed.config.handover_timeout
        while not (standby.connected and self._covered(standby)):
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_S)
        self._task = None
        if standby.connected:
            self.promote()
        else:
            self._abandon("the new connection did not come up in time")

    def _covered(self, standby: Link) -> bool:
        quiet = time.monotonic() - standby.connected_at >= QUIET_GRACE
        for native, sync in self.feed.keeper.syncs.items():
            if sync.state is not LIVE:
                continue  # a book starting over takes whatever comes next
            events = self.buffers.get(native)
            if events:
                if sync.book.seq_id + 1 < events[0][0].U:
                    return False  # the old connection has not caught up yet
            elif not quiet:
                return False
        return True

    def take_over_on_drop(self) -> bool:
        """The active connection dropped: promote a connected standby now (True), if any."""
        standby = self.standby
        if standby is None:
            return False
        if not standby.connected:
            self._abandon("the old connection dropped before the new one was up")
            return False
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.promote()
        return True

    def promote(self) -> None:
        """Make the standby the active connection and replay its buffered depth events."""
        feed, standby = self.feed, self.standby
        assert standby is not None
        old = feed.link
        old.role = RETIRED
        standby.role = ACTIVE
        feed.link = standby
        self.standby = None
        buffers, self.buffers = self.buffers, {}
        for events in buffers.values():
            for ev, recv_ns in events:
                try:
                    feed.keeper.on_depth(ev, recv_ns)
                except ValueError as exc:
                    feed.decode_error(b"", exc, recv_ns)
        feed.handovers += 1
        feed.reporter.report("handover", "the new connection took over", Severity.INFO)
        self._close(old)

    def _abandon(self, why: str) -> None:
        standby, self.standby = self.standby, None
        self.buffers = {}
        self._next_try = time.monotonic() + self.feed.config.handover_timeout
        self.feed.reporter.report("handover", f"planned reconnect failed: {why}", Severity.WARNING)
        if standby is not None:
            standby.role = RETIRED
            self._close(standby)

    def on_standby_state(self, state: ConnectionState) -> None:
        if state is ConnectionState.DISCONNECTED:
            self.buffers = {}  # its stream restarts with the next connect

    def _close(self, link: Link) -> None:
        if link.conn is None:
            return
        task = asyncio.get_running_loop().create_task(link.conn.stop(), name="binance-retire")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
