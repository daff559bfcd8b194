"""A recording with ``miniTicker`` frames replays them on their own stream, each push once.

The feed subscribes ``<s>@miniTicker`` with the tickers, so a replay that refused the stream
would refuse the feed's whole connection, and one that dropped its frames would leave Binance's
24 h figures empty in every replay.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from desk.sim.replay.binance_frames import load_binance
from desk.sim.replay.binance_server import BinanceReplayServer
from desk.sim.replay.config import ReplayConfig
from tests.sim.binance.client import open_ws, recv_json

DAY_NS = 1_764_806_400 * 10**9  # 2025-12-04T00:00Z
E0 = DAY_NS // 1_000_000


def frame(stream: str, data: dict[str, object]) -> bytes:
    return json.dumps({"stream": stream, "data": data}, separators=(",", ":")).encode()


def mini(second: int, close: str) -> bytes:
    data = {"e": "24hrMiniTicker", "E": E0 + 1000 * second, "s": "BTCUSDT", "c": close}
    data |= {"o": "60000.00000000", "h": "60500.00000000", "l": "59500.00000000"}
    data |= {"v": "1234.50000000", "q": "74070000.00000000"}
    return frame("btcusdt@miniTicker", data)


def trade(trade_id: int) -> bytes:
    data = {"e": "trade", "E": E0, "s": "BTCUSDT", "t": trade_id, "p": "60010.00000000"}
    data |= {"q": "0.10000000", "T": E0, "m": True, "M": True}
    return frame("btcusdt@trade", data)


def write(root: Path, rows: list[tuple[int, str, bytes]]) -> None:
    folder = root / "venue=binance" / "kind=raw" / "date=2025-12-04"
    folder.mkdir(parents=True)
    table = pa.table(
        {
            "recv_ns": pa.array([DAY_NS + ns for ns, _, _ in rows], pa.int64()),
            "venue": ["binance"] * len(rows),
            "conn": [conn for _, conn, _ in rows],
            "stream": ["ws"] * len(rows),
            "channel": [""] * len(rows),
            "symbol": ["BTC-USDT"] * len(rows),
            "payload": pa.array([p for *_, p in rows], pa.binary()),
        }
    )
    pq.write_table(table, folder / "00.parquet")


def recording(root: Path) -> list[bytes]:
    """Three pushes and a trade; a handover's second connection recorded two pushes again,
    one of them before the first connection's copy of the push before it."""
    pushes = [mini(1, "60010.00000000"), mini(2, "60020.00000000"), mini(3, "60030.00000000")]
    write(
        root,
        [
            (10, "binance", pushes[0]),
            (20, "binance", trade(7)),
            (30, "binance~2", pushes[2]),  # the new connection ran ahead
            (40, "binance", pushes[1]),
            (50, "binance", pushes[2]),  # the same push, again
        ],
    )
    return pushes


def test_each_push_is_kept_once_in_time_order(tmp_path: Path) -> None:
    pushes = recording(tmp_path)
    timeline = load_binance(tmp_path)
    kept = [p for k, p in zip(timeline.keys, timeline.payloads, strict=True) if "@mini" in k]
    assert kept == pushes
    assert timeline.keys.count("btcusdt@trade") == 1


async def test_the_replay_serves_the_mini_ticker_stream_untouched(tmp_path: Path) -> None:
    pushes = recording(tmp_path)
    server = BinanceReplayServer(ReplayConfig(path=str(tmp_path), speed=0))
    await server.start()
    try:
        url = f"{server.ws_url}/stream?streams=btcusdt@trade/btcusdt@miniTicker"
        async with open_ws(url) as ws:
            got = [await recv_json(ws) for _ in range(4)]
        assert [m["stream"] for m in got] == ["btcusdt@miniTicker", "btcusdt@trade"] + [
            "btcusdt@miniTicker"
        ] * 2
        minis = [m for m in got if m["stream"] == "btcusdt@miniTicker"]
        assert minis == [json.loads(p) for p in pushes]
    finally:
        await server.stop()
