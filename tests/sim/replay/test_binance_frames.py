"""The Binance timeline on hand-made frames: a handover's two connections give each event once
and in id order, and the REST depth at a position is the recorded snapshot plus the diffs."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from desk.sim.replay.binance_frames import DepthBooks, load_binance

DAY_NS = 1_764_806_400 * 10**9  # 2025-12-04T00:00Z


def diff(first: int, last: int, bid: str, qty: str) -> bytes:
    data = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": first, "u": last, "b": [[bid, qty]]}
    data["a"] = []
    return json.dumps(
        {"stream": "btcusdt@depth@100ms", "data": data}, separators=(",", ":")
    ).encode()


def write(root: Path, rows: list[tuple[int, str, str, bytes]]) -> None:
    folder = root / "venue=binance" / "kind=raw" / "date=2025-12-04"
    folder.mkdir(parents=True)
    table = pa.table(
        {
            "recv_ns": pa.array([DAY_NS + ns for ns, *_ in rows], pa.int64()),
            "venue": ["binance"] * len(rows),
            "conn": [conn for _, conn, _, _ in rows],
            "stream": [stream for _, _, stream, _ in rows],
            "channel": [""] * len(rows),
            "symbol": ["BTC-USDT"] * len(rows),
            "payload": pa.array([p for *_, p in rows], pa.binary()),
        }
    )
    pq.write_table(table, folder / "00.parquet")


def test_a_handover_gives_each_event_once_in_order_and_depth_chains_on(tmp_path: Path) -> None:
    snapshot = {"lastUpdateId": 100, "bids": [["10.0", "1"], ["9.0", "1"]], "asks": [["11.0", "1"]]}
    write(
        tmp_path,
        [
            (0, "rest", "rest:/api/v3/depth", msgspec.json.encode(snapshot)),
            (10, "binance", "ws", diff(101, 101, "9.5", "2")),
            (25, "binance~2", "ws", diff(103, 103, "9.0", "0")),  # the new one ran ahead
            (30, "binance", "ws", diff(102, 102, "9.7", "3")),
            (35, "binance", "ws", diff(103, 103, "9.0", "0")),  # the same event, again
            (40, "binance~2", "ws", diff(104, 104, "9.9", "4")),
        ],
    )
    timeline = load_binance(tmp_path)
    chain = [json.loads(p)["data"]["u"] for p in timeline.payloads]
    assert chain == [101, 102, 103, 104]
    assert timeline.symbols == ("BTC-USDT",) and timeline.natives == {"btcusdt": "BTC-USDT"}

    books = DepthBooks(timeline)
    depth = json.loads(books.depth("BTC-USDT", 4, 100) or b"{}")
    assert depth["lastUpdateId"] == 104
    assert depth["bids"] == [["10.0", "1"], ["9.9", "4"], ["9.7", "3"], ["9.5", "2"]]
    assert depth["asks"] == [["11.0", "1"]]
    early = json.loads(books.depth("BTC-USDT", 2, 1) or b"{}")  # back in time, one level
    assert early == {"lastUpdateId": 102, "bids": [["10.0", "1"]], "asks": [["11.0", "1"]]}

    later = load_binance(tmp_path, start_ns=DAY_NS + 31)
    assert later.start == 3 and later.played == 1  # only frames from --from are played
