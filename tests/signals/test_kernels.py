"""Long series through the kernels' blocked paths: the numbers must not depend on where a
block or chunk boundary falls.

The kernels work a block or chunk at a time (rolling windows by chunks, a fast path for clean
chunks and a general one for chunks holding a NaN or values outside the fast divisions' range),
so short series never reach the boundaries. These series do, with the special cases placed
on and around them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from numba import njit
from numpy.lib.stride_tricks import sliding_window_view

from desk.signals import indicators as ind
from desk.signals import kernels, recurrences
from desk.signals import streaming as live
from desk.signals.kernels_ops import fma

NAN = math.nan
Fma = Callable[[float, float, float], float]


def walk(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, size)))


def streamed(updater: live.Rsi | live.Sma | live.Bollinger, x: np.ndarray) -> np.ndarray:
    return np.array([updater.update(v) for v in x], dtype=float)


RUN = 512
"""A long run of bars (RSI once went by blocks of this many; long runs still matter)."""


def test_rsi_reads_50_then_100_through_many_blocks() -> None:
    block = RUN
    flat = np.full(3 * block + 5, 42.0)
    rising = 42.0 + np.arange(1, 3 * block + 1, dtype=float)
    out = ind.rsi(np.concatenate([flat, rising]), 14)
    assert np.isnan(out[:14]).all()
    np.testing.assert_array_equal(out[14 : flat.size], 50.0)
    np.testing.assert_array_equal(out[flat.size :], 100.0)


def test_rsi_is_the_streaming_rsi_across_blocks_and_stays_nan_after_a_nan() -> None:
    x = walk(5 * RUN + 3, seed=5)
    x[4 * RUN + 1] = NAN
    out = ind.rsi(x, 14)
    live_out = streamed(live.Rsi(14), x)
    np.testing.assert_array_equal(out, live_out)  # bit for bit, NaN in the same places
    assert np.isnan(out[4 * RUN + 1 :]).all()


@pytest.mark.parametrize(
    ("close", "next_high", "next_low"),
    [(NAN, 101.0, 99.0), (math.inf, math.inf, 99.0), (-math.inf, 101.0, -math.inf)],
)
def test_atr_goes_nan_on_a_bad_close_as_live_does(
    close: float, next_high: float, next_low: float
) -> None:
    # ATR's loop skips the true range's NaN test while every previous close is finite, and is
    # redone with it otherwise. These are the bars the test exists for: the previous close NaN
    # (|h - cp| and |l - cp| NaN, h - l not), or infinite with a high or low of the same sign
    # (inf - inf in one term, the others infinite). Wilder's average is NaN from there on.
    x = walk(3 * RUN, seed=9)
    h, lo, c = x * 1.001, x * 0.999, x.copy()
    bad = 2 * RUN
    c[bad], h[bad + 1], lo[bad + 1] = close, next_high, next_low
    out = ind.atr(h, lo, c, 14)
    live_atr = live.Atr(14)
    expected = [live_atr.update(*bar) for bar in zip(h, lo, c, strict=True)]
    np.testing.assert_array_equal(out, expected)  # bit for bit, NaN in the same places
    assert not np.isnan(out[14 : bad + 1]).any() and np.isnan(out[bad + 1 :]).all()


def test_atr_equals_live_for_every_length_of_its_last_block() -> None:
    # ATR's loop runs in blocks of 8 bars and the bars past the last whole block on their own;
    # every remainder must be written, and written as the live updater does.
    x = walk(64, seed=3)
    h, lo, c = x * 1.001, x * 0.999, x.copy()
    for size in range(1, 64):
        out = ind.atr(h[:size], lo[:size], c[:size], 14)
        live_atr = live.Atr(14)
        expected = [
            live_atr.update(*bar) for bar in zip(h[:size], lo[:size], c[:size], strict=True)
        ]
        np.testing.assert_array_equal(out, expected, err_msg=f"{size} bars")


def windows_with_gaps(size: int, n: int) -> np.ndarray:
    """A walk with non-finite values on, just before and just after chunk boundaries."""
    x = walk(size, seed=n)
    chunk = max(1, kernels.CHUNK // n) * n
    for at, value in ((chunk - 1, NAN), (2 * chunk, math.inf), (3 * chunk + 1, -math.inf)):
        x[at] = value
    x[4 * chunk + chunk // 2] = NAN  # mid-chunk, recovering mid-block
    return x


@pytest.mark.parametrize("n", [1, 7, 20, 300])
def test_windows_recover_from_non_finite_values_across_chunks(n: int) -> None:
    chunk = max(1, kernels.CHUNK // n) * n
    x = windows_with_gaps(6 * chunk + n // 2, n)
    windows = sliding_window_view(x, n)
    clean = np.isfinite(windows).all(axis=1)
    mean = np.full(x.size, NAN)
    std = np.full(x.size, NAN)
    mean[n - 1 :][clean] = windows[clean].mean(axis=1)
    std[n - 1 :][clean] = windows[clean].std(axis=1)

    sma = ind.sma(x, n)
    upper, middle, _ = ind.bollinger(x, n, 2.0)
    np.testing.assert_array_equal(np.isnan(sma), np.isnan(mean))
    np.testing.assert_allclose(sma, mean, rtol=1e-12)
    np.testing.assert_array_equal(middle, sma)
    np.testing.assert_allclose(upper - middle, 2.0 * std, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(sma, streamed(live.Sma(n), x), rtol=1e-12)


def fma_operands(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Products near a cancelling addend, over the whole exponent range (subnormal and overflowing
    results included), and every pairing of the special values."""
    rng = np.random.default_rng(seed)
    size = 20_000
    a = rng.normal(size=size) * 2.0 ** rng.integers(-560, 560, size)
    b = rng.normal(size=size) * 2.0 ** rng.integers(-560, 560, size)
    c = rng.normal(size=size) * 2.0 ** rng.integers(-1074, 1023, size)
    near = rng.random(size) < 0.5  # c = -a*b to within a few ulps: the rounding that fusing saves
    with np.errstate(all="ignore"):
        c[near] = -(a * b)[near] * (1.0 + rng.normal(0.0, 2e-16, size))[near]
    special = [0.0, -0.0, 5e-324, -5e-324, 2.0**-1022, 1.0, -1.0, 1.7976931348623157e308]
    special += [-1.7976931348623157e308, math.inf, -math.inf, NAN, 13.0 / 14.0, 1.0 / 14.0]
    grid = np.array(np.meshgrid(special, special, special)).reshape(3, -1)
    return tuple(np.concatenate([x, g]) for x, g in zip((a, b, c), grid, strict=True))


