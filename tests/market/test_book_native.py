"""The compiled book (``desk.market.native``) against the pure Python, its reference.

Two books, one driven by the pure ``OrderBook.apply_named``/``checksum`` and one by the compiled
ones, are fed the same seeded random messages: new prices near and far, size changes, deletes
(of kept, stale and never-seen prices), one price spelt several ways ("8477", "8477.0"), stale
prices revived above the best, enough new prices to compact past ``COMPACT_EVERY``, sizes and
prices the book refuses (ValueError, the same message from both, the books then half applied
alike), snapshots, levels as lists, tuples or iterators of msgspec structs or dataclasses. After
every message both books must hold the same levels, cells, bests and checksum strings, and (when
verified) the same checksum, equal to the plain definition.

Also: the import refuses a stale build, ``DESK_NATIVE=0`` forces the pure Python, and the
switch between the two.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from desk.feeds.okx.wire import BookLevel
from desk.market import book, native, native_sources
from desk.market.book import OrderBook, use_compiled
from desk.market.book_side import COMPACT_EVERY
from desk.market.checksum import okx_checksum
from tests.market.book_twins import assert_same
from tests.market.conftest import require_compiled


@dataclass(frozen=True, slots=True)
class Named:
    """A level read by attribute that is not a msgspec struct (the compiled generic path)."""

    px: str
    sz: str


Methods = tuple[Callable[..., None], Callable[[OrderBook], int]]


def _compiled() -> Methods:
    require_compiled()
    return native.MODULE.methods(OrderBook, book._checksum_afresh_compiled)  # type: ignore[union-attr]


def _spell(tick: int, rng: random.Random) -> str:
    """A price of ``tick`` hundredths, spelt one of several ways."""
    whole, cents = divmod(tick, 100)
    if cents == 0 and rng.random() < 0.5:
        return rng.choice([str(whole), f"{whole}.0", f"{whole}.00"])
    return rng.choice([f"{whole}.{cents:02d}", f"{whole}.{cents:02d}0"])


def _size(rng: random.Random, refuse: bool) -> str:
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(["0", "0.0", "0.00000000"])  # a delete
    if refuse and roll < 0.255:
        return rng.choice(["NaN", "inf", "abc", "-1", "", "+1"])  # refused, or a delete
    return f"{rng.uniform(0.0001, 5):.{rng.randint(0, 8)}f}".rstrip(".") or "1"


class Stream:
    """Random messages around a wandering mid; remembers every tick it has used."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.mid = 5_000_000
        self.seen: list[int] = []
        self.refuse = False  # also sizes and prices the book refuses

    def _tick(self, is_bid: bool) -> int:
        rng = self.rng
        roll = rng.random()
        if self.seen and roll < 0.3:  # a price used before: kept, stale or respelt
            return rng.choice(self.seen[-300:])
        off = 1 + int(rng.expovariate(0.05 if roll < 0.6 else 0.001))
        return self.mid - off if is_bid else self.mid + off

    def _level(self, is_bid: bool) -> tuple[str, str]:
        rng = self.rng
        if self.refuse and rng.random() < 0.002:  # a price the book refuses
            return rng.choice(["nan", "0", "-5", "1e13", "inf"]), "1"
        tick = self._tick(is_bid)
        self.seen.append(tick)
        return _spell(tick, rng), _size(rng, self.refuse)

    def message(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        self.mid += self.rng.randint(-3, 3)
        n_bids, n_asks = self.rng.randint(0, 14), self.rng.randint(0, 14)
        return [self._level(True) for _ in range(n_bids)], [
            self._level(False) for _ in range(n_asks)
        ]

    def snapshot(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        bids = [(_spell(self.mid - 1 - 3 * i, self.rng), "1.5") for i in range(40)]
        asks = [(_spell(self.mid + 1 + 3 * i, self.rng), "2") for i in range(40)]
        return bids, asks


def _shaped(levels: list[tuple[str, str]], shape: int) -> Iterable[object]:
    """The same levels as a list of msgspec structs, a tuple of dataclasses, or an iterator."""
    if shape == 0:
        return [BookLevel(px, sz) for px, sz in levels]
    if shape == 1:
        return tuple(Named(px, sz) for px, sz in levels)
    return (BookLevel(px, sz) for px, sz in levels)


def _apply(apply: Callable[..., None], target: OrderBook, bids, asks, seq: int) -> str | None:
    """Apply one message; the refusal's message, or None."""
    try:
        apply(target, bids, asks, seq, seq * 10)
    except ValueError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _kept(target: OrderBook) -> list:
    """Each side's checksum strings: pieces, keys and floor (None when not kept)."""
    return [
        None if side.ck is None else (side.ck.pieces, side.ck.neg_keys, side.ck.floor)
        for side in (target._bids, target._asks)
    ]


@pytest.mark.parametrize("verify", [False, True, None], ids=["plain", "verified", "mixed"])
@pytest.mark.parametrize("seed", range(4))
def test_compiled_book_is_the_pure_book(seed: int, verify: bool | None) -> None:
    apply_c, checksum_c = _compiled()
    apply_py, checksum_py = book._PURE
    stream = Stream(seed)
    pure, compiled = OrderBook("BTC-USDT"), OrderBook("BTC-USDT")
    refusals = compacted = 0
    resync = False
    for i in range(900):
        if i in (0, 600) or resync:  # a refused message leaves a book half applied: a feed
            bids, asks = stream.snapshot()  # resyncs it (the definition holds again)
            for target in (pure, compiled):
                target.apply_snapshot(bids, asks, i)
        stream.refuse = i >= 600  # the first 600 clean: enough new prices to compact
        bids, asks = stream.message()
        shape = i % 3
        before = compiled._bids.new_prices + compiled._asks.new_prices
        got_py = _apply(apply_py, pure, _shaped(bids, shape), _shaped(asks, shape), i)
        got_c = _apply(apply_c, compiled, _shaped(bids, shape), _shaped(asks, shape), i)
        assert got_c == got_py, f"message {i}: {bids} {asks}"
        resync = got_py is not None
        refusals += resync
        compacted += compiled._bids.new_prices + compiled._asks.new_prices < before
        assert_same(compiled, pure, whole=i % 4 == 0 or resync)  # cells and levels
        assert _kept(compiled) == _kept(pure)
        check = verify if verify is not None else stream.rng.random() < 0.5
        if check and resync:  # half applied: the same checksum, the definition aside
            assert checksum_c(compiled) == checksum_py(pure)
        elif check:
            expected = okx_checksum(pure.raw_bids(25), pure.raw_asks(25))
            assert checksum_c(compiled) == checksum_py(pure) == expected, f"message {i}"
            assert _kept(compiled) == _kept(pure)
    assert refusals > 0 and compacted > 0  # the stream reached both
    assert COMPACT_EVERY < 2000


def test_a_book_changes_hands_between_messages() -> None:
    """Switching implementation mid-stream (what ``use_compiled`` does to every book) keeps the
    book and its checksum: the state is the same data either way."""
    apply_c, checksum_c = _compiled()
    apply_py, checksum_py = book._PURE
    stream = Stream(99)
    mixed, pure = OrderBook("BTC-USDT"), OrderBook("BTC-USDT")
    bids, asks = stream.snapshot()
    for target in (mixed, pure):
        target.apply_snapshot(bids, asks, 0)
    for i in range(1, 600):
        bids, asks = stream.message()
        apply, checksum = (apply_c, checksum_c) if i % 7 < 3 else (apply_py, checksum_py)
        assert _apply(apply, mixed, _shaped(bids, 0), _shaped(asks, 0), i) == _apply(
            apply_py, pure, _shaped(bids, 0), _shaped(asks, 0), i
        )
        assert_same(mixed, pure)
        if i % 2:
            assert checksum(mixed) == checksum_py(pure)


def test_keywords_and_defaults_as_the_pure_method() -> None:
    apply_c, _ = _compiled()
    apply_py, _ = book._PURE
    for apply in (apply_c, apply_py):
        target = OrderBook("BTC-USDT")
        apply(target, asks=[Named("101", "1")], bids=[Named("99", "2")])
        assert (target.best_bid_px, target.best_ask_px, target.seq_id) == (99.0, 101.0, -1)
        apply(target, [Named("100", "1")], [], ts_exchange=7, seq_id=3)
        assert (target.best_bid_px, target.seq_id, target.ts_exchange) == (100.0, 3, 7)
        with pytest.raises(TypeError):
            apply(target, [], [], wrong=1)
        with pytest.raises(TypeError):
            apply(target, [])


def test_use_compiled_switches_every_book() -> None:
    require_compiled()
    was = native.ACTIVE
    try:
        use_compiled(False)
        assert not native.ACTIVE and OrderBook.apply_named is book._PURE[0]
        assert native.describe().startswith("pure Python")
        use_compiled(True)
        assert native.ACTIVE and OrderBook.apply_named is not book._PURE[0]
        assert native.describe().startswith("compiled")
    finally:
        use_compiled(was)


def test_a_stale_build_runs_the_pure_python(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    require_compiled()
    monkeypatch.setattr(native, "source_hash", lambda folder: "edited since the build")
    with caplog.at_level(logging.WARNING, logger=native.__name__):
        module, reason = native._load()
    assert module is None and reason.startswith("stale build")
    assert "pip install -e ." in caplog.text


def test_desk_native_0_forces_the_pure_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_NATIVE", "0")
    assert native._load() == (None, "DESK_NATIVE=0")


def test_the_digest_covers_the_c_and_the_pure_modules(tmp_path: Path) -> None:
    for name in native_sources.SOURCES:
        (tmp_path / name).write_text(f"# {name}\n")
    first = native_sources.source_hash(tmp_path)
    assert first is not None and len(first) == 64
    for name in native_sources.SOURCES:
        (tmp_path / name).write_text(f"# {name}, edited\n")
        assert native_sources.source_hash(tmp_path) != first
    (tmp_path / native_sources.SOURCES[0]).unlink()  # an installed wheel ships no C
    assert native_sources.source_hash(tmp_path) is None
