"""What the recorder buffered, as one arrow table per (venue, kind, date, hour) partition.

Runs in the writer thread. Raw frames keep their bytes untouched and get their channel and
symbol column-wise (:mod:`.raw_rows`); every venue's book frames become ``incremental_book_L2``
rows in one schema (:mod:`.okx_l2`, :mod:`.binance_l2`, :mod:`.coinbase_l2`, built by
:mod:`.l2_rows`), frames and REST book snapshots in the order they were received; trades,
tickers and closed candles come from the bus events as the feed normalised them.

:class:`Normaliser` lives as long as the recorder and is only used by its (one) writer thread:
it keeps what spans batches (Coinbase's last ``sequence_num`` per connection) and the symbol
names (Binance's ``BTCUSDT`` -> desk's ``BTC-USDT``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from desk.core.events import Candle, Ticker, Trade
from desk.feeds.binance.symbols import split_native
from desk.feeds.coinbase.symbols import to_desk as coinbase_desk
from desk.storage.recording import binance_l2, coinbase_l2, okx_l2
from desk.storage.recording.l2_rows import L2Rows
from desk.storage.recording.raw_rows import REST, frame_tables, rest_columns
from desk.storage.recording.schema import SCHEMAS, venue_of

NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
_OKX_ARG = re.compile(rb'"channel":"([^"]{1,40})"')
_BINANCE_STREAM = b'{"stream":"'
_COINBASE_L2 = b'{"channel":"l2_data"'

Key = tuple[str, str, str, str]  # venue, kind, date, hour


@dataclass
class Batch:
    """One flush's worth of buffered items (taken from the recorder's queues on the loop)."""

    frames: list[tuple[str, bytes | str, int]] = field(default_factory=list)
    rest: list[REST] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    gaps: list[tuple[int, str, str, str, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames) + len(self.rest) + len(self.events) + len(self.gaps)


def partition_of(ns: int, rotate: str) -> tuple[str, str]:
    """The UTC (date, hour) file a receive time belongs to (hour ``00`` with daily files)."""
    stamp = datetime.fromtimestamp(ns / 1e9, UTC)
    return stamp.strftime("%Y-%m-%d"), ("00" if rotate == "1d" else stamp.strftime("%H"))


class _Split:
    """Rows of one kind grouped by partition; the bucket of a time is computed once per
    hour/day seen, not once per row."""

    def __init__(self, kind: str, rotate: str) -> None:
        self.kind = kind
        self.rotate = rotate
        self.width = NS_PER_DAY if rotate == "1d" else NS_PER_HOUR
        self.rows: dict[Key, dict[str, list[Any]]] = {}
        self._keys: dict[tuple[str, int], Key] = {}
        self.names = SCHEMAS[kind].names

    def key(self, venue: str, bucket: int) -> Key:
        key = self._keys.get((venue, bucket))
        if key is None:
            date, hour = partition_of(bucket * self.width, self.rotate)
            key = self._keys[(venue, bucket)] = (venue, self.kind, date, hour)
        return key

    def columns(self, venue: str, ns: int) -> dict[str, list[Any]]:
        key = self.key(venue, ns // self.width)
        columns = self.rows.get(key)
        if columns is None:
            columns = self.rows[key] = {name: [] for name in self.names}
        return columns

    def tables(self) -> Iterable[tuple[Key, pa.Table]]:
        schema = SCHEMAS[self.kind]
        for key, columns in self.rows.items():
            if columns[self.names[0]]:
                yield key, pa.table(columns, schema=schema)


class Normaliser:
    """Builds a batch's tables (module docstring); ``kinds`` are the configured ones."""

    def __init__(self, kinds: frozenset[str], rotate: str) -> None:
        self.kinds = kinds
        self.rotate = rotate
        self.width = NS_PER_DAY if rotate == "1d" else NS_PER_HOUR
        self.sequences = coinbase_l2.Sequences()
        self.binance_names: dict[str, str] = {}  # BTCUSDT -> BTC-USDT

    def know_symbols(self, natives: Mapping[str, str]) -> None:
        """Binance native names the feeds use (``{"BTCUSDT": "BTC-USDT"}``)."""
        self.binance_names.update({n.upper(): s for n, s in natives.items()})

    def symbol_of(self, venue: str, spelled: str) -> str:
        """desk's name of a symbol as a venue's frame or request spells it."""
        if venue == "binance":
            upper = spelled.upper()
            known = self.binance_names.get(upper)
            if known is None:
                try:
                    known = "-".join(split_native(upper))
                except ValueError:
                    known = upper
                self.binance_names[upper] = known
            return known
        if venue == "coinbase":
            return coinbase_desk(spelled)
        return spelled

    def build(self, batch: Batch) -> list[tuple[Key, pa.Table]]:
        """Every partition's table for this batch (the configured kinds; gaps always)."""
        splits = {kind: _Split(kind, self.rotate) for kind in (*self.kinds, "gaps")}
        out: list[tuple[Key, pa.Table]] = []
        if "raw" in self.kinds:
            out.extend(self._raw(batch, splits["raw"]))
        if "books" in self.kinds:
            books = splits["books"]
            for venue, rows in self._books(batch).items():
                out.extend((books.key(venue, b), t) for b, t in rows.tables(self.width))
        _add_events(batch.events, splits)
        gaps = splits["gaps"]
        names = gaps.names
        for gap in batch.gaps:
            cols = gaps.columns(gap[1], gap[0])
            for name, value in zip(names, gap, strict=True):
                cols[name].append(value)
        for kind, split in splits.items():
            if kind not in ("raw", "books"):
                out.extend(split.tables())
        return out

    def _raw(self, batch: Batch, split: _Split) -> list[tuple[Key, pa.Table]]:
        parts: dict[Key, list[pa.Table]] = {}
        for venue, bucket, table in frame_tables(batch.frames, self.width, self.symbol_of):
            parts.setdefault(split.key(venue, bucket), []).append(table)
        for item in batch.rest:
            cols = split.columns(item[0], item[4])
            for name, values in rest_columns([item], self.symbol_of).items():
                cols[name].extend(values)
        for key, table in split.tables():
            parts.setdefault(key, []).append(table)
        return [(k, t[0] if len(t) == 1 else pa.concat_tables(t)) for k, t in parts.items()]

    def _books(self, batch: Batch) -> dict[str, L2Rows]:
        """Book rows per venue, WebSocket frames and REST snapshots in receive order."""
        rows: dict[str, L2Rows] = {}
        venues: dict[str, str] = {}
        rest = [r for r in batch.rest if _is_book_reply(r)]
        r = 0
        for conn, payload, recv_ns in batch.frames:
            while r < len(rest) and rest[r][4] <= recv_ns:
                self._rest_book(rows, rest[r])
                r += 1
            venue = venues.get(conn)
            if venue is None:
                venue = venues[conn] = venue_of(conn)
            data = payload.encode() if type(payload) is str else payload
            if venue == "okx":
                match = _OKX_ARG.search(data, 0, 60)
                if match is not None and match.group(1) in okx_l2.BOOK_CHANNELS:
                    okx_l2.add_push(_rows(rows, venue), data, recv_ns)
            elif venue == "binance":
                if data.startswith(_BINANCE_STREAM):
                    end = data.find(b'"', 11, 111)
                    stream = data[11:end]
                    if end > 0 and binance_l2.is_depth_stream(stream):
                        binance_l2.add_frame(
                            _rows(rows, venue), data, stream, recv_ns, self._binance_name
                        )
            elif venue == "coinbase":
                if data.startswith(_COINBASE_L2):
                    coinbase_l2.add_message(_rows(rows, venue), self.sequences, conn, data, recv_ns)
                else:
                    coinbase_l2.note_sequence(self.sequences, conn, data)
        for item in rest[r:]:
            self._rest_book(rows, item)
        return rows

    def _binance_name(self, native: str) -> str:
        return self.symbol_of("binance", native)

    def _rest_book(self, rows: dict[str, L2Rows], item: REST) -> None:
        venue, _path, params, body, recv_ns = item
        if venue == "okx":
            okx_l2.add_rest_book(_rows(rows, venue), params["instId"], body, recv_ns)
        else:
            binance_l2.add_rest_depth(
                _rows(rows, venue), params["symbol"], body, recv_ns, self._binance_name
            )


