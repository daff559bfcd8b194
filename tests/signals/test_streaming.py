"""The live updaters give the array kernels' numbers, bar for bar (DESIGN.md section 5).

Series are generated from segments (random walks, flat stretches, jumps of many orders of
magnitude), so they include zero-loss runs for RSI, zero true ranges, zero volume and windows of
very different scales, and optionally NaN holes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.signals import indicators as ind
from desk.signals import streaming as live

NAN = math.nan
PROPERTY = settings(deadline=None, max_examples=100, derandomize=True)


@dataclass(frozen=True)
class Bars:
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def _segment(draw: st.DrawFn) -> list[float]:
    """Log-price steps: a walk, a flat run, or one jump of up to six orders of magnitude."""
    kind = draw(st.sampled_from(["walk", "flat", "jump"]))
    if kind == "walk":
        step = st.floats(-0.05, 0.05, allow_nan=False)
        return draw(st.lists(step, min_size=1, max_size=30))
    if kind == "flat":
        return [0.0] * draw(st.integers(1, 30))
    return [math.log(10.0) * draw(st.integers(-6, 6))]


@st.composite
def bars(draw: st.DrawFn, with_nan: bool = False) -> Bars:
    steps = [s for _ in range(draw(st.integers(0, 8))) for s in _segment(draw)]
    close = 10.0 ** draw(st.integers(-6, 9)) * np.exp(np.cumsum(steps))
    size = len(close)
    spread = np.array(draw(st.lists(st.sampled_from([0.0, 0.001, 0.02]), min_size=size)))[:size]
    volume = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, 2.5e6]), min_size=size)))[:size]
    if draw(st.booleans()):  # signed series too, for the indicators that allow them
        close = close - close[size // 2] if size else close
    if with_nan and size:
        holes = draw(st.lists(st.integers(0, size - 1), max_size=3))
        close[holes] = NAN
    return Bars(close * (1 + spread), close * (1 - spread), close, volume)


def stream(updater: object, *columns: np.ndarray) -> list[object]:
    update = updater.update  # type: ignore[attr-defined]
    return [update(*values) for values in zip(*columns, strict=True)]


LIBM = {"realized_vol"}
"""Indicators whose values go through a libm function (log), which numba may compile to another
implementation than CPython's: equal to 1e-9 there; every other one is equal bit for bit."""


def assert_same(
    batch: np.ndarray | Sequence[np.ndarray], live_out: list[object], name: str = ""
) -> None:
    """Equal NaN positions and equal values: bit for bit (the updaters do the kernels'
    operations in the same order), or to 1e-9 (rtol and atol) for the :data:`LIBM` ones."""
    expected = np.column_stack(batch) if isinstance(batch, tuple) else np.asarray(batch)
    got = np.array(live_out, dtype=float).reshape(expected.shape)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    if name in LIBM:
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    else:
        np.testing.assert_array_equal(got, expected)


def positive(b: Bars) -> Bars:
    return Bars(np.abs(b.high), np.abs(b.low), np.abs(b.close), b.volume)


Case = tuple[Callable[[Bars, int], object], Callable[[int], object], Callable[[Bars], tuple]]

