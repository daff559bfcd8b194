"""The gateway under load: market messages/s to 1, 10 and 100 WebSocket clients, and what it
costs the engine (feed throughput and event-loop lag with clients attached vs none).

One run, so every figure has its reference beside it on the same (shared, noisy) machine:

* ``desk sim-server --firehose`` in its own process pushes market data as fast as it can;
* the engine (paper mode, BTC-USDT trades + books, gateway on a free port) runs in this one;
* the clients run in a child process (they must not eat the engine's loop), each on
  ``/ws/market/BTC-USDT``, decoding every frame as JSON, for ``--seconds`` per phase.

Phases: no clients, 1, 10, 100, then no clients again. For each: the messages and bytes/s the
clients received (all together and the slowest client), the engine's feed messages/s and its
event-loop lag (a 5 ms timer's lateness: p50 / p99 / max), and clients the gateway cut off as
too slow. Figures only; nothing is asserted.

    .venv/bin/python bench/gateway.py [--seconds 10] [--hz 100] [--clients 1,10,100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from desk.config import parse_config
from desk.engine.engine import Engine

SYMBOL = "BTC-USDT"
DESK = str(Path(sys.executable).with_name("desk"))
LAG_TICK_S = 0.005


def start_sim() -> tuple[subprocess.Popen[str], dict[str, str]]:
    """``desk sim-server --firehose`` on a free port; the process and its URLs."""
    proc = subprocess.Popen(
        [DESK, "sim-server", "--port", "0", "--firehose", "--steps-per-second", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    while len(urls) < 3:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("sim-server exited before printing its URLs")
        match = re.match(r"OKX (public|business) WebSocket: (\S+)|OKX (REST): (\S+)", line)
        if match:
            urls[match.group(1) or "rest"] = match.group(2) or match.group(4)
    return proc, urls


def engine_config(workdir: Path, urls: dict[str, str], hz: float) -> Any:
    return parse_config(
        {
            "system": {"mode": "paper", "status_interval": 3600, "log_level": "WARNING"},
            "trading": {"symbols": [SYMBOL], "timeframes": ["1s"], "channels": ["trades", "books"]},
            "exchanges": {
                "okx": {
                    "ws_public_url": urls["public"],
                    "ws_business_url": urls["business"],
                    "rest_url": urls["rest"],
                }
            },
            "storage": {"sqlite_path": str(workdir / "desk.sqlite")},
            "gateway": {
                "enabled": True,
                "port": 0,
                "market_hz": hz,
                "max_clients": 1000,
                "client_queue": 256,
                "token_env": "DESK_BENCH_GATEWAY_TOKEN_UNSET",
            },
        }
    )


# -- the clients (child process) ------------------------------------------------------------


def run_clients(url: str, count: int, seconds: float, ready: Any, results: Any) -> None:
    results.put(asyncio.run(_clients(url, count, seconds, ready)))


async def _clients(url: str, count: int, seconds: float, ready: Any) -> dict[str, Any]:
    import websockets

    msgs = [0] * count
    nbytes = [0] * count
    counting = asyncio.Event()

    async def client(i: int, ws: Any) -> None:
        async for frame in ws:
            json.loads(frame)  # a client that does something with what it gets
            if counting.is_set():
                msgs[i] += 1
                nbytes[i] += len(frame)

    conns = [await websockets.connect(url, max_queue=None) for _ in range(count)]
    tasks = [asyncio.create_task(client(i, ws)) for i, ws in enumerate(conns)]
    await asyncio.sleep(1.0)  # every client past its hello and snapshot
    ready.set()
    counting.set()
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    counting.clear()
    elapsed = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    for ws in conns:
        await ws.close()
    return {
        "msgs_per_s": sum(msgs) / elapsed,
        "bytes_per_s": sum(nbytes) / elapsed,
        "slowest_per_s": min(msgs) / elapsed,
        "closed": sum(1 for ws in conns if ws.close_code not in (None, 1000)),
    }


# -- the engine side ------------------------------------------------------------------------


async def measure(engine: Engine, seconds: float) -> dict[str, float]:
    """Feed messages/s, loop lag and engine CPU over ``seconds`` on the engine's loop."""
    counters = engine.feeds.feeds[0].counters
    process = psutil.Process()
    lags: list[float] = []
    cpu0 = sum(process.cpu_times()[:2])
    msgs0, t0 = counters.messages, time.perf_counter()
    deadline = t0 + seconds
    while True:
        expected = time.perf_counter() + LAG_TICK_S
        await asyncio.sleep(LAG_TICK_S)
        now = time.perf_counter()
        lags.append(max(0.0, now - expected) * 1e3)
        if now >= deadline:
            break
    elapsed = time.perf_counter() - t0
    lags.sort()
    return {
        "feed_per_s": (counters.messages - msgs0) / elapsed,
        "lag_p50_ms": statistics.median(lags),
        "lag_p99_ms": lags[min(len(lags) - 1, int(0.99 * len(lags)))],
        "lag_max_ms": lags[-1],
        "cpu_pct": (sum(process.cpu_times()[:2]) - cpu0) / elapsed * 100,
    }


async def phase(engine: Engine, url: str, count: int, seconds: float) -> dict[str, Any]:
    if count == 0:
        return await measure(engine, seconds)
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Event(), ctx.Queue()
    child = ctx.Process(target=run_clients, args=(url, count, seconds, ready, results))
    child.start()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ready.wait)
    closed_before = engine.gateway.stats.closed["slow"]
    engine_side = await measure(engine, seconds)
    client_side = await loop.run_in_executor(None, results.get)
    await loop.run_in_executor(None, child.join)
    return {
        **engine_side,
        **client_side,
        "cut": engine.gateway.stats.closed["slow"] - closed_before,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hz", type=float, default=100.0, help="gateway.market_hz")
    parser.add_argument("--clients", default="1,10,100")
    args = parser.parse_args()
    counts = [0, *(int(n) for n in args.clients.split(",")), 0]

    sim, urls = start_sim()
    engine = Engine(engine_config(Path(tempfile.mkdtemp(prefix="desk-gw-bench-")), urls, args.hz))
    try:
        await engine.start()
        await engine.feeds.wait_ready(60)
        await asyncio.sleep(2.0)  # past the start-up burst
        url = engine.gateway.url.replace("http://", "ws://") + f"/ws/market/{SYMBOL}"
        print(
            f"gateway on /ws/market/{SYMBOL} at market_hz={args.hz:g}, simulator firehose in its "
            f"own process, clients in a child process, {args.seconds:g} s per phase"
        )
        print(
            f"{'clients':>7} {'msgs/s':>9} {'slowest/s':>9} {'MB/s':>6} {'cut':>3} | "
            f"{'feed msgs/s':>11} {'lag p50':>8} {'p99':>7} {'max':>7} {'cpu%':>5}"
        )
        for count in counts:
            r = await phase(engine, url, count, args.seconds)
            clients = (
                f"{r['msgs_per_s']:9.0f} {r['slowest_per_s']:9.1f} "
                f"{r['bytes_per_s'] / 1e6:6.2f} {r['cut']:3d}"
                if count
                else f"{'-':>9} {'-':>9} {'-':>6} {'-':>3}"
            )
            print(
                f"{count:7d} {clients} | {r['feed_per_s']:11.0f} {r['lag_p50_ms']:6.2f}ms "
                f"{r['lag_p99_ms']:5.2f}ms {r['lag_max_ms']:5.1f}ms {r['cpu_pct']:5.0f}",
                flush=True,
            )
    finally:
        await engine.stop()
        sim.terminate()
        sim.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
