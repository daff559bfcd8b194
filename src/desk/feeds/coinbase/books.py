"""Keeping each Coinbase ``level2`` book in step with the wire (PROTOCOLS.md C, D.5).

``CoinbaseBookKeeper`` owns one ``OrderBook`` per product and where it stands:

``WAITING``    subscribed (or about to be); the snapshot has not come. An update now is a
               protocol break: the book is resynced.
``LIVE``       ``update`` events apply (``new_quantity`` is absolute, ``"0"`` removes a level).
``RESYNCING``  the book is cleared and ``level2`` of that product alone is unsubscribed and
               subscribed again (as soon as the send budget allows); updates are ignored until
               the fresh ``snapshot``.

Every snapshot replaces the book (no ghost levels), whatever the state. Breaks that resync one
book: a hole in ``sequence_num`` shown by an update of it (the feed checks the numbering, per
connection, and calls ``on_gap``), a crossed book, levels the checks refuse (``BadData``, from
``desk.feeds.validation`` and the book's own limits), an update before the snapshot. A broken
book never touches the others: every event of a message is applied or refused on its own.

Snapshots and updates over ``CAREFUL_BYTES`` have every price and size parsed; other updates
get the book's cheap checks (new prices within the symbol's band, sizes starting with a digit),
applied straight from the wire levels in one pass (``levels.apply_levels``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any

from desk.core.enums import Severity
from desk.core.events import BookChanged
from desk.core.topics import market_data
from desk.feeds.book_events import book_changed
from desk.feeds.coinbase.levels import RawLevel, apply_levels, split_levels
from desk.feeds.coinbase.symbols import VENUE
from desk.feeds.coinbase.wire import L2Event, L2Message
from desk.feeds.counters import FeedCounters
from desk.feeds.validation import BadData, PriceGuard, check_levels, level_mid
from desk.market.book import OrderBook

log = logging.getLogger(__name__)

RESYNC_TIMEOUT_S = 10.0
CAREFUL_BYTES = 4096
"""An update message larger than this gets every level parsed (updates are a few hundred bytes;
a frame carrying a 200 kB string cannot slip through the cheap checks)."""
_UNUSABLE = (ValueError, IndexError, TypeError, AttributeError)

Publish = Callable[[str, Any], None]
Report = Callable[[str, str, Severity, str], None]
Resubscribe = Callable[[list[str]], bool]
"""Unsubscribe and subscribe ``level2`` for these product ids; False when the budget is spent."""


class BookState(Enum):
    WAITING = "waiting"
    LIVE = "live"
    RESYNCING = "resyncing"


LIVE = BookState.LIVE


class ProductBook:
    """One product's book and where it stands with the wire."""

    __slots__ = ("book", "guard", "product_id", "send_due", "since", "state", "symbol", "topic")

    def __init__(self, product_id: str, symbol: str, guard: PriceGuard, venue: str) -> None:
        self.product_id = product_id
        self.symbol = symbol
        self.topic = market_data(symbol)
        self.book = OrderBook(symbol, venue=venue, keep_raw=True)
        self.guard = guard
        self.state = BookState.WAITING
        self.since = time.monotonic()  # when the current state began (for stuck resyncs)
        self.send_due = False  # a resubscription is owed (the send budget was spent)


