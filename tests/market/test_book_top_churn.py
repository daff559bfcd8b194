"""Churn at the top of the book, on every apply path: the best deleted again and again, prices
coming back above the best (with live and zero sizes, under their own and other spellings),
whole sides deleted and refilled. The book must equal the plain dict model on every step, and
with checksum strings kept, the kept checksum the plain definition (``apply_named`` keeps them
with its own loop, ``apply_named_noting``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from desk.market.book import OrderBook
from desk.market.checksum import okx_checksum
from tests.market.test_book_named import named

pytestmark = pytest.mark.usefixtures("book_impl")  # pure and compiled (conftest.py)

Level = tuple[str, str]
Apply = Callable[[OrderBook, list[Level], list[Level], int], None]


def _spell(ticks: int, rng: random.Random) -> str:
    """A price spelt one of three ways: "6000.5", "6000.50", "6000.500"."""
    whole, frac = divmod(ticks, 10)
    return f"{whole}.{frac}" + "0" * rng.randint(0, 2)


def _churn(rng: random.Random, model: dict[int, str], is_bid: bool) -> list[Level]:
    """Levels for one side, also applied to ``model`` (ticks -> size); top-heavy."""
    out: dict[int, str] = {}
    spelt: dict[int, str] = {}
    listed = set(model)  # in the book before this message
    for _ in range(rng.randint(0, 8)):
        best = (max(model) if is_bid else min(model)) if model else 60_000
        away = 1 if is_bid else -1
        roll = rng.random()
        if roll < 0.35 and model:  # delete the best (or one near it)
            price = best - away * rng.choice((0, 0, 0, 1, 2))
            # "-1" and "" delete a known price (and are refused at a price never seen)
            known = price in model and price in listed
            out[price] = rng.choice(("0", "0.0", "0.00000000", "-1", "")) if known else "0"
            model.pop(price, None)
        elif roll < 0.6:  # a price just above the best: often a stale one coming back
            price = best + away * rng.randint(1, 4)
            model[price] = out[price] = f"{rng.uniform(0.1, 3):.4f}"
        elif roll < 0.7:  # delete a price above the best that is not there
            price = best + away * rng.randint(1, 6)
            out[price] = "0"
        elif roll < 0.75 and model:  # delete everything on this side
            for price in list(model):
                out[price] = "0"
            model.clear()
        elif model:
            price = rng.choice(list(model))
            model[price] = out[price] = f"{rng.uniform(0.1, 3):.4f}"
        for price in out:
            spelt.setdefault(price, _spell(price, rng))
    order = sorted(out, reverse=is_bid)
    return [(spelt[p], out[p]) for p in order]


def _update(book: OrderBook, b: list[Level], a: list[Level], seq: int) -> None:
    book.apply_update(b, a, seq)


def _pairs(book: OrderBook, b: list[Level], a: list[Level], seq: int) -> None:
    book.apply_pairs(b, a, seq)


def _named(book: OrderBook, b: list[Level], a: list[Level], seq: int) -> None:
    book.apply_named(named(b), named(a), seq)


@pytest.mark.parametrize("checksum", [False, True])
@pytest.mark.parametrize("apply", [_update, _pairs, _named], ids=["update", "pairs", "named"])
@pytest.mark.parametrize("seed", range(3))
def test_top_churn_keeps_the_model_on_every_apply_path(
    seed: int, apply: Apply, checksum: bool
) -> None:
    rng = random.Random(seed)
    bids = {59_990 - i: "1" for i in range(30)}
    asks = {60_010 + i: "1" for i in range(30)}
    book = OrderBook("X")
    book.apply_snapshot(
        [(_spell(p, rng), q) for p, q in sorted(bids.items(), reverse=True)],
        [(_spell(p, rng), q) for p, q in sorted(asks.items())],
        1,
    )
    if checksum:
        book.checksum()
    for step in range(1500):
        b = _churn(rng, bids, True)
        a = _churn(rng, asks, False)
        apply(book, b, a, step + 2)
        want_bids = sorted(bids.items(), reverse=True)
        want_asks = sorted(asks.items())
        got_bids = [(round(p * 10), f"{q:.4f}") for p, q in book.bids()]
        got_asks = [(round(p * 10), f"{q:.4f}") for p, q in book.asks()]
        assert got_bids == [(p, f"{float(q):.4f}") for p, q in want_bids], f"step {step}"
        assert got_asks == [(p, f"{float(q):.4f}") for p, q in want_asks], f"step {step}"
        best_bid = max(bids) / 10 if bids else math.nan
        best_ask = min(asks) / 10 if asks else math.nan
        assert book.best_bid_px == pytest.approx(best_bid, nan_ok=True)
        assert book.best_ask_px == pytest.approx(best_ask, nan_ok=True)
        if checksum:
            assert book.checksum() == okx_checksum(book.raw_bids(), book.raw_asks())
