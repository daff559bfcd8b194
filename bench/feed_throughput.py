"""Feed throughput: decode + normalize + book apply, next to the raw msgspec decode floor.

Prints figures only. Every figure comes with its reference measured in the same run, because
this machine is shared and noisy: ratios are what to compare.

1. ``books`` updates (~20 levels, ~860 bytes) through ``OkxFeed.handle_message`` (typed decode,
   sequence check, book apply, BookChanged publish) vs ``msgspec.json.decode`` of the same bytes.
2. The same with a real (non-zero) checksum verified on every update: the extra µs per message.
   The book's implementation is printed (``desk.market.native``): with the compiled book built,
   1 and 2 are its figures and the pure Python book's follow, from the same rounds
   (``--pure-only``: the pure Python alone).
3. ``trades`` pushes (decode, dedupe, Trade publish) vs raw decode.
4. End to end over a real WebSocket from the simulator in firehose mode (in a child process):
   messages/s the feed handles vs a bare ``websockets`` client that only receives.

    .venv/bin/python bench/feed_throughput.py [--updates 5000] [--rounds 15] [--seconds 5]
        [--skip-e2e] [--pure-only]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import random
import statistics
import time
from collections.abc import Callable

import msgspec

from desk.core.bus import Bus
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed
from desk.market import native
from desk.market.book import use_compiled
from desk.sim.config import SimulatorConfig
from okx_messages import book_messages, trade_messages  # bench/ is on sys.path as the script dir

SYMBOL = "BTC-USDT"
DATA_NOW_NS = (1_700_000_000_000 + 250_000) * 1_000_000
"""A receive time in the middle of the generated messages' own clock (okx_messages stamps them
from 1_700_000_000_000 ms on): the feed refuses exchange times far from the receive time."""


def _best_rate(run: Callable[[], None], count: int, rounds: int) -> float:
    """Best messages/s over ``rounds`` runs (the least disturbed by the rest of the machine)."""
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
        gc.enable()
    return count / best


def _fresh_feed(snapshot: bytes, verify: bool) -> OkxFeed:
    feed = OkxFeed(OkxConfig(verify_checksum=verify), [SYMBOL], ["books", "trades"], Bus())
    feed.keeper.on_subscribed("books", SYMBOL)
    feed.handle_message(snapshot, DATA_NOW_NS)
    return feed


def bench_books(
    plain: list[bytes], checked: list[bytes], rounds: int, implementations: tuple[bool, ...]
) -> tuple[float, dict[bool, tuple[float, float]]]:
    """Raw decode messages/s, and for each book implementation (True: compiled, False: pure
    Python; ``desk.market.native``) the feed's messages/s without and with checksums verified,
    on the same book stream.

    One round of each in turn, ``rounds`` times, best of each: a noisy neighbour then slows
    all alike (measured one after the other, a quiet spell favoured one of them and swung the
    ratio by 0.15 and the checksum's cost by 20 us from run to run). Both implementations in
    the same rounds are the fairest A/B of the compiled book.
    """
    updates = plain[1:]
    decode = msgspec.json.decode

    def floor() -> None:
        for m in updates:
            decode(m)

    def through(messages: list[bytes], compiled: bool) -> Callable[[], None]:
        feeds = [_fresh_feed(messages[0], True) for _ in range(rounds)]

        def run() -> None:
            use_compiled(compiled)
            handle = feeds.pop().handle_message
            now = DATA_NOW_NS
            for m in messages[1:]:
                handle(m, now)

        return run

    runs = [floor]
    for compiled in implementations:
        runs += [through(plain, compiled), through(checked, compiled)]
    best = [0.0] * len(runs)
    for _ in range(rounds):
        for k, run in enumerate(runs):
            best[k] = max(best[k], _best_rate(run, len(updates), 1))
    for compiled in implementations:
        use_compiled(compiled)
        for messages in (plain, checked):
            check = _fresh_feed(messages[0], True)
            for m in messages[1:]:
                check.handle_message(m, DATA_NOW_NS)
            c = check.counters
            assert c.gaps == 0 and c.checksum_failures == 0 and c.resyncs == 0, "stream broke"
    use_compiled(implementations[0])
    rates = {
        compiled: (best[1 + 2 * k], best[2 + 2 * k]) for k, compiled in enumerate(implementations)
    }
    return best[0], rates


def bench_trades(messages: list[bytes], rounds: int) -> tuple[float, float]:
    decode = msgspec.json.decode

    def floor() -> None:
        for m in messages:
            decode(m)

    def through_feed() -> None:
        feed = OkxFeed(OkxConfig(), [SYMBOL], ["trades"], Bus())
        handle = feed.handle_message
        now = DATA_NOW_NS
        for m in messages:
            handle(m, now)

    return _best_rate(floor, len(messages), rounds), _best_rate(through_feed, len(messages), rounds)


# -- end to end ------------------------------------------------------------------------------


def _serve_sim(port_queue: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from desk.sim.okx.simulator import OkxSimulator

    async def main() -> None:
        config = SimulatorConfig(enabled=True, port=0, seed=1, steps_per_second=1_000_000)
        sim = OkxSimulator(config, firehose=True)
        await sim.start()
        port_queue.put(sim.port)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await sim.stop()

    asyncio.run(main())


SUBSCRIBE = msgspec.json.encode(
    {
        "op": "subscribe",
        "args": [
            {"channel": ch, "instId": s}
            for s in ("BTC-USDT", "ETH-USDT", "SOL-USDT")
            for ch in ("books", "trades", "tickers")
        ],
    }
).decode()


async def _bare_client_rate(url: str, seconds: float) -> float:
    from websockets.asyncio.client import connect

    async with connect(url, ping_interval=None, max_size=None) as ws:
        await ws.send(SUBSCRIBE)
        count = 0
        deadline = time.perf_counter() + 1.0  # warm-up: skip snapshots
        while time.perf_counter() < deadline:
            await ws.recv()
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            await ws.recv()
            count += 1
        return count / (time.perf_counter() - started)


async def _feed_rate(port: int, seconds: float) -> tuple[float, int]:
    base = f"127.0.0.1:{port}"
    config = OkxConfig(
        ws_public_url=f"ws://{base}/ws/v5/public",
        ws_business_url=f"ws://{base}/ws/v5/business",
        rest_url=f"http://{base}",
    )
    feed = OkxFeed(
        config,
        ["BTC-USDT", "ETH-USDT", "SOL-USDT"],
        ["books", "trades", "tickers"],
        Bus(),
        rng=random.Random(1),
    )
    await feed.start()
    await feed.wait_ready(30)
    await asyncio.sleep(1.0)
    before = feed.counters.messages
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    rate = (feed.counters.messages - before) / (time.perf_counter() - started)
    errors = feed.counters.gaps + feed.counters.decode_errors + feed.counters.checksum_failures
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
        url = f"ws://127.0.0.1:{port}/ws/v5/public"
        bare = asyncio.run(_bare_client_rate(url, seconds))
        fed, errors = asyncio.run(_feed_rate(port, seconds))
        print(f"  bare websockets client (reference) {bare:>12,.0f} msgs/s")
        print(
            f"  OkxFeed (decode+books+trades+tickers) {fed:>9,.0f} msgs/s"
            f"  = {fed / bare:.2f} x reference   (integrity errors: {errors})"
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
    parser.add_argument(
        "--pure-only", action="store_true", help="books: the pure Python book only (no A/B)"
    )
    args = parser.parse_args()

    plain = book_messages(args.updates, levels=23, seed=1)
    sizes = [len(m) for m in plain[1:]]
    levels = statistics.mean(m.count(b'","0","') for m in plain[1:])
    print(
        f"books updates: {len(sizes)} messages, mean {statistics.mean(sizes):.0f} bytes, "
        f"{levels:.1f} levels each"
    )
    checked = book_messages(args.updates, levels=23, seed=1, checksum=True)
    # The book's implementation (desk.market.native): the default one's figures first, in the
    # lines the issue tracks; the pure Python's from the same rounds below them.
    default = native.ACTIVE
    implementations = (True, False) if default and not args.pure_only else (False,)
    raw, rates = bench_books(plain, checked, args.rounds, implementations)
    print(f"  book: {native.describe()}")
    print(f"  raw msgspec decode (floor)        {raw:>12,.0f} msgs/s  {1e6 / raw:6.2f} us/msg")
    fed, fed_c = rates[implementations[0]]
    print(
        f"  OkxFeed decode+normalize+apply    {fed:>12,.0f} msgs/s  {1e6 / fed:6.2f} us/msg"
        f"  = {fed / raw:.2f} x floor"
    )
    extra = 1e6 / fed_c - 1e6 / fed
    print(
        f"  with checksum verified            {fed_c:>12,.0f} msgs/s  {1e6 / fed_c:6.2f} us/msg"
        f"  = {fed_c / raw:.2f} x floor; checksum costs {extra:.2f} us/msg"
    )
    if len(implementations) > 1:
        pure, pure_c = rates[False]
        print(
            f"  the pure Python book, same rounds: {1e6 / pure:6.2f} us/msg = {pure / raw:.2f} x "
            f"floor; checksum costs {1e6 / pure_c - 1e6 / pure:.2f} us/msg "
            f"(compiled: {pure / fed:.2f}x / {pure_c / fed_c:.2f}x the time)"
        )

    trades = trade_messages(args.updates * 4)
    print(
        f"trades pushes: {len(trades)} messages, mean "
        f"{statistics.mean(len(m) for m in trades):.0f} bytes"
    )
    raw_t, fed_t = bench_trades(trades, args.rounds)
    print(f"  raw msgspec decode (floor)        {raw_t:>12,.0f} msgs/s")
    print(
        f"  OkxFeed decode+dedupe+publish     {fed_t:>12,.0f} msgs/s  = {fed_t / raw_t:.2f} x floor"
    )

    if not args.skip_e2e:
        print(f"end to end over a real WebSocket, simulator firehose, {args.seconds:.0f} s each:")
        bench_end_to_end(args.seconds)


if __name__ == "__main__":
    main()
