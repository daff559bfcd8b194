"""Array indicators against the published definitions, hand-computed values and worked examples.

The StockCharts ChartSchool worked examples (cs-rsi.xls, cs-bbands.xls, cs-atr.xls, published
beside each indicator's definition on chartschool.stockcharts.com) are the outside reference:
numbers computed by the definition's publisher, not by us.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from desk.signals import indicators as ind
from desk.signals import recurrences

NAN = math.nan
PROPERTY = settings(deadline=None, max_examples=100, derandomize=True)


def floats(text: str) -> np.ndarray:
    return np.array(text.split(), dtype=float)


def walk(size: int, seed: int = 7, start: float = 100.0) -> np.ndarray:
    """A deterministic geometric random walk, like a close series."""
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(0.0, 0.01, size)))


def ohlc(size: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    close = walk(size, seed)
    high = close * (1.0 + np.abs(rng.normal(0.0, 0.004, size)))
    low = close * (1.0 - np.abs(rng.normal(0.0, 0.004, size)))
    return high, low, close


def leading_nans(a: np.ndarray) -> int:
    """How many NaN values the array starts with, asserting none come after them."""
    defined = np.flatnonzero(~np.isnan(a))
    first = int(defined[0]) if defined.size else len(a)
    assert not np.isnan(a[first:]).any(), "NaN after the warm-up on clean data"
    return first


# --- StockCharts ChartSchool worked examples --------------------------------------------------

RSI_CLOSE = floats("""
    44.3389 44.0902 44.1497 43.6124 44.3278 44.8264 45.0955 45.4245 45.8433 46.0826 45.8931
    46.0328 45.6140 46.2820 46.2820 46.0028 46.0328 46.4116 46.2222 45.6439 46.2122 46.2521
    45.7137 46.4515 45.7835 45.3548 44.0288 44.1783 44.2181 44.5672 43.4205 42.6628 43.1314""")
RSI_14 = floats("""
    70.5328 66.3186 66.5498 69.4063 66.3552 57.9749 62.9296 63.2571 56.0593 62.3771 54.7076
    50.4228 39.9898 41.4605 41.8689 45.4632 37.3040 33.0795 37.7730""")

BB_CLOSE = floats("""
    86.1557 89.0867 88.7829 90.3228 89.0671 91.1453 89.4397 89.1750 86.9302 87.6752 86.9596
    89.4299 89.3221 88.7241 87.4497 87.2634 89.4985 87.9006 89.1260 90.7043 92.9001 92.9784
    91.8021 92.6647 92.6843 92.3021 92.7725 92.5373 92.9490 93.2039 91.0669 89.8318 89.7435
    90.3994 90.7387 88.0177 88.0867 88.8439 90.7781 90.5416 91.3894 90.6500""")
BB_MIDDLE = floats("""
    88.70794 89.04516 89.239745 89.390705 89.5078 89.68866 89.7465 89.91314 90.081255
    90.382195 90.65863 90.863995 90.88409 90.90516 90.988925 91.153375 91.19109 91.1205
    91.167665 91.25027 91.242135 91.1666 91.05018""")
BB_UPPER = floats("""
    91.291862 91.949268 92.612595 92.9342 93.31195 93.72845 93.899592 94.266255 94.565096
    94.786912 95.043001 94.907605 94.902912 94.89532 94.861013 94.673629 94.556593 94.678752
    94.575786 94.534271 94.532306 94.369251 94.148503""")
BB_LOWER = floats("""
    86.124018 86.141052 85.866895 85.84721 85.70365 85.64887 85.593408 85.560025 85.597414
    85.977478 86.274259 86.820385 86.865268 86.915 87.116837 87.633121 87.825587 87.562248
    87.759544 87.966269 87.951964 87.963949 87.951857""")

ATR_HIGH = floats("""
    48.70 48.72 48.90 48.87 48.82 49.05 49.20 49.35 49.92 50.19 50.12 49.66 49.88 50.19 50.36
    50.57 50.65 50.43 49.63 50.33 50.29 50.17 49.32 48.50 48.3201 46.80 47.80 48.39 48.66 48.79""")
ATR_LOW = floats("""
    47.79 48.14 48.39 48.37 48.24 48.635 48.94 48.86 49.50 49.87 49.20 48.90 49.43 49.725 49.26
    50.09 50.30 49.21 48.98 49.61 49.20 49.43 48.08 47.64 41.55 44.2833 47.31 47.20 47.90
    47.7301""")
ATR_CLOSE = floats("""
    48.16 48.61 48.75 48.63 48.74 49.03 49.07 49.32 49.91 50.13 49.53 49.50 49.75 50.03 50.31
    50.52 50.41 49.34 49.37 50.23 49.2375 49.93 48.43 48.18 46.57 45.41 47.77 47.72 48.62 47.85""")
ATR_TR = floats("""
    0.91 0.58 0.51 0.50 0.58 0.415 0.26 0.49 0.60 0.32 0.93 0.76 0.45 0.465 1.10 0.48 0.35 1.22
    0.65 0.96 1.09 0.9325 1.85 0.86 6.7701 2.5167 2.39 1.19 0.94 1.0599""")
# StockCharts' ATR column: Wilder's own start, the mean of TR_0..TR_13 at index 13.
ATR_14_WILDER = floats("""
    0.555 0.593929 0.585791 0.568949 0.615452 0.61792 0.642354 0.674329 0.69277 0.775429
    0.78147 1.209229 1.30262 1.38029 1.366698 1.336219 1.316482""")


def test_rsi_reproduces_the_stockcharts_worked_example() -> None:
    out = ind.rsi(RSI_CLOSE, 14)
    assert leading_nans(out) == 14
    np.testing.assert_allclose(out[14:], RSI_14, atol=5e-5)


def test_bollinger_reproduces_the_stockcharts_worked_example() -> None:
    upper, middle, lower = ind.bollinger(BB_CLOSE, 20, 2.0)
    assert leading_nans(middle) == 19
    np.testing.assert_allclose(middle[19:], BB_MIDDLE, atol=5e-6)
    np.testing.assert_allclose(upper[19:], BB_UPPER, atol=5e-6)
    np.testing.assert_allclose(lower[19:], BB_LOWER, atol=5e-6)


def test_true_range_reproduces_the_stockcharts_column() -> None:
    tr = ind.true_range(ATR_HIGH, ATR_LOW, ATR_CLOSE)
    np.testing.assert_allclose(tr, ATR_TR, atol=1e-9)


def wilder_smooth(seed: float, values: np.ndarray, n: int) -> list[float]:
    out = [seed]
    for v in values:
        out.append((out[-1] * (n - 1) + v) / n)
    return out


def test_atr_differs_from_stockcharts_only_by_the_documented_start() -> None:
    # Same smoothing from Wilder's start reproduces the published column ...
    wilder = wilder_smooth(ATR_TR[:14].mean(), ATR_TR[14:], 14)
    np.testing.assert_allclose(wilder, ATR_14_WILDER, atol=5e-7)
    # ... and ours starts one bar later, on TR_1..TR_14, as TA-Lib does.
    out = ind.atr(ATR_HIGH, ATR_LOW, ATR_CLOSE, 14)
    assert leading_nans(out) == 14
    np.testing.assert_allclose(out[14:], wilder_smooth(ATR_TR[1:15].mean(), ATR_TR[15:], 14))


# --- hand-computed values ----------------------------------------------------------------------


def test_sma_of_arange() -> None:
    np.testing.assert_array_equal(ind.sma(np.arange(10.0), 3), [NAN, NAN, *range(1, 9)])
    np.testing.assert_array_equal(ind.sma(np.arange(5.0), 1), np.arange(5.0))


def test_ema_by_hand() -> None:
    # alpha = 2/(3+1) = 0.5; seed = mean(2, 4, 6) = 4; then 4+(8-4)/2, 6+(4-6)/2, 5+(10-5)/2.
    np.testing.assert_array_equal(ind.ema([2, 4, 6, 8, 4, 10], 3), [NAN, NAN, 4, 6, 5, 7.5])


def test_ema_is_seeded_with_the_sma_then_follows_pandas_recursion() -> None:
    x, n = walk(300), 10
    out = ind.ema(x, n)
    assert out[n - 1] == ind.sma(x, n)[n - 1]
    seeded = pd.Series(np.concatenate([[x[:n].mean()], x[n:]]))
    expected = seeded.ewm(span=n, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(out[n - 1 :], expected, rtol=1e-12)


def rsi_by_definition(close: list[Fraction], n: int) -> list[Fraction]:
    """Wilder's RSI in exact arithmetic, written from the definition."""
    changes = [b - a for a, b in itertools.pairwise(close)]
    gains = [max(d, Fraction(0)) for d in changes]
    losses = [max(-d, Fraction(0)) for d in changes]
    avg_g, avg_l = sum(gains[:n]) / n, sum(losses[:n]) / n
    out = []
    for i in range(n, len(changes) + 1):
        if i > n:
            avg_g = (avg_g * (n - 1) + gains[i - 1]) / n
            avg_l = (avg_l * (n - 1) + losses[i - 1]) / n
        if avg_l == 0:
            out.append(Fraction(50 if avg_g == 0 else 100))
        else:
            out.append(100 - 100 / (1 + avg_g / avg_l))
    return out


