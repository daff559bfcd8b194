"""Keeping each Binance order book in step with its diff-depth stream (PROTOCOLS.md B.3, D.5).

``BinanceBookKeeper`` owns one ``OrderBook`` per symbol and a small state machine around it:

``WAITING``        no book. The first ``depthUpdate`` is buffered and starts a REST snapshot.
``BOOTSTRAPPING``  events are buffered while ``GET /api/v3/depth`` is fetched; a snapshot whose
                   ``lastUpdateId`` is older than the first buffered ``U`` (``lastUpdateId + 1 <
                   U``: the events between are lost) is fetched again. The snapshot is loaded
                   (``local = lastUpdateId``) and the buffer replayed through the live rule.
``LIVE``           per event: ``u <= local`` is already in the book (dropped); ``U > local + 1``
                   means events were missed (a gap); otherwise it applies, normally with
                   ``U == local + 1``, and ``local = u``. The first event after a snapshot must
                   straddle it (``U <= local + 1 <= u``): the same rule.

Any break (a gap, a crossed book, unusable levels) clears that symbol's book and starts it over
from a fresh REST snapshot; nothing on the connection is resubscribed and no other book is
touched. Every snapshot replaces the whole book (no ghost levels). Levels beyond the snapshot's
depth stay unknown until they change, as on Binance.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

from desk.core.enums import Severity
from desk.core.events import BookChanged
from desk.core.topics import market_data
from desk.feeds.binance.rest import RestDepth
from desk.feeds.binance.wire import DepthData, DepthDataFrame, DepthUpdate, decoder
from desk.feeds.book_events import book_changed
from desk.feeds.counters import FeedCounters
from desk.feeds.validation import MAX_PRICE, BadData, PriceGuard, bad_timestamp, check_levels
from desk.feeds.validation import level_mid as snapshot_mid
from desk.market.book import OrderBook

log = logging.getLogger(__name__)

NS_PER_MS = 1_000_000
MAX_BUFFERED = 20_000
MAX_FETCHES = 10
REFETCH_DELAY = 0.1
BOOTSTRAP_RETRY_S = 2.0

Publish = Callable[[str, Any], None]
Report = Callable[[str, str, Severity, str], None]
FetchDepth = Callable[[str], Awaitable[RestDepth]]


class SyncState(Enum):
    WAITING = "waiting"
    BOOTSTRAPPING = "bootstrapping"
    LIVE = "live"


LIVE = SyncState.LIVE


class BookSync:
    """One symbol's book, where it stands with the stream, and its price band."""

    __slots__ = (
        "book",
        "buffer",
        "guard",
        "last_size",
        "last_trade_id",
        "native",
        "retry_at",
        "state",
        "symbol",
        "task",
        "ticker_u",
        "topic",
    )

    def __init__(self, native: str, symbol: str, venue: str, band: float) -> None:
        self.native = native  # "BTCUSDT", as payloads name it
        self.symbol = symbol  # "BTC-USDT", desk's name
        self.book = OrderBook(symbol, venue=venue, keep_raw=True)
        self.topic = market_data(symbol)
        self.state = SyncState.WAITING
        self.buffer: list[DepthData] = []  # events held while the snapshot is fetched
        self.task: asyncio.Task[None] | None = None  # the REST bootstrap in flight
        self.retry_at = 0.0  # monotonic time before which no new bootstrap starts
        self.guard = PriceGuard(band)  # its ``last`` is the last good trade price
        self.last_size = math.nan  # of the last trade, for tickers
        self.last_trade_id = -1  # the highest trade (or aggTrade) id published
        self.ticker_u = -1  # the highest bookTicker update id published (this connection)


