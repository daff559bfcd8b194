"""Long series through the kernels' blocked paths: the numbers must not depend on where a
block or chunk boundary falls.

The kernels work a block or chunk at a time (rolling windows by chunks, a fast path for clean
chunks and a general one for chunks holding a NaN or values outside the fast divisions' range),
so short series never reach the boundaries. These series do, with the special cases placed
on and around them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from desk.signals import indicators as ind
from desk.signals import kernels
from desk.signals import streaming as live

NAN = math.nan


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