def test_rsi_by_hand() -> None:
    close = ["10", "11", "10.5", "12", "11", "11.5", "13"]
    # First averages (index 3): gains (1, 0, 1.5)/3, losses (0, 0.5, 0)/3 -> RS 5 -> 83.33.
    exact = rsi_by_definition([Fraction(c) for c in close], 3)
    out = ind.rsi([float(c) for c in close], 3)
    assert out[3] == pytest.approx(100 - 100 / 6, abs=1e-12)
    np.testing.assert_allclose(out[3:], [float(v) for v in exact], rtol=1e-13)
    assert leading_nans(out) == 3


@pytest.mark.parametrize(
    ("close", "expected"),
    [([5.0] * 10, 50.0), (list(range(10)), 100.0), (list(range(10, 0, -1)), 0.0)],
    ids=["flat-50", "no-losses-100", "no-gains-0"],
)
def test_rsi_edges(close: list[float], expected: float) -> None:
    out = ind.rsi(close, 4)
    np.testing.assert_array_equal(out[4:], expected)


def test_macd_is_composed_of_the_emas() -> None:
    x = walk(200)
    line, signal, hist = ind.macd(x)
    assert (leading_nans(line), leading_nans(signal), leading_nans(hist)) == (25, 33, 33)
    np.testing.assert_array_equal(line, ind.ema(x, 12) - ind.ema(x, 26))
    np.testing.assert_array_equal(signal[25:], ind.ema(line[25:], 9))
    np.testing.assert_array_equal(hist, line - signal)


