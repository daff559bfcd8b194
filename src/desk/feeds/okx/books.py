"""Keeping each OKX order book in step with the wire (PROTOCOLS.md A.5, D.1, D.2, D.5).

``OkxBookKeeper`` owns one ``OrderBook`` per symbol and a small state machine around it:

``WAITING``        no book; the first ``books`` message decides: a snapshot is applied, an update
                   starts a REST bootstrap (OKX has announced the end of the WS snapshot).
``LIVE``           updates apply when ``prevSeqId == last`` (a seqId reset with
                   ``seqId < prevSeqId`` is fine; an empty update with ``seqId == prevSeqId`` is an
                   idle heartbeat and a no-op).
``RESYNCING``      after a gap, a checksum mismatch or a crossed book: the book is cleared and its
                   one channel is unsubscribed and subscribed again; pushes are ignored until the
                   subscribe ack, then the book is ``WAITING`` for its fresh snapshot.
``BOOTSTRAPPING``  updates are buffered while ``GET /api/v5/market/books`` is fetched, refetching
                   while the snapshot's ``seqId`` is older than the first buffered ``prevSeqId``.
``BRIDGING``       the REST snapshot is applied; updates with ``seqId <= snapshot.seqId`` are
                   dropped and the first kept one must satisfy
                   ``prevSeqId <= snapshot.seqId < seqId``; then ``LIVE``.

Every snapshot clears the book first (no ghost levels). A checksum is only verified when the
message carries a non-zero one (OKX now sends 0). A broken book never touches the others.
``books5`` and ``bbo-tbt`` replace the whole book on every push and need none of this.

Bad data (``desk.feeds.validation``) is an integrity break like a gap: an exchange time further
than ``max_clock_skew`` from the receive time, or a level the checks refuse, drops the frame and
resyncs the book (``BadData`` goes up to the feed, which counts it as a decode error). Snapshots,
frames over ``CAREFUL_BYTES`` and frames of another level shape have every price and size
parsed; live updates get the book's own cheap checks (new prices within the symbol's band, sizes
starting with a digit). The band is re-centred by ``refresh_limits`` about once a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from desk.core.enums import Severity
from desk.core.events import BookChanged
from desk.feeds.book_events import book_changed
from desk.feeds.counters import FeedCounters
from desk.feeds.okx.bootstrap import UNUSABLE, RestBootstrap
from desk.feeds.okx.sync import LIVE, BookSync, FetchBook, SyncState
from desk.feeds.okx.wire import (
    BookData,
    BooksPush,
    LenientBooksPush,
    level_pairs,
    push_decoder,
)
from desk.feeds.validation import (
    NO_SKEW_LIMIT,
    BadData,
    PriceGuard,
    bad_timestamp,
    check_book,
    check_levels,
)
from desk.market.book import OrderBook

log = logging.getLogger(__name__)

NS_PER_MS = 1_000_000
MAX_BUFFERED = 20_000
RESYNC_TIMEOUT_S = 10.0
CAREFUL_BYTES = 4096
"""A book push larger than this gets every level parsed (updates are about 1 KB; a frame
carrying a 200 kB string cannot slip through the cheap checks); the feed passes ``careful``."""


Publish = Callable[[str, Any], None]
Report = Callable[[str, str, Severity, str], None]
Resubscribe = Callable[[str, str], bool]


class OkxBookKeeper(RestBootstrap):
    """Applies book pushes to the right book and repairs a broken one (module docstring)."""

    def __init__(
        self,
        book_channels: dict[str, str],
        *,
        publish: Publish,
        counters: FeedCounters,
        report: Report,
        resubscribe: Resubscribe,
        fetch_book: FetchBook | None,
        verify_checksum: bool = True,
        venue: str = "okx",
        guards: dict[str, PriceGuard] | None = None,
        skew_ns: int = NO_SKEW_LIMIT,
        price_band: float = 10.0,
    ) -> None:
        self.venue = venue
        self.verify_checksum = verify_checksum
        self.skew_ns = skew_ns
        self._latency_window = (-skew_ns, skew_ns)  # receive - exchange time, ns
        guards = guards if guards is not None else {}
        for symbol in book_channels:
            guards.setdefault(symbol, PriceGuard(price_band))
        self.syncs = {
            symbol: BookSync(
                symbol, channel, OrderBook(symbol, venue=venue, keep_raw=True), guards[symbol]
            )
            for symbol, channel in book_channels.items()
        }
        self.lenient_frames = 0  # frames whose levels had another shape (parsed leniently)
        self.books: dict[str, OrderBook] = {s: sync.book for s, sync in self.syncs.items()}
        self._books_syncs = {s: sync for s, sync in self.syncs.items() if sync.channel == "books"}
        """The syncs ``handle_books`` serves: a push for any other symbol is unwanted."""
        self.ready = asyncio.Event()
        self._pending = set(self.syncs)
        if not self._pending:
            self.ready.set()
        self._publish_event = publish
        self._counters = counters
        self._report = report
        self._resubscribe = resubscribe
        self._fetch_book = fetch_book
        self._latency_append = counters.latency_append
        self._decode_books = push_decoder(BooksPush).decode
        self._decode_lenient = push_decoder(LenientBooksPush).decode

    # --- pushes ---------------------------------------------------------------------------

    def handle_books(self, raw: bytes, recv_ns: int, careful: bool = False) -> None:
        """Decode and apply one ``books`` push (the hot path of the whole feed).

        A live update that chains onto the book is applied inline; everything else (snapshots,
        gaps, heartbeats, bootstrap states, frames to check whole) goes through
        ``_books_slow``. Raises ValueError for an undecodable frame (nothing applied) and
        ``BadData`` for refused data (that book is resynced). ``careful``: parse every level
        first (the feed says so for frames over ``CAREFUL_BYTES``).
        """
        try:
            push = self._decode_books(raw)
        except msgspec.ValidationError:
            push = self._decode_other_levels(raw)
            careful = True
        sync = self._books_syncs.get(push.arg.instId)
        if sync is None:
            self._count_unwanted(self.syncs.get(push.arg.instId))
            return
        if careful or push.action == "snapshot" or sync.state is not LIVE:
            self._books_slow(sync, push.data, push.action == "snapshot", careful, recv_ns)
            return
        early, late = self._latency_window
        book = sync.book
        try:
            for data in push.data:
                ts = data.ts * NS_PER_MS
                latency = recv_ns - ts
                if latency < early or latency > late:
                    raise bad_timestamp(ts, recv_ns, late)
                self._latency_append(latency)
                prev_seq_id = data.prevSeqId
                if prev_seq_id != book.seq_id or sync.state is not LIVE:
                    check_levels(level_pairs(data.bids), sync.guard)  # off the fast path:
                    check_levels(level_pairs(data.asks), sync.guard)  # checked whole
                    self._on_books_slow(sync, data, False, ts, recv_ns)
                    continue
                seq_id = data.seqId
                bids = data.bids
                asks = data.asks
                if seq_id == prev_seq_id and not bids and not asks:
                    continue  # idle heartbeat: the stream is alive and nothing changed
                book.apply_named(bids, asks, seq_id, ts)
                checksum = data.checksum
                if checksum and self.verify_checksum:
                    local = book.checksum()
                    if local != checksum:
                        self._checksum_failed(sync, data, local)
                        continue
                bid = book.best_bid_px  # NaN when empty; NaN >= x is False
                ask = book.best_ask_px
                if bid >= ask:
                    self._crossed(sync, bid, ask)
                    continue
                self._publish_event(
                    sync.topic,
                    BookChanged(
                        ts_exchange=ts,
                        ts_recv=recv_ns,
                        venue=self.venue,
                        symbol=sync.symbol,
                        seq_id=seq_id,
                        snapshot=False,
                        best_bid=bid,
                        best_ask=ask,
                    ),
                )
        except BadData as exc:
            self._resync_unless_waiting(sync, f"bad {exc.kind}", str(exc))
            raise
        except UNUSABLE as exc:
            self._resync_unless_waiting(sync, "bad levels", str(exc))
            raise BadData(f"unusable book levels: {exc}") from exc

    def _books_slow(
        self, sync: BookSync, datas: list[BookData], snapshot: bool, careful: bool, recv_ns: int
    ) -> None:
        """``handle_books`` for a push off the fast path: a snapshot (checked whole by
        ``_apply_snapshot``), a push to check whole first, or a book that is not live."""
        skew = self.skew_ns
        try:
            if careful and not snapshot:
                for data in datas:
                    check_levels(level_pairs(data.bids), sync.guard)
                    check_levels(level_pairs(data.asks), sync.guard)
            for data in datas:
                ts = data.ts * NS_PER_MS
                if not -skew <= recv_ns - ts <= skew:
                    raise bad_timestamp(ts, recv_ns, skew)
                self._latency_append(recv_ns - ts)
                if not (snapshot or careful):
                    check_levels(level_pairs(data.bids), sync.guard)
                    check_levels(level_pairs(data.asks), sync.guard)
                self._on_books_slow(sync, data, snapshot, ts, recv_ns)
        except BadData as exc:
            self._resync_unless_waiting(sync, f"bad {exc.kind}", str(exc))
            raise
        except UNUSABLE as exc:
            self._resync_unless_waiting(sync, "bad levels", str(exc))
            raise BadData(f"unusable book levels: {exc}") from exc

    def handle_book_snapshots(self, raw: bytes, recv_ns: int, careful: bool = False) -> None:
        """``books5`` / ``bbo-tbt``: every push is the whole (shallow) book.

        The book's own snapshot checks apply (every size, new prices within the band); a push of
        an unusual size or shape has every level parsed first.
        """
        try:
            push = self._decode_books(raw)
        except msgspec.ValidationError:
            push = self._decode_other_levels(raw)
            careful = True
        sync = self.syncs.get(push.arg.instId)
        if sync is None or sync.channel != push.arg.channel:
            self._count_unwanted(sync)
            return
        skew = self.skew_ns
        try:
            for data in push.data:
                ts = data.ts * NS_PER_MS
                latency = recv_ns - ts
                if not -skew <= latency <= skew:
                    raise bad_timestamp(ts, recv_ns, skew)
                self._latency_append(latency)
                bids = level_pairs(data.bids)
                asks = level_pairs(data.asks)
                if careful:
                    check_levels(bids, sync.guard)
                    check_levels(asks, sync.guard)
                sync.book.apply_snapshot(bids, asks, data.seqId, ts)
                sync.state = LIVE
                self._mark_ready(sync)
                self._publish(sync, True, ts, recv_ns)
        except BadData:
            sync.book.clear()  # the next push replaces the whole book anyway
            raise
        except UNUSABLE as exc:
            sync.book.clear()
            raise BadData(f"unusable book levels: {exc}") from exc

    def _resync_unless_waiting(self, sync: BookSync, why: str, detail: str) -> None:
        """Resync after bad data, unless a resubscription is already on its way."""
        if sync.state is not SyncState.RESYNCING:
            self.resync(sync.symbol, why, detail)

    def _count_unwanted(self, sync: BookSync | None) -> None:
        """A push for a symbol without a book here, or on a book channel it does not follow."""
        if sync is None:
            self._counters.unknown_symbols += 1
        else:
            self._counters.unknown_channels += 1

    def _decode_other_levels(self, raw: bytes) -> BooksPush:
        """The fast level shape was refused: decode this one frame with levels of any length.

        Only this frame: the next one tries the fast shape again. Raises
        ``msgspec.ValidationError`` when the frame is broken in some other way.
        """
        push = self._decode_lenient(raw).as_books_push()
        self.lenient_frames += 1
        if self.lenient_frames == 1:
            log.warning("OKX book levels are not [px, sz, ...] strings: parsed leniently")
        return push

    def _check_snapshot(self, sync: BookSync, bids: Any, asks: Any) -> None:
        """Parse every level of a whole book (BadData if one is refused); the band it was
        checked against goes to the book for the updates that follow."""
        sync.book.set_price_limits(*check_book(bids, asks, sync.guard))

    def refresh_limits(self) -> None:
        """Re-centre every symbol's band on its last good price (or book mid) and hand it to
        the book; the feed calls this about once a second."""
        for sync in self.syncs.values():
            guard = sync.guard
            book = sync.book
            guard.refresh(book.mid if sync.state is LIVE else float("nan"))
            book.set_price_limits(guard.lo, guard.hi)

    def _update_live(self, sync: BookSync, data: BookData, ts: int, recv_ns: int) -> None:
        """The same steps as the inline path of ``handle_books``, for replays and gaps."""
        book = sync.book
        if data.prevSeqId != book.seq_id:
            self._gap(sync, data.prevSeqId, book.seq_id)
            return
        if data.seqId == data.prevSeqId and not data.bids and not data.asks:
            return
        book.apply_named(data.bids, data.asks, data.seqId, ts)
        if data.checksum and self.verify_checksum and not self._checksum_ok(sync, data):
            return
        self._publish(sync, False, ts, recv_ns)

    def _on_books_slow(
        self, sync: BookSync, data: BookData, snapshot: bool, ts: int, recv_ns: int
    ) -> None:
        state = sync.state
        if snapshot:
            self._apply_snapshot(sync, data, ts, recv_ns)
        elif state is SyncState.LIVE:
            self._update_live(sync, data, ts, recv_ns)
        elif state is SyncState.BRIDGING:
            self._bridge(sync, data, ts, recv_ns)
        elif state is SyncState.BOOTSTRAPPING:
            sync.buffer.append(data)
            if len(sync.buffer) > MAX_BUFFERED:
                self.resync(sync.symbol, "gap", "too many updates buffered during REST bootstrap")
        elif state is SyncState.WAITING:
            self._start_bootstrap(sync, data)
        # RESYNCING: pushes of the old subscription; ignored until the subscribe ack

    def _apply_snapshot(self, sync: BookSync, data: BookData, ts: int, recv_ns: int) -> None:
        self._cancel_bootstrap(sync)
        bids = level_pairs(data.bids)
        asks = level_pairs(data.asks)
        self._check_snapshot(sync, bids, asks)
        sync.book.apply_snapshot(bids, asks, data.seqId, ts)
        sync.state = SyncState.LIVE
        if data.checksum and self.verify_checksum and not self._checksum_ok(sync, data):
            return
        if self._publish(sync, True, ts, recv_ns):
            self._mark_ready(sync)

    def _bridge(self, sync: BookSync, data: BookData, ts: int, recv_ns: int) -> None:
        """First update after a REST snapshot: drop what it holds, require the straddle."""
        if data.seqId <= sync.bridge_seq:
            return
        if data.prevSeqId > sync.bridge_seq:
            self._gap(sync, data.prevSeqId, sync.bridge_seq)
            return
        sync.state = SyncState.LIVE
        sync.book.apply_named(data.bids, data.asks, data.seqId, ts)
        if data.checksum and self.verify_checksum and not self._checksum_ok(sync, data):
            return
        self._publish(sync, False, ts, recv_ns)

    def _publish(self, sync: BookSync, snapshot: bool, ts: int, recv_ns: int) -> bool:
        """Publish ``BookChanged``; a crossed book is counted and resynced instead."""
        event = book_changed(sync.book, snapshot, ts, recv_ns)
        if event is None:
            self._crossed(sync, sync.book.best_bid_px, sync.book.best_ask_px)
            return False
        self._publish_event(sync.topic, event)
        return True

    # --- integrity failures ---------------------------------------------------------------

    def _checksum_ok(self, sync: BookSync, data: BookData) -> bool:
        local = sync.book.checksum()
        if local == data.checksum:
            return True
        self._checksum_failed(sync, data, local)
        return False

    def _checksum_failed(self, sync: BookSync, data: BookData, local: int) -> None:
        self._counters.checksum_failures += 1
        message = f"checksum {data.checksum} != local {local} at seqId {data.seqId}"
        self._report("checksum_failure", message, Severity.WARNING, sync.symbol)
        self.resync(sync.symbol, "checksum", message)

    def _gap(self, sync: BookSync, prev_seq: int, last: int) -> None:
        self._counters.gaps += 1
        message = f"prevSeqId {prev_seq} != last seqId {last}"
        self._report("gap", message, Severity.WARNING, sync.symbol)
        self.resync(sync.symbol, "gap", message)

    def _crossed(self, sync: BookSync, bid: float, ask: float) -> None:
        self._counters.crossed_books += 1
        message = f"crossed book: best bid {bid} >= best ask {ask}"
        self._report("crossed_book", message, Severity.WARNING, sync.symbol)
        if sync.channel == "books":
            self.resync(sync.symbol, "crossed", message)
        # books5/bbo-tbt: the next push replaces the book anyway

    def resync(self, symbol: str, why: str, detail: str = "") -> None:
        """Drop ``symbol``'s book and fetch it again, leaving every other book alone."""
        sync = self.syncs.get(symbol)
        if sync is None:
            return
        self._counters.resyncs += 1
        self._reset(sync)
        if self._resubscribe(sync.channel, symbol):
            sync.state = SyncState.RESYNCING
            sync.since = time.monotonic()
            how = "resubscribing"
        else:
            how = "bootstrapping from REST on the next update"
        text = f"resync after {why}: {how}" + (f" ({detail})" if detail else "")
        self._report("resync", text, Severity.WARNING, symbol)

    # --- subscriptions and connection life --------------------------------------------------

    def on_subscribed(self, channel: str, symbol: str) -> None:
        """The subscribe ack: pushes from here on belong to the new subscription."""
        sync = self.syncs.get(symbol)
        if sync is not None and sync.channel == channel and sync.state is SyncState.RESYNCING:
            sync.state = SyncState.WAITING

    def reset_all(self) -> None:
        """Connection opened or lost: every book is cleared and waits for a fresh start."""
        for sync in self.syncs.values():
            self._reset(sync)
            sync.retry_at = 0.0

    def check_stuck(self, now: float | None = None) -> None:
        """Re-request a resync whose subscribe ack never came (call about once a second)."""
        now = time.monotonic() if now is None else now
        for sync in self.syncs.values():
            if sync.state is SyncState.RESYNCING and now - sync.since > RESYNC_TIMEOUT_S:
                if self._resubscribe(sync.channel, sync.symbol):
                    sync.since = now
                else:
                    sync.state = SyncState.WAITING

    def close(self) -> None:
        for sync in self.syncs.values():
            self._cancel_bootstrap(sync)

    def _reset(self, sync: BookSync) -> None:
        self._cancel_bootstrap(sync)
        sync.book.clear()
        sync.state = SyncState.WAITING
        sync.bridge_seq = -1
        self._pending.add(sync.symbol)
        self.ready.clear()

    def _mark_ready(self, sync: BookSync) -> None:
        pending = self._pending
        if pending:
            pending.discard(sync.symbol)
            if not pending:
                self.ready.set()