@njit
def fused(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        out[i] = fma(a[i], b[i], c[i])
    return out


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("python_fma", [recurrences._python_fma, recurrences._exact_fma])
def test_live_fma_is_the_kernels_fused_multiply_add(seed: int, python_fma: Fma) -> None:
    # The Wilder step (RSI, ATR) is fused: llvm.fma in the kernels, recurrences.fma on the live
    # side (pure Python on 3.11: a fast path for factors of ordinary magnitude, and the exact
    # rational fallback for all else). Both must give the very same double for every input.
    a, b, c = fma_operands(seed)
    expected = fused(a, b, c)
    triples = zip(a.tolist(), b.tolist(), c.tolist(), strict=True)
    got = np.array([python_fma(x, y, z) for x, y, z in triples])
    np.testing.assert_array_equal(got, expected)  # NaN where NaN; -0.0 and 0.0 checked below
    assert (np.signbit(got) == np.signbit(expected))[~np.isnan(expected)].all()
    with np.errstate(all="ignore"):
        unfused = a * b + c
    assert (unfused != expected)[np.isfinite(expected)].sum() > 1000  # fusing matters here


@pytest.mark.parametrize("n", [1, 3, 7, 20, 1000])
def test_exact_div_is_division(n: int) -> None:
    # The windows divide with a multiply and two fused multiply-adds where the dividend is in
    # range; that must be the very double "/" gives (the live updaters divide).
    from desk.signals.kernels_ops import count_unsafe

    assert count_unsafe(np.array([0.0, -1.0, 2.0**-500, 2.0**500, 1e-150, 1e150])) == 0
    assert count_unsafe(np.array([1e-200, 1e200, math.inf, NAN, 5e-324])) == 5
    from desk.signals.kernels_ops import SAFE_HIGH, SAFE_LOW, exact_div

    rng = np.random.default_rng(n)
    t = rng.normal(size=20_000) * 10.0 ** rng.integers(-250, 250, 20_000)
    t = np.concatenate([t, [0.0, -0.0, SAFE_LOW, SAFE_HIGH, 1.0, -3.0]])
    quotients = np.array([exact_div(v, float(n), 1.0 / n) for v in t])
    assert ((np.abs(t) >= SAFE_LOW) & (np.abs(t) <= SAFE_HIGH) | (t == 0)).all()
    np.testing.assert_array_equal(quotients, t / n)


@pytest.mark.parametrize("n", [2, 20, 300])
def test_windows_of_extreme_magnitudes_stay_in_step(n: int) -> None:
    # Values too small or too large for the fast divisions send their chunks (and their
    # blocks) through plain division: the numbers must still be the updaters' and the
    # definitions'.
    chunk = max(1, kernels.CHUNK // n) * n
    x = walk(5 * chunk + 7, seed=n)
    x[chunk : chunk + 3] = 1e-300
    x[3 * chunk + n // 2] = 1e300
    x[4 * chunk :] *= 1e-170
    sma = ind.sma(x, n)
    upper, middle, _ = ind.bollinger(x, n, 2.0)
    np.testing.assert_array_equal(middle, sma)
    np.testing.assert_array_equal(sma, streamed(live.Sma(n), x))
    np.testing.assert_array_equal(upper, streamed(live.Bollinger(n, 2.0), x)[:, 0])
    # Away from the 1e300 spike (a slid window loses everything beside it until the next
    # block replaces it, as it would with any division), the definition:
    mean = sliding_window_view(x, n).mean(axis=1)
    away = np.ones(mean.size, dtype=bool)
    spike = 3 * chunk + n // 2
    away[spike - n + 1 : spike + 2 * n] = False
    np.testing.assert_allclose(sma[n - 1 :][away], mean[away], rtol=1e-12)