def test_bollinger_by_hand_and_population_std() -> None:
    upper, middle, lower = ind.bollinger([1.0, 2.0, 3.0, 4.0], 4, 2.0)
    std = math.sqrt(1.25)  # population std of 1..4
    assert (upper[3], middle[3], lower[3]) == pytest.approx((2.5 + 2 * std, 2.5, 2.5 - 2 * std))


@pytest.mark.parametrize("value", [0.1, 7.0, 123456.789, -3e-7])
def test_bollinger_of_a_constant_series_has_exactly_zero_width(value: float) -> None:
    upper, middle, lower = ind.bollinger(np.full(60, value), 20)
    np.testing.assert_array_equal(upper[19:], value)
    np.testing.assert_array_equal(middle[19:], value)
    np.testing.assert_array_equal(lower[19:], value)


def test_vwap_by_hand() -> None:
    price, volume = [10.0, 11.0, 12.0, 13.0], [1.0, 3.0, 0.0, 4.0]
    cumulative = [10.0, 43 / 4, 43 / 4, 95 / 8]
    np.testing.assert_allclose(ind.vwap(price, volume), cumulative, rtol=1e-15)
    np.testing.assert_allclose(ind.vwap(price, volume, 2), [NAN, 43 / 4, 11.0, 13.0], rtol=1e-15)


