"""A recording's OKX frames as one replayable timeline, filtered and ordered.

``load_timeline(path, start_ns, end_ns, symbols)`` reads ``venue=okx/kind=raw`` and keeps:

* the pushes (``stream == "ws"``, frames that start with ``{"arg"``; acks, errors and ``pong``
  are the server's answers to the recording session's own requests, not market data), in
  ``recv_ns`` order (ties keep the file order);
* each symbol from ``start_ns`` with a ``books`` snapshot of the book at that moment,
  synthesised from the last recorded snapshot before it and the updates since
  (:mod:`desk.sim.replay.books`); when the recording has no snapshot before ``start_ns`` (or
  no ``start_ns`` is given) from its first book snapshot after it (``books``, else the first
  ``books5``/``bbo-tbt`` push), so a replay never begins in the middle of a book; a symbol
  with no book at all starts at ``start_ns``;
* of a (channel, symbol) stream recorded on several connections (``okx``, ``okx#2``), only the
  first connection's frames, so no push is replayed twice;
* the recorded REST answers (``stream == "rest:/api/v5/..."``), per path, for the server's REST.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from desk.sim.replay.books import SNAPSHOT, rebuild, snapshot_frame
from desk.sim.replay.files import RecordingError, read_raw

VENUE = "okx"
PUSH_START = b'{"arg"'
SNAPSHOT_CHANNELS = ("books5", "bbo-tbt")
_ARG_RE = re.compile(rb'"channel":"([^"]+)","instId":"([^"]+)"')

StreamKey = tuple[str, str]  # (channel, instId)


@dataclass
class Timeline:
    """Parallel lists, one entry per push, in replay order."""

    recv_ns: list[int] = field(default_factory=list)
    keys: list[StreamKey] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    rest: dict[str, list[tuple[int, str, bytes]]] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.payloads)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({symbol for _channel, symbol in set(self.keys)}))

    @property
    def streams(self) -> frozenset[StreamKey]:
        return frozenset(self.keys)

    def rest_answer(self, path: str, symbol: str, before_ns: int | None) -> bytes | None:
        """The last recorded answer of ``path`` (for ``symbol`` when set) at or before
        ``before_ns`` (None: the first one)."""
        answers = [a for a in self.rest.get(path, ()) if not symbol or a[1] in ("", symbol)]
        if not answers:
            return None
        if before_ns is None:
            return answers[0][2]
        i = bisect_right([a[0] for a in answers], before_ns)
        return answers[max(i - 1, 0)][2]


def _key_of(channel: str, symbol: str, payload: bytes) -> StreamKey | None:
    if channel and symbol:
        return channel, symbol
    match = _ARG_RE.search(payload, 0, 200)
    if match is None:
        return None
    return match.group(1).decode(), match.group(2).decode()


def load_timeline(
    path: str | Path,
    start_ns: int | None = None,
    end_ns: int | None = None,
    symbols: Iterable[str] | None = None,
) -> Timeline:
    """Read and order the OKX pushes under ``path`` (see the module docstring)."""
    import pyarrow.compute as pc

    scan = read_raw(path, VENUE, None, end_ns)  # earlier frames: the book at start_ns
    timeline = Timeline(skipped=scan.skipped, files=scan.files)
    table = scan.table
    if table is None or table.num_rows == 0:
        raise RecordingError(f"{path}: the raw recording of {VENUE} holds no frames")
    if end_ns is not None:
        table = table.filter(pc.less_equal(table["recv_ns"], end_ns))
    table = table.take(pc.sort_indices(table, sort_keys=[("recv_ns", "ascending")]))
    wanted = set(symbols) if symbols else None
    frames: list[Frame] = []
    owner: dict[StreamKey, str] = {}
    columns = [table[name].to_pylist() for name in ("recv_ns", "conn", "stream", "channel")]
    symbol_column = table["symbol"].to_pylist()
    payload_column = table["payload"].to_pylist()
    for recv_ns, conn, stream, channel, symbol, payload in zip(
        *columns, symbol_column, payload_column, strict=True
    ):
        if payload is None:
            continue
        if stream and stream.startswith("rest:"):
            timeline.rest.setdefault(stream[5:], []).append((recv_ns, symbol or "", payload))
            continue
        if not payload.startswith(PUSH_START):
            continue
        key = _key_of(channel or "", symbol or "", payload)
        if key is None or (wanted is not None and key[1] not in wanted):
            continue
        if owner.setdefault(key, conn or "") != (conn or ""):
            continue  # the same stream on a second connection: replay it once
        frames.append((recv_ns, key, payload))
    frames, starts = _starts(frames, start_ns)
    for recv_ns, key, payload in frames:
        if recv_ns < starts.get(key[1], recv_ns):
            continue
        timeline.recv_ns.append(recv_ns)
        timeline.keys.append(key)
        timeline.payloads.append(payload)
    if not timeline.payloads:
        within = " for the symbols asked" if wanted else ""
        raise RecordingError(f"{path}: no OKX market-data frames in the range asked{within}")
    return timeline


Frame = tuple[int, StreamKey, bytes]


def _starts(frames: list[Frame], start_ns: int | None) -> tuple[list[Frame], dict[str, int]]:
    """The frames from ``start_ns`` on (with synthesised snapshots) and where each symbol
    starts (module docstring)."""
    if start_ns is None:
        return frames, _book_starts(frames)
    before = [f for f in frames if f[0] < start_ns]
    after = [f for f in frames if f[0] >= start_ns]
    if not after:
        return [], {}
    starts = _book_starts(after)
    books: dict[str, list[bytes]] = {}
    for _ns, (channel, symbol), payload in before:
        if channel != "books":
            continue
        if SNAPSHOT in payload[:200]:
            books[symbol] = [payload]
        elif symbol in books:
            books[symbol].append(payload)
    synthesised = [
        (start_ns, ("books", symbol), snapshot_frame(symbol, rebuild(payloads)))
        for symbol, payloads in sorted(books.items())
    ]
    for symbol in books:
        starts[symbol] = start_ns
    return synthesised + after, starts


def _book_starts(frames: list[Frame]) -> dict[str, int]:
    """Per symbol, the receive time of its first book snapshot (``books`` preferred)."""
    books: dict[str, int] = {}
    others: dict[str, int] = {}
    for recv_ns, (channel, symbol), payload in frames:
        if channel == "books":
            if symbol not in books and SNAPSHOT in payload[:120]:
                books[symbol] = recv_ns
        elif channel in SNAPSHOT_CHANNELS and symbol not in others:
            others[symbol] = recv_ns
    return {**others, **books}


def recorded_symbols(
    path: str | Path, start_ns: int | None = None, end_ns: int | None = None
) -> tuple[tuple[str, ...], list[tuple[Path, str]]]:
    """The instruments with OKX pushes under ``path`` (reading two columns only), and the files
    skipped; ``RecordingError`` when there is no readable raw recording."""
    import pyarrow.compute as pc

    from desk.sim.replay.files import list_files, read_tables

    files = list_files(path, "raw", VENUE)
    if not files:
        read_raw(path, VENUE)  # raises the "no raw recording" error
    scan = read_tables(files, ("recv_ns", "stream", "symbol"), start_ns, end_ns)
    if scan.table is None:
        read_raw(path, VENUE, start_ns, end_ns)  # raises, naming the unreadable files
        return (), scan.skipped
    table = scan.table
    mask = pc.equal(table["stream"], "ws")
    if start_ns is not None:
        mask = pc.and_(mask, pc.greater_equal(table["recv_ns"], start_ns))
    if end_ns is not None:
        mask = pc.and_(mask, pc.less_equal(table["recv_ns"], end_ns))
    symbols = pc.unique(table.filter(mask)["symbol"]).to_pylist()
    return tuple(sorted(s for s in symbols if s)), scan.skipped
