"""Coinbase feed throughput: decode + normalise + book apply, beside the raw msgspec decode floor.

Prints figures only; every figure comes with its reference measured in the same run (this
machine is shared and noisy: compare the ratios). Goal: the feed at >= 0.5x the floor, as OKX.

1. ``l2_data`` updates (``--levels`` changed levels each, in Coinbase's verbose per-level objects)
   through ``CoinbaseFeed.handle_message`` (channel dispatch, typed decode, sequence_num check,
   time parse + skew check + latency sample, level split, book apply, ``BookChanged`` publish)
   vs ``msgspec.json.decode`` of the same bytes. Repeated at a few update sizes.
2. ``market_trades`` updates (1-5 trades each: decode, validation, maker->aggressor side,
   dedupe, ``Trade`` publish) vs the raw decode.
3. ``ticker`` updates (one ticker each: decode, every number checked, ``Ticker`` publish) vs the
   raw decode.

The floor and the feed take turns round by round (best of ``--rounds`` each), so a burst of load
from the rest of the machine hits both alike. The bus has no subscriber: each event is built and
published, nobody handles it.

    .venv/bin/python bench/coinbase_feed.py [--updates 5000] [--rounds 15] [--levels 10]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import msgspec

from desk.core.bus import Bus
from desk.feeds.coinbase.config import CoinbaseConfig
from desk.feeds.coinbase.feed import CoinbaseFeed
from turns import best_rates  # bench/ is on sys.path

PRODUCT = "BTC-USD"
BASE_NS = 1_700_000_000_000_000_000
RECV_NS = BASE_NS + 150 * 1_000_000_000
"""Every message "arrives" at this time: all message times are within the 300 s skew limit."""
MID_CENTS = 6_000_000  # 60000.00 on a 0.01 tick


def _stamp(ns: int) -> str:
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


def _px(cents: int) -> str:
    text = f"{cents // 100}.{cents % 100:02d}".rstrip("0").rstrip(".")
    return text


def _sz(rng: random.Random) -> str:
    return f"{rng.uniform(0.00001, 2.0):.8f}"


def _message(channel: str, seq: int, ns: int, events: list[dict]) -> bytes:
    body = {"channel": channel, "client_id": "", "timestamp": _stamp(ns), "sequence_num": seq,
            "events": events}  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


def l2_messages(count: int, levels: int, seed: int = 1) -> list[bytes]:
    """A 200-level-a-side snapshot, then ``count`` updates of ``levels`` changed levels each
    (sizes changed, levels added near the touch, levels removed), sequence_num chained."""
    rng = random.Random(seed)
    bids = {MID_CENTS - 1 - i: _sz(rng) for i in range(200)}
    asks = {MID_CENTS + i: _sz(rng) for i in range(200)}
    ns = BASE_NS

    def level(side: str, cents: int, qty: str) -> dict[str, str]:
        return {"side": side, "event_time": _stamp(ns), "price_level": _px(cents),
                "new_quantity": qty}  # fmt: skip

    snap = [level("bid", p, s) for p, s in sorted(bids.items(), reverse=True)]
    snap += [level("offer", p, s) for p, s in sorted(asks.items())]
    out = [
        _message("l2_data", 0, ns, [{"type": "snapshot", "product_id": PRODUCT, "updates": snap}])
    ]
    for seq in range(1, count + 1):
        ns += 20_000_000
        changes = []
        for _ in range(levels):
            is_bid = rng.random() < 0.5
            side, book = ("bid", bids) if is_bid else ("offer", asks)
            best = max(bids) if is_bid else min(asks)
            roll = rng.random()
            if roll < 0.2 and len(book) > 150:
                price = rng.choice(list(book))
                del book[price]
                qty = "0"
            elif roll < 0.4:
                price = best + (-1 if is_bid else 1) * rng.randint(1, 250)
                book[price] = qty = _sz(rng)
            else:
                price = rng.choice(list(book))
                book[price] = qty = _sz(rng)
            changes.append(level(side, price, qty))
        event = {"type": "update", "product_id": PRODUCT, "updates": changes}
        out.append(_message("l2_data", seq, ns, [event]))
    return out


def trade_messages(count: int, seed: int = 2) -> list[bytes]:
    rng = random.Random(seed)
    trade_id, ns, out = 500_000_000, BASE_NS, []
    for seq in range(count):
        ns += 10_000_000
        rows = []
        for _ in range(rng.choice((1, 1, 2, 3, 5))):
            trade_id += 1
            rows.append({"trade_id": str(trade_id), "product_id": PRODUCT,
                         "price": _px(MID_CENTS + rng.randint(-50, 50)), "size": _sz(rng),
                         "side": rng.choice(("BUY", "SELL")), "time": _stamp(ns)})  # fmt: skip
        out.append(_message("market_trades", seq, ns, [{"type": "update", "trades": rows}]))
    return out


def ticker_messages(count: int, seed: int = 3) -> list[bytes]:
    rng = random.Random(seed)
    ns, out = BASE_NS, []
    for seq in range(count):
        ns += 10_000_000
        bid = MID_CENTS + rng.randint(-50, 50)
        row = {"type": "ticker", "product_id": PRODUCT, "price": _px(bid + 1),
               "volume_24_h": "16038.28", "low_24_h": "58835.29", "high_24_h": "61011.18",
               "low_52_w": "15460", "high_52_w": "73750", "price_percent_chg_24_h": "-1.157",
               "best_bid": _px(bid), "best_bid_quantity": _sz(rng),
               "best_ask": _px(bid + rng.randint(1, 3)), "best_ask_quantity": _sz(rng)}  # fmt: skip
        out.append(_message("ticker", seq, ns, [{"type": "update", "tickers": [row]}]))
    return out


def _feed(channels: tuple[str, ...]) -> CoinbaseFeed:
    config = CoinbaseConfig(symbols=(PRODUCT,), channels=channels)
    return CoinbaseFeed(config, (PRODUCT,), channels, Bus(), send=lambda text: None)


def bench(
    messages: list[bytes], rounds: int, channels: tuple[str, ...], first: int
) -> tuple[float, float]:
    """(raw decode msgs/s, feed msgs/s) over ``messages[first:]``; a fresh feed per round gets
    ``messages[:first]`` (the snapshot) beforehand."""
    head, body = messages[:first], messages[first:]
    decode = msgspec.json.decode
    recv = RECV_NS

    def floor() -> None:
        for m in body:
            decode(m)

    feeds: list[CoinbaseFeed] = []
    for _ in range(rounds + 1):
        feed = _feed(channels)
        for m in head:
            feed.handle_message(m, recv)
        feeds.append(feed)
    check = feeds.pop()

    def through_feed() -> None:
        handle = feeds.pop().handle_message
        for m in body:
            handle(m, recv)

    raw, fed = best_rates(floor, through_feed, len(body), rounds)
    for m in body:
        check.handle_message(m, recv)
    c = check.counters
    assert c.gaps == 0 and c.resyncs == 0 and c.decode_errors == 0, "the bench stream broke"
    return raw, fed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--levels", type=int, nargs="+", default=[2, 10, 25])
    args = parser.parse_args()

    for levels in args.levels:
        messages = l2_messages(args.updates, levels)
        sizes = [len(m) for m in messages[1:]]
        print(f"l2_data updates, {levels} levels each: {len(sizes)} messages, "
              f"mean {statistics.mean(sizes):.0f} bytes")  # fmt: skip
        raw, fed = bench(messages, args.rounds, ("level2",), first=1)
        print(
            f"  raw msgspec decode (floor)          {raw:>10,.0f} msgs/s  {1e6 / raw:6.2f} us/msg"
        )
        print(f"  CoinbaseFeed decode+normalise+apply {fed:>10,.0f} msgs/s  {1e6 / fed:6.2f} us/msg"
              f"  = {fed / raw:.2f} x floor")  # fmt: skip

    trades = trade_messages(args.updates * 2)
    sizes = [len(m) for m in trades]
    print(f"market_trades updates: {len(trades)} messages, mean {statistics.mean(sizes):.0f} bytes")
    raw, fed = bench(trades, args.rounds, ("market_trades",), first=0)
    print(f"  raw msgspec decode (floor)          {raw:>10,.0f} msgs/s")
    print(f"  CoinbaseFeed decode+dedupe+publish  {fed:>10,.0f} msgs/s  = {fed / raw:.2f} x floor")

    tickers = ticker_messages(args.updates * 2)
    sizes = [len(m) for m in tickers]
    print(f"ticker updates: {len(tickers)} messages, mean {statistics.mean(sizes):.0f} bytes")
    raw, fed = bench(tickers, args.rounds, ("ticker",), first=0)
    print(f"  raw msgspec decode (floor)          {raw:>10,.0f} msgs/s")
    print(f"  CoinbaseFeed decode+check+publish   {fed:>10,.0f} msgs/s  = {fed / raw:.2f} x floor")


if __name__ == "__main__":
    main()
