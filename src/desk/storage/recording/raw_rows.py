"""The ``raw`` rows of one batch, built column-wise in the writer thread.

Frames arrive as ``(conn, payload, recv_ns)`` tuples; ``zip(*frames)`` turns them into three
columns at C speed, and everything per frame after that runs in arrow's kernels: the partition
(venue of the connection, hour of the receive time) with numpy, and the ``channel`` and
``symbol`` columns with one RE2 ``extract_regex`` per venue over each frame's first bytes:

* OKX ``{"arg":{"channel":"books","instId":"BTC-USDT"},...}``;
* Binance ``{"stream":"btcusdt@depth@100ms","data":...}`` (channel ``depth@100ms``, symbol
  mapped to desk's ``BTC-USDT``);
* Coinbase ``{"channel":"l2_data",...,"events":[{"type":"update","product_id":"BTC-USD",...``.

A frame that says neither (a reply, a heartbeat without product) gets ``""``. The payload bytes
are kept untouched (a text frame as its UTF-8 bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from desk.storage.recording.schema import RAW, venue_of

HEAD_BYTES = 400
PATTERNS = {
    "okx": r'"channel":"(?P<channel>[^"]{1,40})"(?:,"instId":"(?P<symbol>[^"]{1,40})")?',
    "binance": r'^\{"stream":"(?P<symbol>[^"@]{1,40})@(?P<channel>[^"]{1,60})"',
    "coinbase": (
        r'(?s)^\{"channel":"(?P<channel>[^"]{1,32})"'
        r'(?:.{0,300}?"product_id":"(?P<symbol>[^"]{1,40})")?'
    ),
}
"""Where each venue's frames say their channel and symbol (``symbol`` may be absent)."""

SymbolOf = Callable[[str, str], str]  # (venue, symbol as the frame writes it) -> desk's name
REST = tuple[str, str, dict[str, str], bytes, int]  # venue, path, params, body, recv_ns


def frame_tables(
    frames: list[tuple[str, bytes | str, int]], width_ns: int, symbol_of: SymbolOf
) -> Iterator[tuple[str, int, pa.Table]]:
    """``(venue, bucket, table)`` per venue and time bucket (recv ns // ``width_ns``)."""
    if not frames:
        return
    conns, payloads, recvs = zip(*frames, strict=True)
    recv = np.array(recvs, np.int64)
    payload = pa.array(payloads, pa.binary())
    conn = pa.array(conns, pa.string()).dictionary_encode()
    names = conn.dictionary.to_pylist()
    venues = sorted({venue_of(name) for name in names})
    venue_of_conn = np.array([venues.index(venue_of(name)) for name in names], np.int64)
    key = (recv // width_ns) * len(venues) + venue_of_conn[conn.indices.to_numpy()]
    if bool((key == key[0]).all()):
        groups: list[tuple[int, Any]] = [(int(key[0]), None)]
    else:
        groups = [(int(k), pa.array(key == k)) for k in np.unique(key)]
    for k, mask in groups:
        bucket, venue = divmod(k, len(venues))
        name = venues[venue]
        c, p, r = (
            (conn, payload, pa.array(recv))
            if mask is None
            else (
                conn.filter(mask),
                payload.filter(mask),
                pa.array(recv[mask.to_numpy(zero_copy_only=False)]),
            )
        )
        channel, symbol = _channel_symbol(name, p, symbol_of)
        n = len(p)
        columns = [
            r,
            pa.repeat(pa.scalar(name, pa.string()), n),
            c.cast(pa.string()),
            pa.repeat(pa.scalar("ws", pa.string()), n),
            channel,
            symbol,
            p,
        ]
        yield name, bucket, pa.Table.from_arrays(columns, schema=RAW)


def _channel_symbol(
    venue: str, payload: pa.Array, symbol_of: SymbolOf
) -> tuple[pa.Array, pa.Array]:
    pattern = PATTERNS.get(venue)
    if pattern is None:
        empty = pa.repeat(pa.scalar("", pa.string()), len(payload))
        return empty, empty
    found = pc.extract_regex(pc.binary_slice(payload, 0, HEAD_BYTES), pattern)
    channel = _text(pc.struct_field(found, "channel"))
    symbol = _text(pc.struct_field(found, "symbol")).dictionary_encode()
    spelled = symbol.dictionary.to_pylist()
    mapped = [symbol_of(venue, s) if s else "" for s in spelled]
    if mapped != spelled:
        symbol = pa.DictionaryArray.from_arrays(symbol.indices, pa.array(mapped, pa.string()))
    return channel, symbol.cast(pa.string())


def _text(values: pa.Array) -> pa.Array:
    """Binary regex groups as text (``""`` where absent); bytes that are not UTF-8 are
    replaced, as the frame's own bytes stay in ``payload``."""
    values = values.fill_null(b"")
    try:
        return values.cast(pa.string())
    except pa.ArrowInvalid:
        texts = [v.decode(errors="replace") for v in values.to_pylist()]
        return pa.array(texts, pa.string())


def rest_columns(items: list[REST], symbol_of: SymbolOf) -> dict[str, list[Any]]:
    """REST replies as raw columns (``conn`` ``rest``, ``stream`` ``rest:{path}``)."""
    columns: dict[str, list[Any]] = {name: [] for name in RAW.names}
    for venue, path, params, body, recv_ns in items:
        spelled = params.get("instId") or params.get("symbol") or params.get("product_id", "")
        columns["recv_ns"].append(recv_ns)
        columns["venue"].append(venue)
        columns["conn"].append("rest")
        columns["stream"].append(f"rest:{path}")
        columns["channel"].append("")
        columns["symbol"].append(symbol_of(venue, spelled) if spelled else "")
        columns["payload"].append(body)
    return columns
