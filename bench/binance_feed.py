"""Binance feed throughput: decode + normalise + book apply, next to the raw msgspec decode floor.

Prints figures only. Every figure comes with its reference measured in the same run, because
this machine is shared and noisy: ratios are what to compare (goal: >= 0.5 x the floor, as OKX).

1. ``depthUpdate`` combined frames (~20 levels, Binance's eight-decimal strings, ~770 bytes)
   through ``BinanceFeed.handle_message`` (stream dispatch, typed decode, clock check, ``U``/``u``
   sequencing, book apply, crossed check, BookChanged publish) vs ``msgspec.json.decode`` of the
   same bytes.
2. ``trade`` combined frames (decode, price band, clock check, dedupe, Trade publish) vs raw
   decode.
3. ``bookTicker`` combined frames (decode, price band, update id check, Ticker publish with the
   latest 24 h figures) vs raw decode.
4. ``miniTicker`` combined frames (decode, clock check, price band and range, 24 h figures kept,
   Ticker publish) vs raw decode; Binance pushes one a second a symbol, so this is a check that
   it costs about what a ``bookTicker`` does, not a throughput that matters.
5. End to end over a real WebSocket from the simulator in firehose mode (in a child process):
   messages/s the feed handles vs a bare ``websockets`` client that only receives.

The floor and the feed take turns round by round (best of ``--rounds`` each), so a burst of load
from the rest of the machine hits both alike. The bus has no subscriber: each event is built and
published, nobody handles it.

    .venv/bin/python bench/binance_feed.py [--updates 5000] [--rounds 15] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import statistics
import time
from collections.abc import Callable

import msgspec

from desk.core.bus import Bus
from desk.feeds.binance.config import BinanceConfig
from desk.feeds.binance.feed import BinanceFeed
from desk.feeds.binance.rest import RestDepth
from desk.sim.config import SimulatorConfig
from turns import best_rates  # bench/ is on sys.path

SYMBOL, NATIVE, STREAM = "BTC-USDT", "BTCUSDT", "btcusdt"
MID_TICKS = 6_000_000  # 60000.00 on a 0.01 tick


def _px(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}000000"


def _qty(rng: random.Random) -> str:
    return f"{rng.uniform(0.00001, 3.0):.8f}"


def depth_messages(count: int, *, levels: int = 20, seed: int = 1) -> tuple[RestDepth, list[bytes]]:
    """A 200-level-a-side snapshot and ``count`` chained diffs of ``levels`` changed levels."""
    rng = random.Random(seed)
    bids = {MID_TICKS - 1 - i: _qty(rng) for i in range(200)}
    asks = {MID_TICKS + i: _qty(rng) for i in range(200)}
    last_id = 1_000_000
    snapshot = RestDepth(
        last_id,
        [(_px(p), q) for p, q in sorted(bids.items(), reverse=True)],
        [(_px(p), q) for p, q in sorted(asks.items())],
    )
    start_ms = time.time_ns() // 1_000_000
    out = []
    for i in range(count):
        changed_b: dict[int, str] = {}
        changed_a: dict[int, str] = {}
        for _ in range(levels):
            side, changed = (bids, changed_b) if rng.random() < 0.5 else (asks, changed_a)
            best = max(bids) if side is bids else min(asks)
            far = -1 if side is bids else 1
            roll = rng.random()
            if roll < 0.2 and len(side) > 150:
                price = rng.choice(list(side))
                del side[price]
                changed[price] = "0.00000000"
            elif roll < 0.4:
                price = best + far * rng.randint(0, 250)
                side[price] = changed[price] = _qty(rng)
            else:
                price = rng.choice(list(side))
                side[price] = changed[price] = _qty(rng)
        first, last_id = last_id + 1, last_id + rng.randint(1, 40)
        data = {
            "e": "depthUpdate",
            "E": start_ms + i,
            "s": NATIVE,
            "U": first,
            "u": last_id,
            "b": [[_px(p), q] for p, q in sorted(changed_b.items(), reverse=True)],
            "a": [[_px(p), q] for p, q in sorted(changed_a.items())],
        }
        frame = {"stream": f"{STREAM}@depth@100ms", "data": data}
        out.append(json.dumps(frame, separators=(",", ":")).encode())
    return snapshot, out


def trade_messages(count: int, *, seed: int = 2) -> list[bytes]:
    rng = random.Random(seed)
    start_ms = time.time_ns() // 1_000_000
    out = []
    for i in range(count):
        data = {
            "e": "trade",
            "E": start_ms + i,
            "s": NATIVE,
            "t": 3_000_000_000 + i,
            "p": _px(MID_TICKS + rng.randint(-50, 50)),
            "q": _qty(rng),
            "T": start_ms + i,
            "m": rng.random() < 0.5,
            "M": True,
        }
        frame = {"stream": f"{STREAM}@trade", "data": data}
        out.append(json.dumps(frame, separators=(",", ":")).encode())
    return out


def ticker_messages(count: int, *, seed: int = 3) -> list[bytes]:
    """``bookTicker`` frames: the best bid and ask a tick or two around the mid."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        bid = MID_TICKS - rng.randint(1, 3)
        data = {"u": 400_900_217 + i, "s": NATIVE, "b": _px(bid), "B": _qty(rng),
                "a": _px(bid + rng.randint(1, 3)), "A": _qty(rng)}  # fmt: skip
        frame = {"stream": f"{STREAM}@bookTicker", "data": data}
        out.append(json.dumps(frame, separators=(",", ":")).encode())
    return out


