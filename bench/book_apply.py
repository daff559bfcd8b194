"""Order book apply cost, next to the msgspec decode floor it is measured against.

Prints figures only (never asserts): the raw decode rate of OKX ``books`` updates, the rate of
decode + apply to an ``OrderBook``, the apply cost per 20-level update, and the cost of a
200-level-per-side snapshot. The stream is synthetic but shaped like a busy BTC-USDT book:
about 200 levels a side, each update 20 levels (half size changes, a quarter deletes near the
top, a quarter new or returning prices).

    .venv/bin/python bench/book_apply.py [--updates 2000] [--rounds 40]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable, Sequence

import msgspec

from desk.market import native
from desk.market.book import OrderBook

TICKS_PER_UNIT = 10  # tick 0.1


class ListData(msgspec.Struct):
    asks: list[list[str]]
    bids: list[list[str]]
    ts: str
    checksum: int = 0
    prevSeqId: int = -1
    seqId: int = -1


class TupleData(msgspec.Struct):
    asks: list[tuple[str, str, str, str]]
    bids: list[tuple[str, str, str, str]]
    ts: str
    checksum: int = 0
    prevSeqId: int = -1
    seqId: int = -1


class NamedLevel(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """OKX's ``BookLevel``: the first two strings of a level, the rest skipped while parsing."""

    px: str
    sz: str


class NamedData(msgspec.Struct):
    asks: list[NamedLevel]
    bids: list[NamedLevel]
    ts: str
    checksum: int = 0
    prevSeqId: int = -1
    seqId: int = -1


class Arg(msgspec.Struct):
    channel: str
    instId: str


class ListMsg(msgspec.Struct):
    arg: Arg
    data: list[ListData]
    action: str = ""


class TupleMsg(msgspec.Struct):
    arg: Arg
    data: list[TupleData]
    action: str = ""


class NamedMsg(msgspec.Struct):
    arg: Arg
    data: list[NamedData]
    action: str = ""


def _px(ticks: int) -> str:
    whole, frac = divmod(ticks, TICKS_PER_UNIT)
    return f"{whole}.{frac}" if frac else str(whole)


class _Stream:
    """A reference book that generates valid OKX updates against itself."""

    def __init__(self, depth: int, seed: int) -> None:
        self.rnd = random.Random(seed)
        mid = 421_000
        self.sides = {
            "bids": {mid - 1 - 2 * i: self._size() for i in range(depth)},
            "asks": {mid + 1 + 2 * i: self._size() for i in range(depth)},
        }

    def _size(self) -> str:
        return f"{self.rnd.uniform(0.00001, 3.0):.8f}".rstrip("0")

    def _ordered(self, side: str) -> list[int]:
        return sorted(self.sides[side], reverse=side == "bids")

    def snapshot(self) -> dict[str, list[list[str]]]:
        return {
            s: [[_px(t), self.sides[s][t], "0", "3"] for t in self._ordered(s)]
            for s in ("bids", "asks")
        }

    def _near_top(self, ordered: list[int]) -> int:
        return ordered[min(int(self.rnd.expovariate(0.1)), len(ordered) - 1)]

    def _fresh_price(self, side: str, ordered: list[int]) -> int:
        book, other = self.sides[side], self.sides["asks" if side == "bids" else "bids"]
        while True:
            off = int(self.rnd.expovariate(0.02)) - 3
            t = ordered[0] - off if side == "bids" else ordered[0] + off
            crossed = t >= min(other) if side == "bids" else t <= max(other)
            if t not in book and not crossed:
                return t

    def update(self) -> dict[str, list[list[str]]]:
        out: dict[str, list[list[str]]] = {"bids": [], "asks": []}
        for k in range(20):
            side = "bids" if k % 2 == 0 else "asks"
            book, ordered, r = self.sides[side], self._ordered(side), self.rnd.random()
            if r < 0.5:
                t = self._near_top(ordered)
                book[t] = self._size()
                out[side].append([_px(t), book[t], "0", "3"])
            elif r < 0.75 and len(ordered) > 50:
                t = self._near_top(ordered)
                del book[t]
                out[side].append([_px(t), "0", "0", "0"])
            else:
                t = self._fresh_price(side, ordered)
                book[t] = self._size()
                out[side].append([_px(t), book[t], "0", "1"])
        return out