def test_vwap_without_volume_is_nan() -> None:
    price, volume = [10.0, 11.0, 12.0, 13.0], [0.0, 0.0, 0.0, 2.0]
    np.testing.assert_array_equal(ind.vwap(price, volume), [NAN, NAN, NAN, 13.0])
    np.testing.assert_array_equal(ind.vwap(price, volume, 2), [NAN, NAN, NAN, 13.0])


def test_zscore_by_hand_and_flat() -> None:
    out = ind.zscore([1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0], 4)
    assert out[3] == pytest.approx(1.5 / math.sqrt(1.25), rel=1e-14)
    assert out[6] == 0.0  # the window (4, 4, 4, 4) is flat
    assert leading_nans(out) == 3


def test_realized_vol_is_the_sample_std_of_log_returns() -> None:
    close, n = walk(400), 30
    returns = np.diff(np.log(close))
    windows = sliding_window_view(returns, n)
    expected = windows.std(axis=1, ddof=1) * math.sqrt(365)
    out = ind.realized_vol(close, n, annualize=365)
    assert leading_nans(out) == n
    np.testing.assert_allclose(out[n:], expected, rtol=1e-9)


def test_realized_vol_of_non_positive_prices_is_nan() -> None:
    close = walk(20)
    close[10] = 0.0
    out = ind.realized_vol(close, 3)
    assert np.isnan(out[10:14]).all()  # windows holding a return into or out of the zero
    assert not np.isnan(out[14:]).any()


def test_book_imbalance_by_hand() -> None:
    np.testing.assert_array_equal(
        ind.book_imbalance([3.0, 1.0, 2.0, 0.0], [1.0, 3.0, 2.0, 0.0]), [0.5, -0.5, 0.0, NAN]
    )
    bids = [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]
    asks = [[2.0, 2.0, 0.0], [1.0, 0.0, 0.0]]
    np.testing.assert_array_equal(ind.book_imbalance(bids, asks), [2 / 10, -1.0])


@pytest.mark.parametrize("n", [1, 2, 3, 9, 12, 14, 20, 26, 50, 200, 1000])
def test_recurrence_weights_sum_to_exactly_one(n: int) -> None:
    # So a constant input is held (within an ulp: see the next test) rather than drifting away
    # by tens of ulps; each weight is the textbook one to within 2**-54.
    alpha, beta = recurrences.ema_weights(n)
    k1, k2 = recurrences.wilder_weights(n)
    assert Fraction(alpha) + Fraction(beta) == 1 and Fraction(k1) + Fraction(k2) == 1
    assert abs(Fraction(alpha) - Fraction(2, n + 1)) <= Fraction(1, 2**54)
    assert abs(Fraction(k2) - Fraction(1, n)) <= Fraction(1, 2**54)