def mini_ticker_messages(count: int, *, seed: int = 4) -> list[bytes]:
    """``miniTicker`` frames (a millisecond apart, so the clock check takes them all): the last
    price around the mid, a 24 h range around it, volumes growing."""
    rng = random.Random(seed)
    start_ms = time.time_ns() // 1_000_000 - count
    out = []
    for i in range(count):
        close = MID_TICKS + rng.randint(-50, 50)
        data = {"e": "24hrMiniTicker", "E": start_ms + i, "s": NATIVE, "c": _px(close),
                "o": _px(MID_TICKS - 1000), "h": _px(MID_TICKS + 2000), "l": _px(MID_TICKS - 2000),
                "v": f"{12_000 + i:.8f}", "q": f"{(12_000 + i) * 60_000:.8f}"}  # fmt: skip
        frame = {"stream": f"{STREAM}@miniTicker", "data": data}
        out.append(json.dumps(frame, separators=(",", ":")).encode())
    return out


def _feed(snapshot: RestDepth | None = None) -> BinanceFeed:
    feed = BinanceFeed(BinanceConfig(symbols=(SYMBOL,)), Bus())
    if snapshot is not None:
        feed.keeper.load_snapshot(NATIVE, snapshot)
    return feed


def _through_feed(messages: list[bytes], feeds: list[BinanceFeed]) -> Callable[[], None]:
    def run() -> None:
        handle = feeds.pop().handle_message
        now = time.time_ns()
        for m in messages:
            handle(m, now)

    return run


def _floor(messages: list[bytes]) -> Callable[[], None]:
    decode = msgspec.json.decode

    def run() -> None:
        for m in messages:
            decode(m)

    return run


def bench_depth(updates: int, rounds: int) -> None:
    snapshot, messages = depth_messages(updates)
    sizes = [len(m) for m in messages]
    levels = statistics.mean(m.count(b'["') for m in messages)
    print(
        f"depthUpdate frames: {len(messages)}, mean {statistics.mean(sizes):.0f} bytes, "
        f"~{levels:.0f} levels each"
    )
    feeds = [_feed(snapshot) for _ in range(rounds)]
    raw, fed = best_rates(_floor(messages), _through_feed(messages, feeds), len(messages), rounds)
    check = _feed(snapshot)
    _through_feed(messages, [check])()
    c = check.counters
    assert c.gaps == c.resyncs == c.decode_errors == 0, "the bench stream broke"
    assert check.books[SYMBOL].seq_id > snapshot.last_update_id
    print(f"  raw msgspec decode (floor)          {raw:>12,.0f} msgs/s  {1e6 / raw:6.2f} us/msg")
    print(
        f"  BinanceFeed decode+normalise+apply  {fed:>12,.0f} msgs/s  {1e6 / fed:6.2f} us/msg"
        f"  = {fed / raw:.2f} x floor"
    )


def _bench_frames(kind: str, messages: list[bytes], rounds: int, work: str) -> BinanceFeed:
    """Print the feed's rate on ``messages`` beside the raw decode; the fed check feed."""
    print(f"{kind} frames: {len(messages)}, mean {statistics.mean(map(len, messages)):.0f} bytes")
    feeds = [_feed() for _ in range(rounds)]
    raw, fed = best_rates(_floor(messages), _through_feed(messages, feeds), len(messages), rounds)
    check = _feed()
    _through_feed(messages, [check])()
    assert check.counters.decode_errors == 0
    print(f"  raw msgspec decode (floor)          {raw:>12,.0f} msgs/s")
    print(f"  BinanceFeed {work:<24}{fed:>12,.0f} msgs/s  = {fed / raw:.2f} x floor")
    return check