class CoinbaseBookKeeper:
    """Applies ``l2_data`` messages to the right book and repairs a broken one (module doc)."""

    def __init__(
        self,
        products: Mapping[str, str],
        *,
        publish: Publish,
        counters: FeedCounters,
        report: Report,
        resubscribe: Resubscribe,
        guards: dict[str, PriceGuard] | None = None,
        price_band: float = 10.0,
        venue: str = VENUE,
    ) -> None:
        """``products``: Coinbase product id -> desk symbol, for every book to keep."""
        self.venue = venue
        guards = guards if guards is not None else {}
        for symbol in products.values():
            guards.setdefault(symbol, PriceGuard(price_band))
        self.by_product = {
            pid: ProductBook(pid, symbol, guards[symbol], venue) for pid, symbol in products.items()
        }
        self.books: dict[str, OrderBook] = {p.symbol: p.book for p in self.by_product.values()}
        self.ready = asyncio.Event()
        self._pending = set(self.by_product)
        if not self._pending:
            self.ready.set()
        self._publish_event = publish
        self._counters = counters
        self._report = report
        self._resubscribe = resubscribe

    # --- messages -------------------------------------------------------------------------

    def handle(self, msg: L2Message, size: int, ts: int, recv_ns: int) -> None:
        """Apply one ``l2_data`` message of ``size`` bytes sent at ``ts`` (ns).

        Each event is applied or refused on its own; the first refusal is raised afterwards as
        ``BadData`` (the feed counts it) once its book is resyncing. A live update of a message
        under ``CAREFUL_BYTES`` is applied inline (the hot path); the rest goes through
        ``_slow``.
        """
        seq = msg.sequence_num
        careful = size > CAREFUL_BYTES
        error: BadData | None = None
        by_product = self.by_product
        for event in msg.events:
            pb = by_product.get(event.product_id)
            if pb is None:
                self._counters.unknown_symbols += 1
                continue
            try:
                if careful or pb.state is not LIVE or event.type != "update":
                    self._slow(pb, event, careful, seq, ts, recv_ns)
                    continue
                book = pb.book
                apply_levels(book, event.updates, seq, ts)
                bid = book.best_bid_px  # NaN when empty; NaN >= x is False
                ask = book.best_ask_px
                if bid >= ask:
                    self._crossed(pb, bid, ask)
                    continue
                self._publish_event(
                    pb.topic,
                    BookChanged(
                        ts_exchange=ts,
                        ts_recv=recv_ns,
                        venue=self.venue,
                        symbol=pb.symbol,
                        seq_id=seq,
                        snapshot=False,
                        best_bid=bid,
                        best_ask=ask,
                    ),
                )
            except BadData as exc:
                self.resync([pb], f"bad {exc.kind}", str(exc))
                error = error or exc
            except _UNUSABLE as exc:
                self.resync([pb], "bad levels", str(exc))
                error = error or BadData(f"unusable book levels: {exc}")
        if error is not None:
            raise error

    def _slow(
        self, pb: ProductBook, event: L2Event, careful: bool, seq: int, ts: int, recv: int
    ) -> None:
        """Snapshots, updates to check level by level, updates of a book that is not live."""
        if event.type == "snapshot":
            self._snapshot(pb, event, seq, ts, recv)
        elif event.type != "update":
            log.debug("%s: l2_data event of unknown type %r", pb.symbol, event.type)
        elif pb.state is LIVE:
            bids, asks = split_levels(event.updates)
            if careful:
                check_levels(bids, pb.guard)
                check_levels(asks, pb.guard)
            pb.book.apply_update(bids, asks, seq, ts)
            self._publish(pb, False, ts, recv)
        elif pb.state is BookState.WAITING:
            self.resync([pb], "update before snapshot")
        # RESYNCING: the old subscription's tail, ignored until the snapshot

    def _snapshot(self, pb: ProductBook, event: L2Event, seq: int, ts: int, recv: int) -> None:
        bids, asks = split_levels(event.updates)
        self._check_snapshot(pb, bids, asks)
        pb.book.apply_snapshot(bids, asks, seq, ts)
        pb.state = LIVE
        pb.since = time.monotonic()
        pb.send_due = False
        if self._publish(pb, True, ts, recv):
            self._mark_ready(pb)

    def _check_snapshot(self, pb: ProductBook, bids: list[RawLevel], asks: list[RawLevel]) -> None:
        """Parse every level of a whole book, centring the band on it if there is none yet."""
        guard = pb.guard
        if not guard.armed:
            mid = level_mid(bids, asks)  # a median: one absurd level cannot move it
            probe = PriceGuard(guard.band)
            probe.arm(mid)
            check_levels(bids, probe)
            check_levels(asks, probe)
            guard.arm(mid)
        else:
            check_levels(bids, guard)
            check_levels(asks, guard)
        pb.book.set_price_limits(guard.lo, guard.hi)

    def _publish(self, pb: ProductBook, snapshot: bool, ts: int, recv_ns: int) -> bool:
        """Publish ``BookChanged``; a crossed book is counted and resynced instead."""
        event = book_changed(pb.book, snapshot, ts, recv_ns)
        if event is None:
            self._crossed(pb, pb.book.best_bid_px, pb.book.best_ask_px)
            return False
        self._publish_event(pb.topic, event)
        return True

    def _crossed(self, pb: ProductBook, bid: float, ask: float) -> None:
        self._counters.crossed_books += 1
        message = f"crossed book: best bid {bid} >= best ask {ask}"
        self._report("crossed_book", message, Severity.WARNING, pb.symbol)
        self.resync([pb], "crossed", message)

    # --- breaks -----------------------------------------------------------------------------

    def on_gap(self, product_ids: Iterable[str] | None, detail: str) -> None:
        """A hole in ``sequence_num``: resync the live books of ``product_ids`` (all if None).

        Books still waiting for their snapshot are left alone: the snapshot repairs them.
        """
        if product_ids is None:
            chosen = list(self.by_product.values())
        else:
            chosen = [
                self.by_product[p] for p in dict.fromkeys(product_ids) if p in self.by_product
            ]
        self.resync([pb for pb in chosen if pb.state is LIVE], "gap", detail)

    def resync(self, books: list[ProductBook], why: str, detail: str = "") -> None:
        """Drop these books and subscribe their ``level2`` again, leaving every other book alone."""
        books = [pb for pb in books if pb.state is not BookState.RESYNCING]
        if not books:
            return
        now = time.monotonic()
        for pb in books:
            self._counters.resyncs += 1
            self._reset(pb, BookState.RESYNCING, now)
            pb.send_due = True
        sent = self._send_due()
        how = "resubscribing" if sent else "resubscribing once the send budget allows"
        text = f"resync after {why}: {how}" + (f" ({detail})" if detail else "")
        for pb in books:
            self._report("resync", text, Severity.WARNING, pb.symbol)

    def resync_symbol(self, symbol: str, why: str, detail: str = "") -> None:
        """Resync the book of desk ``symbol`` (no-op for a symbol without a book)."""
        self.resync([pb for pb in self.by_product.values() if pb.symbol == symbol], why, detail)

    def _send_due(self) -> bool:
        due = [pb for pb in self.by_product.values() if pb.send_due]
        if not due:
            return True
        if not self._resubscribe([pb.product_id for pb in due]):
            return False
        now = time.monotonic()
        for pb in due:
            pb.send_due = False
            pb.since = now
        return True

    # --- connection life and housekeeping ---------------------------------------------------

    def reset_all(self) -> None:
        """Connection opened or lost: every book is cleared and waits for its snapshot."""
        now = time.monotonic()
        for pb in self.by_product.values():
            self._reset(pb, BookState.WAITING, now)

    def check_stuck(self, now: float | None = None) -> None:
        """Send owed resubscriptions; ask again for snapshots that never came (call ~1/s)."""
        now = time.monotonic() if now is None else now
        for pb in self.by_product.values():
            if pb.state is not LIVE and now - pb.since > RESYNC_TIMEOUT_S:
                pb.state = BookState.RESYNCING
                pb.send_due = True
        if not self._send_due():
            log.info("%s: resubscriptions held back by the send budget", self.venue)

    def refresh_limits(self) -> None:
        """Re-centre every product's price band on its last good price (or book mid) and hand
        it to the book; the feed calls this about once a second."""
        for pb in self.by_product.values():
            pb.guard.refresh(pb.book.mid if pb.state is LIVE else math.nan)
            pb.book.set_price_limits(pb.guard.lo, pb.guard.hi)

    def _reset(self, pb: ProductBook, state: BookState, now: float) -> None:
        pb.book.clear()
        pb.state = state
        pb.since = now
        pb.send_due = False
        self._pending.add(pb.product_id)
        self.ready.clear()

    def _mark_ready(self, pb: ProductBook) -> None:
        pending = self._pending
        if pending:
            pending.discard(pb.product_id)
            if not pending:
                self.ready.set()
