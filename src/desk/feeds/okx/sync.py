"""Where one OKX book stands with the wire, and the REST half of a bootstrap (PROTOCOLS.md A.5).

``OkxBookKeeper`` drives the states; this module holds the per-book record and the fetch loop
that finds a REST snapshot recent enough to bridge to the buffered stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Protocol

from desk.core.topics import market_data
from desk.feeds.okx.wire import BookData
from desk.feeds.validation import PriceGuard
from desk.market.book import OrderBook

MAX_FETCHES = 10
REFETCH_DELAY = 0.1


class RestBookLike(Protocol):
    """A REST book snapshot (``okx_rest.RestBook``): raw levels plus the seqId they are at."""

    @property
    def bids(self) -> list[list[str]]: ...
    @property
    def asks(self) -> list[list[str]]: ...
    @property
    def seq_id(self) -> int: ...
    @property
    def ts_ms(self) -> int: ...


FetchBook = Callable[[str], Awaitable[RestBookLike]]


class SyncState(Enum):
    """See ``okx_books``: WAITING -> LIVE, or WAITING -> BOOTSTRAPPING -> BRIDGING -> LIVE;
    any failure -> RESYNCING (or WAITING when no resubscription is possible)."""

    WAITING = "waiting"
    LIVE = "live"
    RESYNCING = "resyncing"
    BOOTSTRAPPING = "bootstrapping"
    BRIDGING = "bridging"


LIVE = SyncState.LIVE


class BookSync:
    """One symbol's book and where it stands with the wire."""

    __slots__ = (
        "book",
        "bridge_seq",
        "buffer",
        "channel",
        "guard",
        "retry_at",
        "since",
        "state",
        "symbol",
        "task",
        "topic",
    )

    def __init__(self, symbol: str, channel: str, book: OrderBook, guard: PriceGuard) -> None:
        self.symbol = symbol
        self.channel = channel
        self.book = book
        self.guard = guard  # the symbol's price band, shared with its trades and tickers
        self.topic = market_data(symbol)
        self.state = SyncState.WAITING
        self.buffer: list[BookData] = []  # updates held while the REST snapshot is fetched
        self.bridge_seq = -1  # seqId of the REST snapshot while BRIDGING
        self.task: asyncio.Task[None] | None = None  # the REST bootstrap in flight
        self.since = 0.0  # monotonic time the resubscription was sent
        self.retry_at = 0.0  # monotonic time before which no new bootstrap starts


async def fetch_current_snapshot(
    fetch: FetchBook, symbol: str, first_prev_seq: int, *, attempts: int = MAX_FETCHES
) -> RestBookLike:
    """Fetch the REST book until it is no older than the first buffered update.

    A snapshot with ``seqId < prevSeqId`` of the first buffered update could not be bridged
    (the updates between the two are lost), so it is fetched again, up to ``attempts`` times.
    """
    for attempt in range(attempts):
        snap = await fetch(symbol)
        if snap.seq_id >= first_prev_seq:
            return snap
        if attempt + 1 < attempts:
            await asyncio.sleep(REFETCH_DELAY)
    raise RuntimeError(
        f"REST book stayed behind the stream (seqId {snap.seq_id} < {first_prev_seq})"
    )