def bench_trades(count: int, rounds: int) -> None:
    check = _bench_frames("trade", trade_messages(count), rounds, "decode+dedupe+publish")
    assert check.counters.duplicate_trades == 0


def bench_tickers(count: int, rounds: int) -> None:
    _bench_frames("bookTicker", ticker_messages(count), rounds, "decode+check+publish")


def bench_mini_tickers(count: int, rounds: int) -> None:
    messages = mini_ticker_messages(count)
    check = _bench_frames("miniTicker", messages, rounds, "decode+check+publish")
    assert check.normaliser.day_stats(NATIVE).volume == 12_000 + len(messages) - 1


# -- end to end ------------------------------------------------------------------------------

SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")


def _serve_sim(port_queue: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from desk.sim.binance.simulator import BinanceSimulator

    async def main() -> None:
        # no simulated past: the bench reads none, and at a million steps a second the past's
        # generator cannot make one (desk.sim.history; miniTicker falls back to since-start)
        config = SimulatorConfig(port=0, seed=1, steps_per_second=1_000_000, history_hours=0)
        sim = BinanceSimulator(config, firehose=True)
        await sim.start()
        port_queue.put(sim.port)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await sim.stop()

    asyncio.run(main())


def _streams() -> str:
    names = [s.replace("-", "").lower() for s in SYMBOLS]
    kinds = ("depth@100ms", "trade", "bookTicker", "miniTicker")  # the feed's streams
    return "/".join(f"{n}@{k}" for n in names for k in kinds)


async def _bare_client_rate(ws_url: str, seconds: float) -> float:
    from websockets.asyncio.client import connect

    async with connect(f"{ws_url}/stream?streams={_streams()}", max_size=None) as ws:
        deadline = time.perf_counter() + 1.0  # warm-up
        while time.perf_counter() < deadline:
            await ws.recv()
        count, started = 0, time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            await ws.recv()
            count += 1
        return count / (time.perf_counter() - started)


async def _feed_rate(ws_url: str, rest_url: str, seconds: float) -> tuple[float, int]:
    config = BinanceConfig(enabled=True, symbols=SYMBOLS, ws_url=ws_url, rest_url=rest_url)
    feed = BinanceFeed(config, Bus(), rng=random.Random(1))
    await feed.start()
    await feed.wait_ready(30)
    await asyncio.sleep(1.0)
    before, started = feed.counters.messages, time.perf_counter()
    await asyncio.sleep(seconds)
    rate = (feed.counters.messages - before) / (time.perf_counter() - started)
    errors = feed.counters.gaps + feed.counters.decode_errors + feed.counters.resyncs
    await feed.stop()
    return rate, errors


def bench_end_to_end(seconds: float) -> None:
    ctx = multiprocessing.get_context("spawn")
    port_queue: multiprocessing.Queue = ctx.Queue()
    stop = ctx.Event()
    proc = ctx.Process(target=_serve_sim, args=(port_queue, stop), daemon=True)
    proc.start()
    try:
        port = port_queue.get(timeout=60)
        ws_url, rest_url = f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}"
        bare = asyncio.run(_bare_client_rate(ws_url, seconds))
        fed, errors = asyncio.run(_feed_rate(ws_url, rest_url, seconds))
        print(f"  bare websockets client (reference)  {bare:>12,.0f} msgs/s")
        print(
            f"  BinanceFeed (depth+trade+ticker)    {fed:>12,.0f} msgs/s  = {fed / bare:.2f} x "
            f"reference   (integrity errors: {errors})"
        )
        print("  (the simulator in a second process is usually the limit on a 2-core machine)")
    finally:
        stop.set()
        proc.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    bench_depth(args.updates, args.rounds)
    bench_trades(args.updates * 4, args.rounds)
    bench_tickers(args.updates * 4, args.rounds)
    bench_mini_tickers(args.updates, args.rounds)
    if not args.skip_e2e:
        print(f"end to end over a real WebSocket, simulator firehose, {args.seconds:.0f} s each:")
        bench_end_to_end(args.seconds)


if __name__ == "__main__":
    main()
