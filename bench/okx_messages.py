"""Realistic OKX wire messages for the benchmarks, generated deterministically.

Books: a 200-level-per-side BTC-USDT book on a 0.1 tick; each update changes 20 levels (sizes
changed, levels added, levels removed), about 860 bytes like OKX's own `books` pushes. Trades:
single-trade pushes with OKX's fields.
"""

from __future__ import annotations

import json
import random
import zlib

TICK = 0.1
MID_TICKS = 600_000  # 60000.0


def _px(ticks: int) -> str:
    return f"{ticks // 10}.{ticks % 10}" if ticks % 10 else str(ticks // 10)


def _sz(rng: random.Random) -> str:
    return f"{rng.uniform(0.0001, 3.0):.8f}".rstrip("0").rstrip(".")


def _checksum(bids: dict[int, str], asks: dict[int, str]) -> int:
    b = sorted(bids.items(), reverse=True)[:25]
    a = sorted(asks.items())[:25]
    parts: list[str] = []
    for i in range(25):
        if i < len(b):
            parts += [_px(b[i][0]), b[i][1]]
        if i < len(a):
            parts += [_px(a[i][0]), a[i][1]]
    c = zlib.crc32(":".join(parts).encode())
    return c - (1 << 32) if c >= (1 << 31) else c


def book_messages(
    count: int, *, levels: int = 20, seed: int = 1, checksum: bool = False, symbol: str = "BTC-USDT"
) -> list[bytes]:
    """A snapshot followed by ``count`` chained updates of ``levels`` changed levels each."""
    rng = random.Random(seed)
    bids = {MID_TICKS - 1 - i: _sz(rng) for i in range(200)}
    asks = {MID_TICKS + i: _sz(rng) for i in range(200)}
    seq = 1000
    ts = 1_700_000_000_000
    out = [_push(symbol, "snapshot", bids, asks, -1, seq, ts, checksum, bids, asks)]
    for _ in range(count):
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
                changed[price] = "0"
            elif roll < 0.4:
                price = best + far * rng.randint(0, 250)
                side[price] = changed[price] = _sz(rng)
            else:
                price = rng.choice(list(side))
                side[price] = changed[price] = _sz(rng)
        prev, seq, ts = seq, seq + rng.randint(1, 90), ts + 100
        out.append(
            _push(symbol, "update", changed_b, changed_a, prev, seq, ts, checksum, bids, asks)
        )
    return out


def _push(symbol, action, bids, asks, prev, seq, ts, checksum, full_bids, full_asks) -> bytes:
    data = {
        "asks": [[_px(p), s, "0", str(1 + p % 7)] for p, s in sorted(asks.items())],
        "bids": [[_px(p), s, "0", str(1 + p % 5)] for p, s in sorted(bids.items(), reverse=True)],
        "ts": str(ts),
        "checksum": _checksum(full_bids, full_asks) if checksum else 0,
        "prevSeqId": prev,
        "seqId": seq,
    }
    msg = {"arg": {"channel": "books", "instId": symbol}, "action": action, "data": [data]}
    return json.dumps(msg, separators=(",", ":")).encode()


def trade_messages(count: int, *, seed: int = 2, symbol: str = "BTC-USDT") -> list[bytes]:
    rng = random.Random(seed)
    trade_id = 130_000_000
    out = []
    for i in range(count):
        n = rng.choice((1, 1, 1, 2, 3))
        trade_id += n
        msg = {
            "arg": {"channel": "trades", "instId": symbol},
            "data": [
                {
                    "instId": symbol,
                    "tradeId": str(trade_id),
                    "px": _px(MID_TICKS + rng.randint(-50, 50)),
                    "sz": _sz(rng),
                    "side": rng.choice(("buy", "sell")),
                    "ts": str(1_700_000_000_000 + i),
                    "count": str(n),
                    "source": "0",
                    "seqId": 1000 + i,
                }
            ],
        }
        out.append(json.dumps(msg, separators=(",", ":")).encode())
    return out