CASES: dict[str, Case] = {
    "sma": (lambda b, n: ind.sma(b.close, n), live.Sma, lambda b: (b.close,)),
    "ema": (lambda b, n: ind.ema(b.close, n), live.Ema, lambda b: (b.close,)),
    "rsi": (lambda b, n: ind.rsi(b.close, n), live.Rsi, lambda b: (b.close,)),
    "macd": (
        lambda b, n: ind.macd(b.close, n, n + 5, max(1, n // 2)),
        lambda n: live.Macd(n, n + 5, max(1, n // 2)),
        lambda b: (b.close,),
    ),
    "bollinger": (
        lambda b, n: ind.bollinger(b.close, n, 1.5),
        lambda n: live.Bollinger(n, 1.5),
        lambda b: (b.close,),
    ),
    "atr": (
        lambda b, n: ind.atr(b.high, b.low, b.close, n),
        live.Atr,
        lambda b: (b.high, b.low, b.close),
    ),
    "vwap": (
        lambda b, n: ind.vwap(b.close, b.volume),
        lambda n: live.Vwap(),
        lambda b: (b.close, b.volume),
    ),
    "vwap-n": (
        lambda b, n: ind.vwap(b.close, b.volume, n),
        live.Vwap,
        lambda b: (b.close, b.volume),
    ),
    "zscore": (lambda b, n: ind.zscore(b.close, n), live.ZScore, lambda b: (b.close,)),
    "realized_vol": (
        lambda b, n: ind.realized_vol(b.close, n + 1, 252.0),
        lambda n: live.RealizedVol(n + 1, 252.0),
        lambda b: (b.close,),
    ),
}


def check_case(name: str, data: Bars, n: int) -> None:
    batch, make, columns = CASES[name]
    if name in {"rsi", "realized_vol"}:
        data = positive(data)
    assert_same(batch(data, n), stream(make(n), *columns(data)), name)


@pytest.mark.parametrize("name", CASES)
@PROPERTY
@given(data=bars(), n=st.integers(1, 25))
def test_streaming_equals_batch(name: str, data: Bars, n: int) -> None:
    check_case(name, data, n)


@pytest.mark.parametrize("name", CASES)
@PROPERTY
@given(data=bars(with_nan=True), n=st.integers(1, 12))
def test_streaming_equals_batch_through_nan(name: str, data: Bars, n: int) -> None:
    check_case(name, data, n)


def test_long_series_stays_in_step() -> None:
    # Many window refreshes and a long recursion: 20k bars of a random walk.
    rng = np.random.default_rng(11)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 20_000)))
    data = Bars(close * 1.001, close * 0.999, close, rng.exponential(1.0, close.size))
    for name in CASES:
        check_case(name, data, 20)


def gappy_bars(size: int, seed: int) -> Bars:
    """A long walk with a flat stretch, a jump of three orders of magnitude and NaN gaps at 60%
    and 80% of the way (after which the recursive indicators read NaN)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.01, size)
    steps[size // 5 : size // 5 + 500] = 0.0
    steps[size // 3] = math.log(1e3)
    close = 100.0 * np.exp(np.cumsum(steps))
    spread = np.abs(rng.normal(0.0, 0.004, size))
    close[[6 * size // 10, 8 * size // 10, 8 * size // 10 + 1]] = NAN
    return Bars(close * (1 + spread), close * (1 - spread), close, rng.exponential(1.0, size))


@pytest.mark.parametrize(
    ("name", "n"),
    [(name, n) for name in ("ema", "rsi", "atr") for n in (1, 2, 14, 200)]
    + [("macd", 3), ("macd", 12)],
)
def test_recursive_indicators_are_bit_identical_live_and_batch(name: str, n: int) -> None:
    # One operation order on both sides (desk.signals.recurrences): the same float64 values,
    # compared with ==, through the whole series, the NaN after a gap, and on a restart after
    # the last gap (a fresh updater against the batch of what follows it).
    data = gappy_bars(40_000, seed=n)
    batch, make, columns = CASES[name]
    assert name not in LIBM
    assert_same(batch(data, n), stream(make(n), *columns(data)), name)
    after = slice(8 * len(data.close) // 10 + 2, None)
    tail = Bars(data.high[after], data.low[after], data.close[after], data.volume[after])
    out = batch(tail, n)
    assert not np.isnan(np.column_stack(out) if isinstance(out, tuple) else out)[-1].any()
    assert_same(out, stream(make(n), *columns(tail)), name)


@PROPERTY
@given(
    levels=st.integers(1, 10).flatmap(
        lambda k: st.lists(
            st.tuples(
                st.lists(st.floats(0, 1e6), min_size=k, max_size=k),
                st.lists(st.floats(0, 1e6), min_size=k, max_size=k),
            ),
            min_size=1,
            max_size=20,
        )
    )
)
def test_book_imbalance_snapshot_equals_batch(
    levels: list[tuple[list[float], list[float]]],
) -> None:
    bids = np.array([b for b, _ in levels])
    asks = np.array([a for _, a in levels])
    assert_same(ind.book_imbalance(bids, asks), [live.book_imbalance(b, a) for b, a in levels])


def test_warm_up_values_and_value_attribute() -> None:
    sma = live.Sma(3)
    assert math.isnan(sma.value)
    out = [sma.update(x) for x in (1, 2, 3, 4)]
    assert math.isnan(out[0]) and math.isnan(out[1]) and out[2:] == [2.0, 3.0]
    assert sma.value == 3.0
    macd = live.Macd()
    outputs = [macd.update(100.0 + i) for i in range(40)]
    assert all(math.isnan(o[0]) for o in outputs[:25]) and not math.isnan(outputs[25][0])
    assert all(math.isnan(o[1]) for o in outputs[:33]) and not math.isnan(outputs[33][1])


def test_reset_forgets_history() -> None:
    vwap = live.Vwap()
    vwap.update(100.0, 5.0)
    vwap.reset()
    assert math.isnan(vwap.value)
    assert vwap.update(200.0, 1.0) == 200.0
    boll = live.Bollinger(2, 1.0)
    for x in (1.0, 5.0):
        boll.update(x)
    boll.reset()
    assert math.isnan(boll.update(7.0)[1])
    assert boll.update(7.0) == (7.0, 7.0, 7.0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: live.Sma(0), "n must be an integer >= 1"),
        (lambda: live.Ema(2.5), "n must be an integer"),
        (lambda: live.Rsi(True), "n must be an integer"),
        (lambda: live.Macd(26, 12), "fast must be shorter"),
        (lambda: live.Bollinger(20, -2.0), "k must be finite"),
        (lambda: live.Atr(-1), "n must be an integer >= 1"),
        (lambda: live.Vwap(0), "n must be an integer >= 1"),
        (lambda: live.ZScore(None), "n must be an integer"),
        (lambda: live.RealizedVol(1), "n must be an integer >= 2"),
        (lambda: live.RealizedVol(5, math.inf), "annualize must be finite"),
    ],
)
def test_constructor_validation(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("n", [1, 7, 20, 4097])
def test_long_series_through_non_finite_values_stays_in_step(n: int) -> None:
    # The batch windows go by chunks of whole windows (about CHUNK values) and slide a chunk
    # whose windows are all finite without a test per value: a NaN exactly on a chunk's first
    # value, alone in its chunk, a run of inf and a lone -inf must read as the updaters do.
    from desk.signals.kernels import CHUNK

    chunk = max(1, CHUNK // n) * n
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 4 * chunk + 100)))
    close[2 * chunk] = np.nan
    close[chunk // 2 : chunk // 2 + 10] = np.inf
    close[3 * chunk + 5] = -np.inf
    data = Bars(close * 1.001, close * 0.999, close, rng.exponential(1.0, close.size))
    for name in ("sma", "bollinger", "zscore", "vwap-n", "realized_vol"):
        batch, make, columns = CASES[name]
        assert_same(batch(data, n), stream(make(n), *columns(data)), name)
