"""A seeded fuzzer for the OKX feed path, in-process: real frames, a share of them corrupted.

The frames are the OKX simulator's own pushes (``InstrumentStreams`` over a seeded
``SyntheticMarket``: ``books`` updates with chained seqIds, ``trades``, ``tickers``, exactly as
PROTOCOLS.md describes them), captured without a socket. A share of them is corrupted the ways a
flaky exchange or an attacker would (truncated, garbage bytes, wrong types, missing keys, NaN,
inf, negative, zero and absurd values, far timestamps, 200 kB strings, channels and instruments
desk did not subscribe, broken sequence chains, replayed trades), and everything goes through the
real path: ``OkxFeed.handle_message`` -> ``OrderBook`` -> ``CandleAggregator`` -> ``SqliteStore``
(when given one). The fuzzer plays the venue's side of a resync (acks, then a fresh snapshot).

What it tallies (``Expect``) is what the feed's counters must show; ``truth`` keeps the venue's
book as of each seqId so a caller can check the feed's book against it whenever it is live.
Used by tests/feeds/okx/test_fuzz.py and bench/feed_fuzz.py.
"""

from __future__ import annotations

import math
import random
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from desk.core.bus import Bus
from desk.core.clock import NS_PER_MS, TestClock
from desk.core.events import Candle, SystemEvent, Trade
from desk.core.topics import SYSTEM_EVENTS, market_data
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed, SubscribeBudget
from desk.feeds.okx.sync import SyncState
from desk.feeds.okx.wire import channel_of
from desk.market.candles import CandleAggregator
from desk.sim.instruments import DEFAULT_INSTRUMENTS
from desk.sim.market import SyntheticMarket
from desk.sim.okx.streams import Hub, InstrumentStreams

BTC = "BTC-USDT"
START_MS = 1_704_186_000_000  # 2024-01-02T09:00:00Z
STEP_MS = 20
STEPS_PER_CYCLE = 3
RECV_DELAY_NS = 3 * NS_PER_MS
TICK_EVERY = 50  # cycles between the feed's once-a-second chores (band re-centring)
BIG = "1" * 200_000  # a 200 kB number

BAD_PRICES = ("NaN", "nan", "inf", "-inf", "Infinity", "-1", "0", "1e308", "", "abc", BIG)
BAD_LETTER_SIZES = ("NaN", "inf", "Infinity", "abc", BIG)
BAD_SIZES = ("NaN", "inf", "-1", "-0.5", "", "abc", BIG)
FAR_TIMES = ("99999999999999", "1640995200000", "0", "1")  # year 5138, 2022, 1970
UNKNOWN_CHANNEL = {"trades": "trades-all", "tickers": "tickersX", "books": "books50-l2-tbt"}

_TRADE_FIELD = {"price": rb'"px":"[^"]*"', "size": rb'"sz":"[^"]*"'}
_TICKER_FIELD = {
    "price": rb'"(?:last|askPx|bidPx)":"[^"]*"',
    "size": rb'"(?:lastSz|bidSz)":"[^"]*"',
}
_LEVEL = rb'\["([^"]*)","([^"]*)"'
_TS = rb'"ts":"[^"]*"'
_LEVEL_TAIL = re.compile(rb',"[0-9]+","[0-9]+"\]')  # the two trailing fields of every level


@dataclass
class Expect:
    """What the fuzzer sent, by the outcome each frame must have."""

    frames: int = 0
    corrupted: int = 0
    malformed: int = 0
    values: int = 0
    timestamps: int = 0
    unknown_channels: int = 0
    unknown_symbols: int = 0
    duplicate_trades: int = 0
    breaks: int = 0
    reshaped: int = 0  # good books frames with levels of another length ([px, sz])
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def decode_errors(self) -> int:
        return self.malformed + self.values + self.timestamps