@pytest.mark.parametrize("n", [1, 2, 3, 12, 14, 26, 200])
def test_recursions_hold_a_constant_series_within_an_ulp(n: int) -> None:
    # A flat market (no trades: the last price repeated) must read flat: the EMA stays on the
    # price and the ATR on the bar's constant range, to the last bit or one ulp off it.
    for value in 10.0 ** np.random.default_rng(n).uniform(-6, 9, 40):
        x = np.full(3 * n + 30, value)
        ulp = np.spacing(value)
        assert np.abs(ind.ema(x, n)[n - 1 :] - value).max() <= ulp
        line = ind.macd(x, max(1, n // 2), n + 1, 2)[0]
        assert np.abs(line[n:]).max() <= ulp
        width = 0.02 * value  # high - low, and the largest of the true range's three terms
        atr = ind.atr(x + width / 2, x - width / 2, x, n)[n:]
        assert np.abs(atr - atr[0]).max() <= np.spacing(atr[0])


# --- definitions against independent references, on random data ------------------------------


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40))
def test_window_indicators_match_direct_window_computations(seed: int, n: int) -> None:
    x = walk(150, seed)
    windows = sliding_window_view(x, n)
    mean, std = windows.mean(axis=1), windows.std(axis=1)
    upper, middle, _ = ind.bollinger(x, n, 1.5)
    np.testing.assert_allclose(ind.sma(x, n)[n - 1 :], mean, rtol=1e-12)
    np.testing.assert_allclose(middle[n - 1 :], mean, rtol=1e-12)
    np.testing.assert_allclose(upper[n - 1 :] - middle[n - 1 :], 1.5 * std, rtol=1e-6, atol=1e-9)
    z = ind.zscore(x, n)[n - 1 :]
    expected = np.divide(x[n - 1 :] - mean, std, out=np.zeros_like(std), where=std > 0)
    np.testing.assert_allclose(z, expected, rtol=1e-6, atol=1e-6)


def atr_by_definition(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    tr = [
        max(h - lo, abs(h - cp), abs(lo - cp))
        for h, lo, cp in zip(high[1:], low[1:], close[:-1], strict=True)
    ]
    out = np.full(len(close), NAN)
    out[n:] = wilder_smooth(sum(tr[:n]) / n, np.array(tr[n:]), n)
    return out


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30))
def test_atr_and_rsi_match_their_definitions(seed: int, n: int) -> None:
    high, low, close = ohlc(120, seed)
    np.testing.assert_allclose(
        ind.atr(high, low, close, n), atr_by_definition(high, low, close, n), rtol=1e-9
    )
    exact = rsi_by_definition([Fraction(c) for c in close], n)
    np.testing.assert_allclose(ind.rsi(close, n)[n:], [float(v) for v in exact], rtol=1e-9)


def test_windows_forget_rounding_error_within_two_windows() -> None:
    # Huge values then tiny ones: a purely slid sum would carry ~1e-4 of error for ever.
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1e12, 1000), rng.normal(5e-3, 1e-3, 1000)])
    n = 10
    out = ind.bollinger(x, n, 2.0)
    windows = sliding_window_view(x, n)
    start = 1000 + 2 * n - 1
    np.testing.assert_allclose(out[1][start:], windows.mean(axis=1)[start - n + 1 :], rtol=1e-12)
    width = out[0][start:] - out[1][start:]
    np.testing.assert_allclose(width, 2 * windows.std(axis=1)[start - n + 1 :], rtol=1e-9)


# --- warm-up, NaN, validation ----------------------------------------------------------------


WARM_UP = {
    "sma": (lambda h, lo, c, v, n: ind.sma(c, n), lambda n: n - 1),
    "ema": (lambda h, lo, c, v, n: ind.ema(c, n), lambda n: n - 1),
    "rsi": (lambda h, lo, c, v, n: ind.rsi(c, n), lambda n: n),
    "bollinger": (lambda h, lo, c, v, n: ind.bollinger(c, n)[0], lambda n: n - 1),
    "atr": (lambda h, lo, c, v, n: ind.atr(h, lo, c, n), lambda n: n),
    "vwap": (lambda h, lo, c, v, n: ind.vwap(c, v), lambda n: 0),
    "vwap-n": (lambda h, lo, c, v, n: ind.vwap(c, v, n), lambda n: n - 1),
    "zscore": (lambda h, lo, c, v, n: ind.zscore(c, n), lambda n: n - 1),
    "realized_vol": (lambda h, lo, c, v, n: ind.realized_vol(c, n), lambda n: n),
    "macd-line": (lambda h, lo, c, v, n: ind.macd(c, n, n + 3, 4)[0], lambda n: n + 2),
    "macd-signal": (lambda h, lo, c, v, n: ind.macd(c, n, n + 3, 4)[1], lambda n: n + 5),
}


