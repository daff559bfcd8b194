"""A recording's Binance frames as one replayable timeline, and the REST depth at any point.

``load_binance(path, start_ns, end_ns, symbols)`` reads ``venue=binance/kind=raw`` and keeps:

* the combined-stream pushes (``{"stream":"btcusdt@depth@100ms","data":{...}}``) of the
  market streams, untouched, in ``recv_ns`` order; ``serverShutdown`` is left out (it was the
  recording session's own connection ageing, not market data);
* each event once: the standby connection of a planned reconnect (``binance~2``) recorded the
  same events as the active one, so a frame is kept only when its id (depth ``u``, trade ``t``,
  aggTrade ``a``, bookTicker ``u``, miniTicker its event time ``E``) was not kept before in its
  stream, and each stream's frames are put in id order (the two connections' copies interleave
  by receive time);
* the recorded REST answers (``rest:/api/v3/depth``, ``rest:/api/v3/exchangeInfo``).

Every frame up to ``end_ns`` is kept, also those before ``start_ns``: ``start`` is the index
the players begin at, and the frames before it rebuild the REST depth there.

``DepthBooks.depth(symbol, position, limit)`` answers ``GET /api/v3/depth`` at a replay
position: the last recorded REST snapshot received before it plus the recorded diffs since
(``u`` above its ``lastUpdateId``), with ``lastUpdateId`` the last applied ``u``. That is the
book the live feed held at that moment, so the feed's own procedure (buffer, snapshot, ``U``/
``u`` chaining, PROTOCOLS.md B.3) runs unchanged and finds no gap. With no snapshot before the
position the first one after it is answered (newer than the diffs sent, as on Binance).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from desk.sim.replay.files import RecordingError, read_raw

VENUE = "binance"
DEPTH_PATH = "/api/v3/depth"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
PUSH_START = b'{"stream":"'
MARKET_KINDS = ("depth@100ms", "depth", "trade", "aggTrade", "bookTicker", "miniTicker")
_STREAM_RE = re.compile(rb'^\{"stream":"([a-z0-9]+)@([A-Za-z0-9@]+)"')
_ID_RE = re.compile(rb'"(u|t|a)":(\d+)')
_TIME_ID_RE = re.compile(rb'"(E)":(\d+)')
"""The id of a stream whose events have no other: ``miniTicker``, one push a second."""
_TIME_IDS = frozenset({"miniTicker"})
_DIFF_RE = re.compile(rb'"U":(\d+),"u":(\d+)')
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


@dataclass
class BinanceTimeline:
    """Parallel lists, one entry per push, in replay order (see the module docstring)."""

    recv_ns: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # stream names: "btcusdt@depth@100ms"
    payloads: list[bytes] = field(default_factory=list)
    start: int = 0
    natives: dict[str, str] = field(default_factory=dict)  # "btcusdt" -> "BTC-USDT"
    rest: dict[str, list[tuple[int, str, bytes]]] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.payloads)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted(self.natives.values()))

    @property
    def stream_symbols(self) -> frozenset[str]:
        return frozenset(self.natives)

    @property
    def played(self) -> int:
        """Frames a full replay sends (from ``start``)."""
        return len(self.payloads) - self.start


def _desk_name(native: str, recorded: str) -> str:
    if recorded:
        return recorded
    for quote in ("usdt", "usdc", "fdusd", "btc", "eth", "eur", "usd"):
        if native.endswith(quote) and len(native) > len(quote):
            return f"{native[: -len(quote)].upper()}-{quote.upper()}"
    return native.upper()


def load_binance(
    path: str | Path,
    start_ns: int | None = None,
    end_ns: int | None = None,
    symbols: tuple[str, ...] | None = None,
) -> BinanceTimeline:
    """The Binance timeline of the recording at ``path``; ``RecordingError`` when none."""
    import pyarrow.compute as pc

    scan = read_raw(path, VENUE, None, end_ns)
    timeline = BinanceTimeline(skipped=scan.skipped)
    table = scan.table
    if table is None or table.num_rows == 0:
        raise RecordingError(f"{path}: the raw recording of {VENUE} holds no frames")
    if end_ns is not None:
        table = table.filter(pc.less_equal(table["recv_ns"], end_ns))
    table = table.take(pc.sort_indices(table, sort_keys=[("recv_ns", "ascending")]))
    wanted = set(symbols) if symbols else None
    seen: dict[str, set[int]] = {}
    ids: list[int | None] = []
    columns = [table[c].to_pylist() for c in ("recv_ns", "stream", "symbol", "payload")]
    for recv_ns, stream, symbol, payload in zip(*columns, strict=True):
        if payload is None:
            continue
        if wanted is not None and symbol and symbol not in wanted:
            continue
        if stream and stream.startswith("rest:"):
            timeline.rest.setdefault(stream[5:], []).append((recv_ns, symbol or "", payload))
            continue
        match = _STREAM_RE.match(payload)
        if match is None or match.group(2).decode() not in MARKET_KINDS:
            continue
        native = match.group(1).decode()
        name = _desk_name(native, symbol or "")
        if wanted is not None and name not in wanted:
            continue
        kind = match.group(2).decode()
        key = f"{native}@{kind}"
        found = (_TIME_ID_RE if kind in _TIME_IDS else _ID_RE).search(payload, match.end())
        event_id = None if found is None else int(found.group(2))
        if event_id is not None:
            known = seen.setdefault(key, set())
            if event_id in known:
                continue  # the same event from the other connection of a handover
            known.add(event_id)
        timeline.natives.setdefault(native, name)
        timeline.recv_ns.append(recv_ns)
        timeline.keys.append(key)
        timeline.payloads.append(payload)
        ids.append(event_id)
    _in_id_order(timeline, ids)
    if start_ns is not None:
        timeline.start = bisect_left(timeline.recv_ns, start_ns)
    if timeline.played <= 0:
        within = " for the symbols asked" if wanted else ""
        raise RecordingError(f"{path}: no Binance market-data frames in the range asked{within}")
    return timeline


def _in_id_order(timeline: BinanceTimeline, ids: list[int | None]) -> None:
    """Each stream's frames in event-id order, in the slots its frames hold: around a handover
    the two connections' frames interleave by receive time, and an event first seen on the
    new connection can come before the old connection's copy of the event before it."""
    slots: dict[str, list[int]] = {}
    for i, key in enumerate(timeline.keys):
        if ids[i] is not None:
            slots.setdefault(key, []).append(i)
    payloads = timeline.payloads
    for indices in slots.values():
        ordered = sorted(indices, key=lambda i: ids[i] or 0)
        if ordered != indices:
            moved = [payloads[i] for i in ordered]
            for slot, payload in zip(indices, moved, strict=True):
                payloads[slot] = payload


