"""The REST half of an OKX book's life (PROTOCOLS.md A.5): when the first ``books`` message is
an update (OKX has announced the end of the WS snapshot), the keeper buffers updates while
``GET /api/v5/market/books`` is fetched, applies that snapshot and bridges the buffer onto it.

``RestBootstrap`` is mixed into ``OkxBookKeeper``, whose state (syncs, reporting, publishing) it
uses; the venue's REST book is checked like any snapshot and refused the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from desk.core.enums import Severity
from desk.feeds.okx.sync import BookSync, FetchBook, RestBookLike, SyncState, fetch_current_snapshot
from desk.feeds.okx.wire import BookData

log = logging.getLogger("desk.feeds.okx.books")

NS_PER_MS = 1_000_000
BOOTSTRAP_RETRY_S = 2.0
UNUSABLE = (ValueError, IndexError, TypeError, AttributeError)
"""What unusable levels raise (``BadData`` is a ``ValueError``)."""


class RestBootstrap:
    """Bootstraps a book from REST and bridges the buffered updates (see the module doc)."""

    if TYPE_CHECKING:  # provided by OkxBookKeeper
        _fetch_book: FetchBook | None
        _reset: Callable[[BookSync], None]
        _report: Callable[[str, str, Severity, str], None]
        _check_snapshot: Callable[[BookSync, Any, Any], None]
        _publish: Callable[[BookSync, bool, int, int], bool]
        _mark_ready: Callable[[BookSync], None]
        _on_books_slow: Callable[[BookSync, BookData, bool, int, int], None]

    def _start_bootstrap(self, sync: BookSync, first: BookData) -> None:
        if self._fetch_book is None or time.monotonic() < sync.retry_at:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # used without a loop (a replay, a benchmark): nothing to await
            sync.retry_at = time.monotonic() + BOOTSTRAP_RETRY_S
            log.warning("%s: no event loop to bootstrap the book from REST", sync.symbol)
            return
        sync.state = SyncState.BOOTSTRAPPING
        sync.buffer = [first]
        sync.task = loop.create_task(self._bootstrap(sync), name=f"bootstrap-{sync.symbol}")

    def _cancel_bootstrap(self, sync: BookSync) -> None:
        task, sync.task = sync.task, None
        if task is not None and not task.done() and task is not _current_task():
            task.cancel()
        sync.buffer = []

    async def _bootstrap(self, sync: BookSync) -> None:
        assert self._fetch_book is not None
        try:
            snap = await fetch_current_snapshot(
                self._fetch_book, sync.symbol, sync.buffer[0].prevSeqId
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._reset(sync)
            sync.retry_at = time.monotonic() + BOOTSTRAP_RETRY_S
            self._report("resync", f"REST bootstrap failed: {exc}", Severity.WARNING, sync.symbol)
            return
        sync.task = None
        if sync.state is not SyncState.BOOTSTRAPPING:
            return
        try:
            self._apply_rest_snapshot(sync, snap)
        except UNUSABLE as exc:  # BadData included: the venue's REST book is refused too
            self._reset(sync)
            sync.retry_at = time.monotonic() + BOOTSTRAP_RETRY_S
            self._report("resync", f"REST book refused: {exc}", Severity.WARNING, sync.symbol)

    def _apply_rest_snapshot(self, sync: BookSync, snap: RestBookLike) -> None:
        buffered, sync.buffer = sync.buffer, []
        ts = snap.ts_ms * NS_PER_MS
        recv_ns = time.time_ns()
        self._check_snapshot(sync, snap.bids, snap.asks)
        sync.book.apply_snapshot(snap.bids, snap.asks, snap.seq_id, ts)
        sync.state = SyncState.BRIDGING
        sync.bridge_seq = snap.seq_id
        if not self._publish(sync, True, ts, recv_ns):
            return
        self._mark_ready(sync)
        for data in buffered:
            if sync.state is not SyncState.BRIDGING and sync.state is not SyncState.LIVE:
                break  # the replay found a gap and resynced
            self._on_books_slow(sync, data, False, data.ts * NS_PER_MS, recv_ns)


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