@pytest.mark.parametrize("name", WARM_UP)
@pytest.mark.parametrize("n", [2, 3, 14, 50])
def test_warm_up_nan_positions(name: str, n: int) -> None:
    high, low, close = ohlc(80)
    volume = np.ones(80)
    call, first = WARM_UP[name]
    out = call(high, low, close, volume, n)
    assert out.dtype == np.float64
    assert out.shape == (80,)
    assert leading_nans(out) == min(first(n), 80)


@pytest.mark.parametrize("name", WARM_UP)
def test_short_and_empty_inputs(name: str) -> None:
    call, first = WARM_UP[name]
    empty = np.array([])
    assert call(empty, empty, empty, empty, 5).shape == (0,)
    assert leading_nans(call(*[np.ones(3)] * 4, 5)) == min(first(5), 3)


def test_nan_leaves_windows_but_stays_in_recursions() -> None:
    x = walk(60)
    x[20] = NAN
    sma = ind.sma(x, 5)
    assert np.isnan(sma[20:25]).all()
    assert not np.isnan(sma[25:]).any()
    np.testing.assert_allclose(sma[25:], sliding_window_view(x[21:], 5).mean(axis=1))
    assert np.isnan(ind.ema(x, 5)[20:]).all()
    assert np.isnan(ind.rsi(x, 5)[20:]).all()


def test_returns_new_float64_arrays_and_accepts_lists_and_ints() -> None:
    x = np.arange(10, dtype=np.int32)
    out = ind.sma(x, np.int64(2))
    assert out.dtype == np.float64
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(ind.sma(x[::2], 2), ind.sma(list(x[::2]), 2))


BAD_CALLS = {
    "2-D": (lambda: ind.sma(np.ones((3, 3)), 2), "must be 1-D"),
    "scalar": (lambda: ind.ema(5.0, 2), "must be 1-D"),
    "text": (lambda: ind.rsi(["a", "b"], 2), "numeric"),
    "n=0": (lambda: ind.sma([1.0, 2.0], 0), "n must be an integer >= 1"),
    "n<0": (lambda: ind.zscore([1.0, 2.0], -3), "n must be an integer >= 1"),
    "n float": (lambda: ind.ema([1.0, 2.0], 2.0), "n must be an integer"),
    "n bool": (lambda: ind.sma([1.0, 2.0], True), "n must be an integer"),
    "lengths": (lambda: ind.atr([1.0, 2.0], [1.0], [1.0, 2.0]), "same length"),
    "vwap lengths": (lambda: ind.vwap([1.0, 2.0], [1.0]), "same length"),
    "macd order": (lambda: ind.macd([1.0], 26, 12), "fast must be shorter"),
    "macd signal": (lambda: ind.macd([1.0], signal=0), "signal must be"),
    "k<0": (lambda: ind.bollinger([1.0], 2, -1.0), "k must be finite"),
    "k nan": (lambda: ind.bollinger([1.0], 2, NAN), "k must be finite"),
    "vol n=1": (lambda: ind.realized_vol([1.0, 2.0], 1), "n must be an integer >= 2"),
    "annualize": (lambda: ind.realized_vol([1.0, 2.0], 2, 0.0), "annualize must be"),
    "book shape": (lambda: ind.book_imbalance([[1.0, 2.0]], [[1.0]]), "differ in shape"),
    "book 3-D": (lambda: ind.book_imbalance(np.ones((2, 2, 2)), np.ones((2, 2, 2))), "1-D or 2-D"),
}


@pytest.mark.parametrize("name", BAD_CALLS)
def test_input_validation(name: str) -> None:
    call, message = BAD_CALLS[name]
    with pytest.raises(ValueError, match=message):
        call()


def test_importing_the_api_does_not_import_numba() -> None:
    code = (
        "import sys, desk.signals.indicators, desk.signals.streaming; print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