class BinanceBookKeeper:
    """Applies diff-depth events to the right book and repairs a broken one (module docstring).

    ``symbols`` maps native names to desk's (``{"BTCUSDT": "BTC-USDT"}``). ``fetch_depth`` gets a
    REST snapshot of a native symbol; without one (a replay, a benchmark) books start only from
    ``load_snapshot``.
    """

    def __init__(
        self,
        symbols: dict[str, str],
        *,
        publish: Publish,
        counters: FeedCounters,
        report: Report,
        fetch_depth: FetchDepth | None,
        skew_ns: int,
        price_band: float = 10.0,
        venue: str = "binance",
    ) -> None:
        self.venue = venue
        self.syncs = {
            native: BookSync(native, symbol, venue, price_band)
            for native, symbol in symbols.items()
        }
        self.books: dict[str, OrderBook] = {s.symbol: s.book for s in self.syncs.values()}
        self.ready = asyncio.Event()
        self._pending = set(self.syncs)
        if not self._pending:
            self.ready.set()
        self._publish_event = publish
        self._counters = counters
        self._report = report
        self._fetch = fetch_depth
        self._skew_ns = skew_ns
        self._early = -skew_ns
        self._latency_append = counters.latency_append
        self._decode_payload = decoder(DepthUpdate).decode

    # --- events -----------------------------------------------------------------------------

    def frame_handler(self, native: str) -> Callable[[bytes, int], None]:
        """The handler of ``native``'s combined ``{"stream":"btcusdt@depth@100ms","data":{...}}``
        frames (the hot path): the stream names the symbol, so its state is bound here instead
        of looked up by the payload's ``s`` (which is not even decoded)."""
        sync = self.syncs[native]
        decode = decoder(DepthDataFrame).decode
        apply = self.apply

        def handle_frame(raw: bytes, recv_ns: int) -> None:
            apply(sync, decode(raw).data, recv_ns)

        return handle_frame

    def handle_payload(self, raw: bytes, recv_ns: int) -> None:
        """A bare ``depthUpdate`` payload (a raw stream, or a frame in unusual key order)."""
        self.on_depth(self._decode_payload(raw), recv_ns)

    def on_depth(self, ev: DepthUpdate, recv_ns: int) -> None:
        """Apply one decoded event of the symbol it names (``apply``)."""
        sync = self.syncs.get(ev.s)
        if sync is None:
            self._counters.unknown_symbols += 1
            return
        self.apply(sync, ev, recv_ns)

    def apply(self, sync: BookSync, ev: DepthData, recv_ns: int) -> None:
        """Apply one decoded event to ``sync``'s book. Raises ``BadData`` (a ValueError) for an
        exchange time far from the clock (nothing applied) or unusable levels (that book is
        resynced)."""
        ts = ev.E * NS_PER_MS
        lag = recv_ns - ts
        if not self._early <= lag <= self._skew_ns:
            raise bad_timestamp(ts, recv_ns, self._skew_ns)
        self._latency_append(lag)
        if sync.state is not LIVE:
            self._on_depth_slow(sync, ev)
            return
        book = sync.book
        if ev.u <= book.seq_id:
            return  # already in the book (the overlap after a snapshot or a handover)
        if book.seq_id + 1 < ev.U:
            self._gap(sync, ev)
            return
        try:
            book.apply_pairs(ev.b, ev.a, ev.u, ts)
        except (ValueError, IndexError, TypeError) as exc:
            self.resync(sync.native, "bad levels", str(exc))
            raise BadData(f"unusable book levels: {exc}") from exc
        bid = book.best_bid_px  # NaN when empty; NaN >= x is False
        ask = book.best_ask_px
        if bid >= ask:
            self._crossed(sync, bid, ask)
            return
        self._publish_event(
            sync.topic,
            BookChanged(
                ts_exchange=ts,
                ts_recv=recv_ns,
                venue=self.venue,
                symbol=sync.symbol,
                seq_id=ev.u,
                snapshot=False,
                best_bid=bid,
                best_ask=ask,
            ),
        )

    def _on_depth_slow(self, sync: BookSync, ev: DepthData) -> None:
        if sync.state is SyncState.BOOTSTRAPPING:
            sync.buffer.append(ev)
            if len(sync.buffer) > MAX_BUFFERED:
                self.resync(sync.native, "overflow", "too many events buffered during bootstrap")
        else:
            self._start_bootstrap(sync, ev)

    def _replay(self, sync: BookSync, ev: DepthData, recv_ns: int) -> bool:
        """The live rule for a buffered event; False when it broke the book (resynced)."""
        book = sync.book
        if ev.u <= book.seq_id:
            return True
        if book.seq_id + 1 < ev.U:
            self._gap(sync, None)
            return False
        try:
            book.apply_pairs(ev.b, ev.a, ev.u, ev.E * NS_PER_MS)
        except (ValueError, IndexError, TypeError) as exc:
            self.resync(sync.native, "bad levels", str(exc))
            return False
        return self._publish(sync, False, ev.E * NS_PER_MS, recv_ns)

    def _publish(self, sync: BookSync, snapshot: bool, ts: int, recv_ns: int) -> bool:
        """Publish ``BookChanged``; a crossed book is counted and resynced instead."""
        event = book_changed(sync.book, snapshot, ts, recv_ns)
        if event is None:
            self._crossed(sync, sync.book.best_bid_px, sync.book.best_ask_px)
            return False
        self._publish_event(sync.topic, event)
        return True

    # --- integrity failures -----------------------------------------------------------------

    def _gap(self, sync: BookSync, ev: DepthData | None) -> None:
        """Events were missed: resync, and let the event that showed it start the new buffer."""
        self._counters.gaps += 1
        detail = f"first update id {ev.U} > last applied {sync.book.seq_id} + 1" if ev else ""
        self._report("gap", detail or "buffered events do not chain", Severity.WARNING, sync.symbol)
        self.resync(sync.native, "gap", detail)
        if ev is not None:
            self._start_bootstrap(sync, ev)

    def _crossed(self, sync: BookSync, bid: float, ask: float) -> None:
        self._counters.crossed_books += 1
        message = f"crossed book: best bid {bid} >= best ask {ask}"
        self._report("crossed_book", message, Severity.WARNING, sync.symbol)
        self.resync(sync.native, "crossed", message)

    def resync(self, native: str, why: str, detail: str = "") -> None:
        """Drop ``native``'s book and rebuild it from a fresh snapshot; other books stay."""
        sync = self.syncs.get(native)
        if sync is None:
            return
        self._counters.resyncs += 1
        self._reset(sync)
        text = f"resync after {why}: REST snapshot on the next update"
        self._report(
            "resync", text + (f" ({detail})" if detail else ""), Severity.WARNING, sync.symbol
        )

    # --- connection life --------------------------------------------------------------------

    def reset_all(self) -> None:
        """The connection was lost: every book is cleared and waits for a fresh start."""
        for sync in self.syncs.values():
            self._reset(sync)
            sync.retry_at = 0.0
            sync.ticker_u = -1

    def close(self) -> None:
        for sync in self.syncs.values():
            self._cancel_bootstrap(sync)

    def refresh_guards(self) -> None:
        """Re-centre each symbol's price band (about once a second) and hand it to its book."""
        for sync in self.syncs.values():
            guard, book = sync.guard, sync.book
            guard.refresh(book.mid)
            if guard.armed:
                book.set_price_limits(guard.lo, guard.hi)
            else:
                book.set_price_limits(0.0, MAX_PRICE)

    def _reset(self, sync: BookSync) -> None:
        self._cancel_bootstrap(sync)
        sync.book.clear()
        sync.state = SyncState.WAITING
        self._pending.add(sync.native)
        self.ready.clear()

    def _mark_ready(self, sync: BookSync) -> None:
        pending = self._pending
        if pending:
            pending.discard(sync.native)
            if not pending:
                self.ready.set()

    # --- REST bootstrap ---------------------------------------------------------------------

    def _start_bootstrap(self, sync: BookSync, first: DepthData) -> None:
        if self._fetch is None or time.monotonic() < sync.retry_at:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # used without a loop (a replay, a benchmark): nothing to await
            sync.retry_at = time.monotonic() + BOOTSTRAP_RETRY_S
            log.warning("%s: no event loop to fetch the book snapshot", sync.symbol)
            return
        sync.state = SyncState.BOOTSTRAPPING
        sync.buffer = [first]
        sync.task = loop.create_task(self._bootstrap(sync), name=f"binance-book-{sync.native}")

    def _cancel_bootstrap(self, sync: BookSync) -> None:
        task, sync.task = sync.task, None
        if task is not None and not task.done() and task is not _current_task():
            task.cancel()
        sync.buffer = []

    async def _bootstrap(self, sync: BookSync) -> None:
        try:
            snap = await self._fetch_current(sync)
            _check_snapshot(sync, snap)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, BadData):
                self._counters.bad_values += 1
            self._reset(sync)
            sync.retry_at = time.monotonic() + BOOTSTRAP_RETRY_S
            self._report("resync", f"book snapshot failed: {exc}", Severity.WARNING, sync.symbol)
            return
        sync.task = None
        if sync.state is SyncState.BOOTSTRAPPING:
            buffered, sync.buffer = sync.buffer, []
            self.load_snapshot(sync.native, snap, buffered)

    async def _fetch_current(self, sync: BookSync) -> RestDepth:
        """Fetch the snapshot until it is no older than the first buffered event."""
        assert self._fetch is not None
        first_u = sync.buffer[0].U
        for attempt in range(MAX_FETCHES):
            snap = await self._fetch(sync.native)
            if snap.last_update_id + 1 >= first_u:
                return snap
            if attempt + 1 < MAX_FETCHES:
                await asyncio.sleep(REFETCH_DELAY)
        raise RuntimeError(
            f"REST snapshot stayed behind the stream (lastUpdateId {snap.last_update_id} "
            f"< first U {first_u} - 1)"
        )

    def load_snapshot(
        self, native: str, snap: RestDepth, buffered: list[DepthData] | None = None
    ) -> bool:
        """Load a snapshot (``local = lastUpdateId``) and replay ``buffered`` events through
        the live rule; False when the result is broken (then resynced)."""
        sync = self.syncs[native]
        self._cancel_bootstrap(sync)
        recv_ns = time.time_ns()
        try:
            sync.book.apply_snapshot(snap.bids, snap.asks, snap.last_update_id, recv_ns)
        except (ValueError, IndexError, TypeError) as exc:
            self.resync(native, "bad snapshot", str(exc))
            return False
        sync.state = LIVE
        if not self._publish(sync, True, recv_ns, recv_ns):
            return False
        self._mark_ready(sync)
        return all(self._replay(sync, ev, recv_ns) for ev in buffered or ())


def _check_snapshot(sync: BookSync, snap: RestDepth) -> None:
    """BadData unless every level is a plain positive price and size (arms an open band)."""
    check_levels(snap.bids)
    check_levels(snap.asks)
    guard = sync.guard
    if not guard.armed:
        guard.arm(snapshot_mid(snap.bids, snap.asks))
        if guard.armed:
            sync.book.set_price_limits(guard.lo, guard.hi)
    else:
        check_levels(snap.bids, guard)
        check_levels(snap.asks, guard)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