class _Collector:
    """Stands in for a WebSocket connection of the simulator: keeps what would be sent."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def send(self, data: bytes, is_push: bool = True) -> None:
        self.frames.append(data)

    def drain(self) -> list[bytes]:
        frames, self.frames = self.frames, []
        return frames


def _replace_one(
    frame: bytes, pattern: bytes, rng: random.Random, make: Callable[..., bytes]
) -> bytes | None:

    found = list(re.finditer(pattern, frame))
    if not found:
        return None
    hit = rng.choice(found)
    return frame[: hit.start()] + make(hit) + frame[hit.end() :]


class FeedFuzzer:
    """Drives the simulator's streams and feeds their frames, some corrupted, to a real feed."""

    def __init__(
        self,
        seed: int,
        share: float = 0.25,
        *,
        timeframes: tuple[str, ...] = ("1s", "1m"),
        on_candle: Callable[[Candle], None] | None = None,
        on_system: Callable[[Any], None] | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.share = share
        spec = next(s for s in DEFAULT_INSTRUMENTS if s.inst_id == BTC)
        market = SyntheticMarket([spec], seed=seed)
        self.hub = Hub()
        self.streams = InstrumentStreams(market.markets[BTC], self.hub, seed, checksum=False)
        self._conn = _Collector()
        for channel in ("books", "trades", "tickers"):
            self.hub.add((channel, BTC), self._conn)  # type: ignore[arg-type]
        self.market = market
        self.bus = Bus()
        self.sent: list[str] = []
        self.feed = OkxFeed(
            OkxConfig(), [BTC], ["books", "trades", "tickers"], self.bus, send=self.sent.append
        )
        # OKX allows 480 (un)subscribes an hour; the fuzzer packs hours of resyncs into seconds
        self.feed._budget = SubscribeBudget(limit=1 << 60)
        self.ts_ms = START_MS
        self.clock = TestClock(self.recv_ns)
        self.candles: list[Candle] = []
        self.trades: list[Trade] = []
        self.events: list[SystemEvent] = []
        self._on_candle = on_candle
        self.candle_agg = CandleAggregator("okx", BTC, timeframes, self.clock, self._candle)
        self.bus.subscribe(market_data(BTC), self._market)
        self.bus.subscribe(SYSTEM_EVENTS, self._system)
        if on_system is not None:
            self.bus.subscribe(SYSTEM_EVENTS, on_system)
        self.expect = Expect()
        self.truth: OrderedDict[int, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = (
            OrderedDict()
        )
        self.book_checks = 0
        self.cycles = 0
        self._good_trades: list[bytes] = []
        self._started = False

    @property
    def recv_ns(self) -> int:
        return self.ts_ms * NS_PER_MS + RECV_DELAY_NS

    # --- the venue's side ---------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe: acks for every channel, then the books snapshot (as the simulator does)."""
        self.streams.start(self.ts_ms / 1000, self.ts_ms)
        for channel in ("books", "trades", "tickers"):
            self._deliver(_ack("subscribe", channel))
        self._remember_truth()
        self._deliver(self.streams.snapshot())
        self._started = True

    def run(self, frames: int) -> None:
        """Run cycles until at least ``frames`` frames have been fed."""
        if not self._started:
            self.start()
        while self.expect.frames < frames:
            self.cycle()

    def cycle(self) -> None:
        """Step the market, publish, feed every frame (maybe corrupted), answer resyncs."""
        self.cycles += 1
        self.ts_ms += STEP_MS
        for _ in range(STEPS_PER_CYCLE):
            self.market.step(self.ts_ms)
        now = self.ts_ms / 1000
        self.streams.publish_fast(now, self.ts_ms, 60.0)
        self.streams.publish_books(now, self.ts_ms, 60.0)
        self._remember_truth()
        for frame in self._conn.drain():
            roll = self.rng.random()
            if roll < self.share:
                frame = self._corrupt(frame)
            elif frame.startswith(b'{"arg":{"channel":"trades"'):
                self._good_trades.append(frame)
            elif roll < self.share * 1.1 and frame.startswith(b'{"arg":{"channel":"books"'):
                frame, levels = _LEVEL_TAIL.subn(b"]", frame)  # [px, sz]: still a good frame
                self.expect.reshaped += levels > 0
            self._deliver(frame)
        self.clock.set_ns(self.recv_ns)
        self.candle_agg.on_clock()
        if self.cycles % TICK_EVERY == 0:
            self.feed.tick()
        self._check_book()

    def _deliver(self, frame: bytes) -> None:
        self.expect.frames += 1
        self.clock.set_ns(self.recv_ns)
        self.feed.handle_message(frame, self.recv_ns)
        if self.sent:
            self._answer_requests()

    def _answer_requests(self) -> None:
        requests, self.sent[:] = list(self.sent), []
        for text in requests:
            request = msgspec.json.decode(text)
            for arg in request["args"]:
                self._deliver(_ack(request["op"], arg["channel"]))
                if request["op"] == "subscribe" and arg["channel"] == "books":
                    self._deliver(self.streams.snapshot())

    def _remember_truth(self) -> None:
        self.truth[self.streams.books_seq.last] = self.streams.book.raw()
        while len(self.truth) > 64:
            self.truth.popitem(last=False)

    def _check_book(self) -> None:
        """Whenever the feed's book is live it is the venue's book as of its seqId."""
        sync = self.feed.keeper.syncs[BTC]
        if sync.state is not SyncState.LIVE:
            return
        book = self.feed.books[BTC]
        expected = self.truth.get(book.seq_id)
        assert expected is not None, f"the feed's book is at seqId {book.seq_id}, never sent"
        bids, asks = expected
        assert book.raw_bids() == bids and book.raw_asks() == asks, (
            f"book at seqId {book.seq_id} differs from the venue's"
        )
        self.book_checks += 1

    # --- what the feed publishes ----------------------------------------------------------------

    def _market(self, event: Any) -> None:
        if type(event) is Trade:
            self.trades.append(event)
            self.candle_agg.on_trade(event.ts_exchange, event.price, event.size)

    def _candle(self, candle: Candle) -> None:
        self.candles.append(candle)
        if self._on_candle is not None:
            self._on_candle(candle)

    def _system(self, event: Any) -> None:
        if isinstance(event, SystemEvent):
            self.events.append(event)

    # --- corruption ------------------------------------------------------------------------------

    def _corrupt(self, frame: bytes) -> bytes:
        """A corrupted copy of ``frame``; the outcome it must have is tallied in ``expect``."""
        channel = channel_of(frame) or ""
        rng = self.rng
        kinds = ["truncate", "garbage", "wrong_type", "missing_key", "value", "far_time"]
        kinds += ["unknown_channel", "unknown_symbol"]
        if channel == "books":
            kinds.append("sequence_break")
        if channel == "trades" and self._good_trades:
            kinds.append("replay")
        for _ in range(10):
            kind = rng.choice(kinds)
            bad = self._apply(kind, channel, frame)
            if bad is not None:
                self.expect.corrupted += 1
                self.expect.by_kind[kind] = self.expect.by_kind.get(kind, 0) + 1
                return bad
        return frame  # nothing applicable (a heartbeat, say): sent as it was

    def _apply(self, kind: str, channel: str, frame: bytes) -> bytes | None:
        rng, expect = self.rng, self.expect
        if kind == "truncate":
            expect.malformed += 1
            return frame[: rng.randrange(1, len(frame))]
        if kind == "garbage":
            expect.malformed += 1
            return b"{" + rng.randbytes(rng.randrange(8, 200))
        if kind == "wrong_type":
            expect.malformed += 1
            if rng.random() < 0.5:
                return frame.replace(b'"data":[', b'"data":{', 1)
            return frame.replace(b'"instId":"BTC-USDT"', b'"instId":123', 1)
        if kind == "missing_key":
            bad = _replace_one(frame, rb'"ts":"[^"]*",?', rng, lambda m: b"")
            if bad is not None:
                expect.malformed += 1
            return bad
        if kind == "far_time":
            text = rng.choice(FAR_TIMES).encode()
            bad = _replace_one(frame, _TS, rng, lambda m: b'"ts":"' + text + b'"')
            if bad is not None:
                expect.timestamps += 1
            return bad
        if kind == "unknown_channel":
            expect.unknown_channels += 1
            renamed = UNKNOWN_CHANNEL[channel].encode()
            return frame.replace(
                b'"channel":"' + channel.encode() + b'"', b'"channel":"' + renamed + b'"', 1
            )
        if kind == "unknown_symbol":
            expect.unknown_symbols += 1
            return frame.replace(b"BTC-USDT", b"DOGE-USDT")
        if kind == "sequence_break":
            bad = _replace_one(
                frame,
                rb'"prevSeqId":(-?[0-9]+)',
                rng,
                # far ahead: a break that cannot happen to chain onto an older book
                lambda m: b'"prevSeqId":' + str(int(m.group(1)) + 7_777_777).encode(),
            )
            if bad is not None:
                expect.breaks += 1
            return bad
        if kind == "replay":
            old = rng.choice(self._good_trades[-50:])
            expect.duplicate_trades += old.count(b'"tradeId"')
            return old
        return self._bad_value(channel, frame)

    def _bad_value(self, channel: str, frame: bytes) -> bytes | None:
        """A price or size no market can have, or one far outside the band."""
        rng, expect = self.rng, self.expect
        field_ = rng.choice(("price", "size"))
        if channel == "books":
            # a level's price: always a new price string, parsed and refused; a level's size:
            # letters and oversized strings (see desk.market.book for what a size check covers)
            if field_ == "price":
                text = rng.choice((*BAD_PRICES, "band"))
            else:
                text = rng.choice(BAD_LETTER_SIZES)

            def level(m: Any) -> bytes:
                px, sz = m.group(1), m.group(2)
                value = _band(px) if text == "band" else text.encode()
                if field_ == "price":
                    return b'["' + value + b'","' + sz + b'"'
                return b'["' + px + b'","' + value + b'"'

            bad = _replace_one(frame, _LEVEL, rng, level)
        else:
            text = rng.choice((*BAD_PRICES, "band")) if field_ == "price" else rng.choice(BAD_SIZES)
            pattern = (_TRADE_FIELD if channel == "trades" else _TICKER_FIELD)[field_]

            def value(m: Any) -> bytes:
                key = m.group(0).split(b":", 1)[0]
                number = m.group(0).split(b":", 1)[1].strip(b'"')
                text_ = _band(number) if text == "band" else text.encode()
                return key + b':"' + text_ + b'"'

            if channel == "tickers" and text == "":
                return None  # an empty ticker field means "not known": not an error
            bad = _replace_one(frame, pattern, rng, value)
        if bad is not None:
            expect.values += 1
        return bad


def _band(number: bytes) -> bytes:
    """A price a thousand times the real one: far outside any sane band."""
    return repr(float(number) * 1000).encode()


def _ack(op: str, channel: str) -> bytes:
    return msgspec.json.encode(
        {"event": op, "arg": {"channel": channel, "instId": BTC}, "connId": "f00dfeed"}
    )


def is_valid_candle_row(row: tuple[Any, ...]) -> bool:
    """A stored candle row (open, high, low, close, volume, quote_volume, trades) that can be."""
    open_, high, low, close, volume, quote, trades = row
    prices = (open_, high, low, close)
    return (
        all(isinstance(p, float) and math.isfinite(p) and 0 < p < 1e12 for p in prices)
        and low <= min(open_, close)
        and max(open_, close) <= high
        and all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in (volume, quote))
        and trades >= 0
    )