def make_messages(n_updates: int, depth: int = 200, seed: int = 7) -> list[bytes]:
    """Snapshot first, then ``n_updates`` chained increments, JSON-encoded like OKX."""
    stream = _Stream(depth, seed)
    enc = msgspec.json.Encoder()
    arg = {"channel": "books", "instId": "BTC-USDT"}

    def frame(action: str, levels: dict[str, list[list[str]]], prev: int, seq: int) -> bytes:
        data = {**levels, "ts": "1597026383085", "checksum": 0, "prevSeqId": prev, "seqId": seq}
        return enc.encode({"arg": arg, "action": action, "data": [data]})

    msgs = [frame("snapshot", stream.snapshot(), -1, 1)]
    msgs += [frame("update", stream.update(), i + 1, i + 2) for i in range(n_updates)]
    return msgs


def interleaved_best(runs: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """Best wall time of each run over ``rounds`` rounds, the runs interleaved.

    Shared machines are noisy; interleaving short runs and keeping each one's best time
    compares the runs under the same (quietest) conditions.
    """
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def bench_decoder(name: str, msg_type: type, msgs: list[bytes], rounds: int) -> None:
    decode = msgspec.json.Decoder(msg_type).decode
    updates = msgs[1:]
    n = len(updates)
    first = decode(msgs[0]).data[0]
    decoded = [decode(raw).data[0] for raw in updates]
    snapshot = tuple(
        [(lv[0], lv[1]) if isinstance(lv, Sequence) else (lv.px, lv.sz) for lv in side]
        for side in (first.bids, first.asks)
    )
    apply = OrderBook.apply_named if msg_type is NamedMsg else OrderBook.apply_update

    def decode_only() -> None:
        for raw in updates:
            decode(raw).data[0]

    def decode_apply() -> None:
        book = OrderBook("BTC-USDT")
        book.apply_snapshot(*snapshot, first.seqId)
        for raw in updates:
            d = decode(raw).data[0]
            apply(book, d.bids, d.asks, d.seqId)
            book.best_bid_px  # noqa: B018 (a feed reads the top after every update)
            book.best_ask_px  # noqa: B018

    def apply_only() -> None:
        book = OrderBook("BTC-USDT")
        book.apply_snapshot(*snapshot, first.seqId)
        for d in decoded:
            apply(book, d.bids, d.asks, d.seqId)

    runs = {"decode": decode_only, "decode+apply": decode_apply, "apply": apply_only}
    t = {k: v / n for k, v in interleaved_best(runs, rounds).items()}
    t_dec, t_all = t["decode"], t["decode+apply"]
    print(f"[levels decoded as {name}]")
    print(f"  decode only (the floor)    {1 / t_dec:>9,.0f} msg/s {t_dec * 1e6:6.2f} us/msg")
    print(
        f"  decode + apply + top       {1 / t_all:>9,.0f} msg/s {t_all * 1e6:6.2f} us/msg"
        f"  -> {t_dec / t_all:.2f} x the decode rate (target >= 0.50)"
    )
    print(f"  apply, in that pipeline    {(t_all - t_dec) * 1e6:6.2f} us per 20-level update")
    print(f"  apply, pre-decoded input   {t['apply'] * 1e6:6.2f} us per 20-level update")


def bench_snapshot(msgs: list[bytes], rounds: int) -> None:
    snap = msgspec.json.Decoder(TupleMsg).decode(msgs[0]).data[0]
    loops = 50
    book = OrderBook("BTC-USDT")

    def fresh() -> None:
        for _ in range(loops):
            OrderBook("BTC-USDT").apply_snapshot(snap.bids, snap.asks, snap.seqId)

    def resync() -> None:
        for _ in range(loops):
            book.apply_snapshot(snap.bids, snap.asks, snap.seqId)

    t = interleaved_best({"fresh": fresh, "resync": resync}, rounds)
    print(f"snapshot of {len(snap.bids)} bids + {len(snap.asks)} asks:")
    print(f"  into an empty book         {t['fresh'] / loops * 1e6:8.1f} us")
    print(f"  over the same book         {t['resync'] / loops * 1e6:8.1f} us (prices reused)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    msgs = make_messages(args.updates)
    avg = sum(map(len, msgs[1:])) / (len(msgs) - 1)
    print(f"{args.updates} OKX books updates, 20 levels each, {avg:.0f} bytes on average")
    print(f"book: {native.describe()} (DESK_NATIVE=0: the pure Python)")
    gc.disable()  # figures for the code, not for the collector's timing
    bench_decoder("named 2-field structs, as the OKX feed", NamedMsg, msgs, args.rounds)
    bench_decoder("tuples", TupleMsg, msgs, args.rounds)
    bench_decoder("lists", ListMsg, msgs, args.rounds)
    bench_snapshot(msgs, args.rounds)


if __name__ == "__main__":
    main()
