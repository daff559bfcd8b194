"""Parquet schemas of everything the recorder writes, and where each file lives.

Layout (hive partitions, UTC dates)::

    {root}/venue={venue}/kind={kind}/date={YYYY-MM-DD}/{HH}.parquet           a closed hour
    {root}/venue={venue}/kind={kind}/date={YYYY-MM-DD}/{HH}.part-*.parquet    the open hour
    {root}/venue={venue}/kind={kind}/date={YYYY-MM-DD}/.{name}.parquet.tmp    being written

Every ``*.parquet`` is finalised (written to a dot-prefixed ``.tmp``, fsynced, renamed), so a
reader takes every ``*.parquet`` of a partition and never sees a half-written file (pyarrow and
pandas skip dot files by themselves). With ``rotate: 1d`` the hour is ``00`` for the whole day.
Read one ``venue=X/kind=Y`` folder at a time: the kinds have different columns, and a file's
own ``venue`` column would clash with the ``venue=`` partition key of the root.

Times: ``*_ns`` / ``ts*`` columns are integer ns since the epoch; the book columns follow
Tardis' ``incremental_book_L2`` (``timestamp`` = exchange time, ``local_timestamp`` = receive
time, both µs).
"""

from __future__ import annotations

import pyarrow as pa

RAW = pa.schema(
    [
        ("recv_ns", pa.int64()),
        ("venue", pa.string()),
        ("conn", pa.string()),
        ("stream", pa.string()),
        ("channel", pa.string()),
        ("symbol", pa.string()),
        ("payload", pa.binary()),
    ]
)
TRADES = pa.schema(
    [
        ("venue", pa.string()),
        ("symbol", pa.string()),
        ("ts_exchange", pa.int64()),
        ("ts_recv", pa.int64()),
        ("trade_id", pa.string()),
        ("side", pa.string()),
        ("price", pa.float64()),
        ("size", pa.float64()),
    ]
)
BOOKS = pa.schema(
    [
        ("exchange", pa.string()),
        ("symbol", pa.string()),
        ("timestamp", pa.int64()),
        ("local_timestamp", pa.int64()),
        ("is_snapshot", pa.bool_()),
        ("side", pa.string()),
        ("price", pa.float64()),
        ("amount", pa.float64()),
        ("seq_id", pa.int64()),
        ("prev_seq_id", pa.int64()),
    ]
)
TICKERS = pa.schema(
    [
        ("venue", pa.string()),
        ("symbol", pa.string()),
        ("ts_exchange", pa.int64()),
        ("ts_recv", pa.int64()),
        ("last", pa.float64()),
        ("last_size", pa.float64()),
        ("bid", pa.float64()),
        ("bid_size", pa.float64()),
        ("ask", pa.float64()),
        ("ask_size", pa.float64()),
        ("open_24h", pa.float64()),
        ("high_24h", pa.float64()),
        ("low_24h", pa.float64()),
        ("volume_24h", pa.float64()),
        ("volume_quote_24h", pa.float64()),
    ]
)
CANDLES = pa.schema(
    [
        ("venue", pa.string()),
        ("symbol", pa.string()),
        ("timeframe", pa.string()),
        ("ts_exchange", pa.int64()),
        ("ts_recv", pa.int64()),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("quote_volume", pa.float64()),
        ("trades", pa.int64()),
    ]
)
FUNDING = pa.schema(
    [
        ("venue", pa.string()),
        ("symbol", pa.string()),
        ("ts_exchange", pa.int64()),
        ("ts_recv", pa.int64()),
        ("rate", pa.float64()),
        ("next_funding_ns", pa.int64()),
    ]
)
GAPS = pa.schema(
    [
        ("ts", pa.int64()),
        ("venue", pa.string()),
        ("conn", pa.string()),
        ("symbol", pa.string()),
        ("kind", pa.string()),
        ("detail", pa.string()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "raw": RAW,
    "trades": TRADES,
    "books": BOOKS,
    "tickers": TICKERS,
    "candles": CANDLES,
    "funding": FUNDING,
    "gaps": GAPS,
}
"""Every kind's schema; ``gaps`` is always written (gap markers of whatever is recorded)."""

TIME_COLUMNS: dict[str, tuple[str, int]] = {
    "raw": ("recv_ns", 1),
    "trades": ("ts_recv", 1),
    "books": ("local_timestamp", 1_000),
    "tickers": ("ts_recv", 1),
    "candles": ("ts_recv", 1),
    "funding": ("ts_recv", 1),
    "gaps": ("ts", 1),
}
"""Each kind's receive-time column and its factor to ns (coverage and partitioning use it)."""

SYMBOL_COLUMNS = {kind: "symbol" for kind in SCHEMAS}

GAP_KINDS = ("connect", "disconnect", "resync", "checksum", "gap", "dropped", "write_error")
"""Gap marker kinds: connection changes, book repairs, and rows the recorder lost itself."""

PART_MARK = ".part-"
FINAL_SUFFIX = ".parquet"
TMP_SUFFIX = ".parquet.tmp"


def venue_of(conn: str) -> str:
    """The venue of a connection name: ``okx#2`` -> ``okx``, ``binance~2`` (a handover's
    standby) -> ``binance``."""
    return conn.split("#", 1)[0].split("~", 1)[0]


def feed_of(conn: str) -> str:
    """The feed a connection belongs to: ``binance#2~2`` -> ``binance#2``."""
    return conn.split("~", 1)[0]
