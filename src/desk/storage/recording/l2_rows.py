"""``incremental_book_L2`` rows of one venue, built column-wise in the writer thread.

Each venue's decoder (:mod:`.okx_l2`, :mod:`.binance_l2`, :mod:`.coinbase_l2`) hands over a
*run*: the levels of one side of one message, as the tuples of prices and of amounts its msgspec
decoder produced (floats already), plus what every row of the run shares (symbol, times,
snapshot flag, side, sequence ids). A run costs a handful of list appends however many levels it
has; :meth:`L2Rows.tables` expands the shared values with ``numpy.repeat`` and turns each column
into an arrow array at once, so no Python object is made per row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import chain

import numpy as np
import pyarrow as pa

from desk.storage.recording.schema import BOOKS

BID, ASK = 0, 1
SIDES = pa.array(["bid", "ask"], pa.string())


class L2Rows:
    """The book rows of one venue in one batch, in the order they were received."""

    __slots__ = (
        "amounts",
        "counts",
        "exchange",
        "local_us",
        "prev_seq",
        "prices",
        "seq",
        "sides",
        "snapshot",
        "symbol_codes",
        "symbols",
        "ts_us",
    )

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self.prices: list[Sequence[float]] = []
        self.amounts: list[Sequence[float]] = []
        self.counts: list[int] = []
        self.symbols: dict[str, int] = {}
        self.symbol_codes: list[int] = []
        self.ts_us: list[int] = []
        self.local_us: list[int] = []
        self.snapshot: list[bool] = []
        self.sides: list[int] = []
        self.seq: list[int] = []
        self.prev_seq: list[int] = []

    def add(
        self,
        symbol: str,
        ts_us: int,
        local_us: int,
        snapshot: bool,
        side: int,
        prices: Sequence[float],
        amounts: Sequence[float],
        seq: int,
        prev_seq: int,
    ) -> None:
        """One run: ``prices[i]``/``amounts[i]`` are a level of ``side`` (``BID``/``ASK``)."""
        code = self.symbols.get(symbol)
        if code is None:
            code = self.symbols[symbol] = len(self.symbols)
        self.prices.append(prices)
        self.amounts.append(amounts)
        self.counts.append(len(prices))
        self.symbol_codes.append(code)
        self.ts_us.append(ts_us)
        self.local_us.append(local_us)
        self.snapshot.append(snapshot)
        self.sides.append(side)
        self.seq.append(seq)
        self.prev_seq.append(prev_seq)

    def __len__(self) -> int:
        return sum(self.counts)

    def tables(self, width_ns: int) -> Iterator[tuple[int, pa.Table]]:
        """``(bucket, table)`` per time bucket (``local_timestamp`` ns // ``width_ns``)."""
        total = len(self)
        if not total:
            return
        counts = np.array(self.counts, np.int64)

        def expand(values: list[int] | list[bool], dtype: type) -> np.ndarray:
            return np.repeat(np.array(values, dtype), counts)

        local = expand(self.local_us, np.int64)
        names = pa.array(list(self.symbols), pa.string())
        columns = [
            pa.repeat(pa.scalar(self.exchange, pa.string()), total),
            names.take(pa.array(expand(self.symbol_codes, np.int32))),
            pa.array(expand(self.ts_us, np.int64)),
            pa.array(local),
            pa.array(expand(self.snapshot, np.bool_)),
            SIDES.take(pa.array(expand(self.sides, np.int8))),
            pa.array(np.fromiter(chain.from_iterable(self.prices), np.float64, total)),
            pa.array(np.fromiter(chain.from_iterable(self.amounts), np.float64, total)),
            pa.array(expand(self.seq, np.int64)),
            pa.array(expand(self.prev_seq, np.int64)),
        ]
        table = pa.Table.from_arrays(columns, schema=BOOKS)
        buckets = local // (width_ns // 1_000)
        first = int(buckets[0])
        if int(buckets[-1]) == first and bool((buckets == first).all()):
            yield first, table
            return
        for bucket in np.unique(buckets):
            yield int(bucket), table.filter(pa.array(buckets == bucket))
