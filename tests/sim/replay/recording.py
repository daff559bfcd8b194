"""Recordings for the replay tests: a simulator session captured over a real WebSocket.

``record_session(root, seconds, ...)`` runs an ``OkxSimulator`` (CRC32 checksums on) on a clock
that runs ``speedup`` times faster than the wall, subscribes books/trades/tickers like desk's
feed, and writes what it received in the recorder's raw schema (``venue=okx/kind=raw/date=D/
HH.parquet``: recv_ns, venue, conn, stream, channel, symbol, payload), the REST instruments
answer as a ``rest:`` row, and the trades normalised under ``kind=trades``. Receive times are
on the same accelerated clock as the exchange times, so the recording looks like ``seconds *
speedup`` seconds of market.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from pathlib import Path

import aiohttp
import pyarrow as pa
import pyarrow.parquet as pq
import websockets

from desk.sim.config import SimulatorConfig
from desk.sim.okx.simulator import OkxSimulator

SYMBOLS = ("BTC-USDT", "ETH-USDT")
CHANNELS = ("books", "trades", "tickers")
START_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z


class FastClock:
    """Data time from ``START_NS``, running ``speedup`` times faster than the wall."""

    def __init__(self, speedup: float) -> None:
        self.speedup = speedup
        self.origin = time.monotonic_ns()

    def now_ns(self) -> int:
        return START_NS + int((time.monotonic_ns() - self.origin) * self.speedup)


async def _capture(seconds: float, speedup: float, seed: int) -> tuple[list[tuple], bytes, int]:
    clock = FastClock(speedup)
    config = SimulatorConfig(port=0, seed=seed, checksum=True, update_interval=0.05)
    sim = OkxSimulator(config, clock=clock)
    await sim.start()
    rows: list[tuple] = []
    try:
        async with aiohttp.ClientSession() as http:
            url = f"{sim.rest_url}/api/v5/public/instruments?instType=SPOT"
            async with http.get(url) as reply:
                instruments = await reply.read()
                instruments_ns = clock.now_ns()
        async with websockets.connect(sim.ws_public_url, max_size=None) as ws:
            args = [{"channel": c, "instId": s} for s in SYMBOLS for c in CHANNELS]
            await ws.send(json.dumps({"id": "1", "op": "subscribe", "args": args}))
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    frame = await asyncio.wait_for(ws.recv(decode=False), 1.0)
                except TimeoutError:
                    continue
                recv_ns = clock.now_ns()
                arg = json.loads(frame).get("arg") or {}
                rows.append(
                    (recv_ns, "okx", "ws", arg.get("channel", ""), arg.get("instId", ""), frame)
                )
    finally:
        await sim.stop()
    return rows, instruments, instruments_ns


def write_raw(root: Path, rows: list[tuple], name: str = "00.parquet") -> Path:
    """Rows of (recv_ns, conn, stream, channel, symbol, payload) as one raw parquet file."""
    first = dt.datetime.fromtimestamp(rows[0][0] / 1e9, dt.UTC)
    folder = root / "venue=okx" / "kind=raw" / f"date={first:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "recv_ns": pa.array([r[0] for r in rows], pa.int64()),
            "venue": pa.array(["okx"] * len(rows), pa.string()),
            "conn": pa.array([r[1] for r in rows], pa.string()),
            "stream": pa.array([r[2] for r in rows], pa.string()),
            "channel": pa.array([r[3] for r in rows], pa.string()),
            "symbol": pa.array([r[4] for r in rows], pa.string()),
            "payload": pa.array([r[5] for r in rows], pa.binary()),
        }
    )
    path = folder / name
    pq.write_table(table, path, compression="zstd")
    return path


def write_trades(root: Path, rows: list[tuple]) -> None:
    """The recorded trades, normalised (the recorder's ``kind=trades`` columns)."""
    out: dict[str, list] = {
        k: [] for k in ("venue", "symbol", "ts_exchange", "ts_recv", "trade_id", "side")
    }
    out["price"], out["size"] = [], []
    for recv_ns, _conn, _stream, channel, _symbol, payload in rows:
        if channel != "trades" or not payload.startswith(b'{"arg"'):
            continue
        for d in json.loads(payload)["data"]:
            out["venue"].append("okx")
            out["symbol"].append(d["instId"])
            out["ts_exchange"].append(int(d["ts"]) * 1_000_000)
            out["ts_recv"].append(recv_ns)
            out["trade_id"].append(d["tradeId"])
            out["side"].append(d["side"])
            out["price"].append(float(d["px"]))
            out["size"].append(float(d["sz"]))
    first = dt.datetime.fromtimestamp(rows[0][0] / 1e9, dt.UTC)
    folder = root / "venue=okx" / "kind=trades" / f"date={first:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(out), folder / "00.parquet", compression="zstd")


def record_session(
    root: Path, seconds: float = 3.0, speedup: float = 20.0, seed: int = 7
) -> list[tuple]:
    """Record a simulator session under ``root`` (see the module docstring); its rows."""
    frames, instruments, instruments_ns = asyncio.run(_capture(seconds, speedup, seed))
    rest = (instruments_ns, "rest", "rest:/api/v5/public/instruments", "", "", instruments)
    rows = [rest, *frames]
    write_raw(root, rows)
    write_trades(root, rows)
    return rows