def _is_book_reply(item: REST) -> bool:
    venue, path, params = item[0], item[1], item[2]
    if venue == "okx":
        return path == okx_l2.BOOKS_PATH and bool(params.get("instId"))
    return venue == "binance" and path == binance_l2.DEPTH_PATH and bool(params.get("symbol"))


def _rows(rows: dict[str, L2Rows], venue: str) -> L2Rows:
    found = rows.get(venue)
    if found is None:
        found = rows[venue] = L2Rows(venue)
    return found


def _add_events(events: list[Any], splits: dict[str, _Split]) -> None:
    trades, tickers, candles = splits.get("trades"), splits.get("tickers"), splits.get("candles")
    for event in events:
        kind = type(event)
        if kind is Trade and trades is not None:
            cols = trades.columns(event.venue, event.ts_recv)
            cols["venue"].append(event.venue)
            cols["symbol"].append(event.symbol)
            cols["ts_exchange"].append(event.ts_exchange)
            cols["ts_recv"].append(event.ts_recv)
            cols["trade_id"].append(event.trade_id)
            cols["side"].append(str(event.side))
            cols["price"].append(event.price)
            cols["size"].append(event.size)
        elif kind is Ticker and tickers is not None:
            cols = tickers.columns(event.venue, event.ts_recv)
            for name in tickers.names:
                cols[name].append(getattr(event, name))
        elif kind is Candle and candles is not None and event.closed:
            cols = candles.columns(event.venue, event.ts_recv)
            for name in candles.names:
                cols[name].append(getattr(event, name))


def build_tables(batch: Batch, kinds: frozenset[str], rotate: str) -> list[tuple[Key, pa.Table]]:
    """One batch's tables with a fresh :class:`Normaliser` (tests and one-off use)."""
    return Normaliser(kinds, rotate).build(batch)