@dataclass
class _Cursor:
    """A book rebuilt up to ``position`` from the snapshot received at ``snapshot_ns``."""

    snapshot_ns: int
    position: int
    last_id: int
    bids: dict[str, str]
    asks: dict[str, str]


class DepthBooks:
    """The REST depth of each symbol at a replay position (see the module docstring)."""

    def __init__(self, timeline: BinanceTimeline) -> None:
        self.timeline = timeline
        self.snapshots: dict[str, list[tuple[int, bytes]]] = {}
        for recv_ns, symbol, payload in timeline.rest.get(DEPTH_PATH, ()):
            if symbol and payload.startswith(b'{"lastUpdateId"'):
                self.snapshots.setdefault(symbol, []).append((recv_ns, payload))
        self.diffs: dict[str, list[int]] = {}
        for i, key in enumerate(timeline.keys):
            native, kind = key.split("@", 1)
            if kind.startswith("depth"):
                self.diffs.setdefault(timeline.natives[native], []).append(i)
        self._cursors: dict[str, _Cursor] = {}

    def depth(self, symbol: str, position: int, limit: int) -> bytes | None:
        """``{"lastUpdateId":...,"bids":[...],"asks":[...]}`` after the frames before
        ``position``, or None when ``symbol`` has no recorded snapshot."""
        snaps = self.snapshots.get(symbol)
        if not snaps:
            return None
        times = [ns for ns, _ in snaps]
        at_ns = self.timeline.recv_ns[position - 1] if position > 0 else -1
        k = bisect_right(times, at_ns)
        if k == 0:  # none yet: the first one, newer than anything sent
            snapshot_ns, payload = snaps[0]
            position = 0
        else:
            snapshot_ns, payload = snaps[k - 1]
        cursor = self._cursors.get(symbol)
        if cursor is None or cursor.snapshot_ns != snapshot_ns or cursor.position > position:
            cursor = self._load(snapshot_ns, payload)
        self._advance(symbol, cursor, position)
        self._cursors[symbol] = cursor
        bids = sorted(cursor.bids.items(), key=lambda lv: -float(lv[0]))[:limit]
        asks = sorted(cursor.asks.items(), key=lambda lv: float(lv[0]))[:limit]
        body = {"lastUpdateId": cursor.last_id, "bids": bids, "asks": asks}
        return _encode(body)

    @staticmethod
    def _load(snapshot_ns: int, payload: bytes) -> _Cursor:
        snap: dict[str, Any] = _decode(payload)
        return _Cursor(
            snapshot_ns=snapshot_ns,
            position=0,
            last_id=int(snap["lastUpdateId"]),
            bids={p: q for p, q in snap.get("bids", ())},
            asks={p: q for p, q in snap.get("asks", ())},
        )

    def _advance(self, symbol: str, cursor: _Cursor, position: int) -> None:
        """Apply the diffs in ``[cursor.position, position)`` newer than the book."""
        diffs = self.diffs.get(symbol, [])
        payloads = self.timeline.payloads
        lo = bisect_left(diffs, cursor.position)
        hi = bisect_left(diffs, position)
        for i in diffs[lo:hi]:
            payload = payloads[i]
            ids = _DIFF_RE.search(payload)
            if ids is None or int(ids.group(2)) <= cursor.last_id:
                continue
            data = _decode(payload)["data"]
            for side, levels in (
                (cursor.bids, data.get("b", ())),
                (cursor.asks, data.get("a", ())),
            ):
                for price, qty in levels:
                    if float(qty) == 0.0:
                        side.pop(price, None)
                    else:
                        side[price] = qty
            cursor.last_id = int(ids.group(2))
        cursor.position = max(cursor.position, position)
