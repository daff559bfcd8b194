"""Technical indicators over whole arrays, for research and backtests.

Every function takes 1-D array-likes, converts them to contiguous float64 and returns float64
arrays of the input's length, NaN where the indicator is not yet defined (the warm-up). The work
is done by numba kernels in :mod:`desk.signals.kernels`. That module, and numba with it, is only
imported on the first call, so importing this module costs numpy and nothing more; the compiled
machine code is cached on disk (numba ``cache=True``), so a later process loads it instead of
compiling again. Call :func:`precompile` to pay that first-call cost up front.

:mod:`desk.signals.streaming` has O(1) updaters for live use that give the same numbers.

Definitions and warm-up (index of the first defined value, for input index 0, 1, 2, ...)
----------------------------------------------------------------------------------------
SMA, EMA, RSI, Bollinger and ATR agree with TA-Lib 0.8.2 (``SMA``, ``EMA``, ``RSI``,
``BBANDS``, ``ATR``) to rounding, warm-up included (TA-Lib is only a bench dependency:
``bench/indicators.py`` prints both, with their largest difference and time ratio); RSI,
Bollinger and true range are also tested against StockCharts' worked examples.

* **SMA(n)**: mean of the last n values; first value at n-1.
* **EMA(n)**: alpha = 2/(n+1), e_i = e_{i-1} + alpha * (x_i - e_{i-1}), seeded at index n-1
  with the SMA of the first n values (computed as e_{i-1} * (1 - alpha) + x_i * alpha: see
  Numerics). This is TA-Lib's ``EMA`` and StockCharts ChartSchool's convention (pandas
  ``ewm(adjust=False)`` and TradingView seed with x_0 instead).
* **RSI(n)**, Wilder (J. W. Wilder, *New Concepts in Technical Trading Systems*, 1978):
  changes d_i = c_i - c_{i-1}; gains max(d, 0), losses max(-d, 0). The first average gain and
  loss are the simple means of the first n changes (d_1..d_n), so the first RSI is at index n;
  after that avg = (avg_prev * (n - 1) + current) / n (computed as avg_prev * ((n - 1)/n) +
  current * (1/n): see Numerics). RSI = 100 - 100 / (1 + gain/loss), with an average loss of 0
  reading 100, and 50 when the average gain is 0 as well (no movement).
  Reproduces StockCharts' worked example (cs-rsi.xls) and TA-Lib's ``RSI``.
* **MACD(fast=12, slow=26, signal=9)** (G. Appel): line = EMA(fast) - EMA(slow), both seeded as
  above, so the line starts at slow-1; signal = EMA(signal) of the line, seeded with the mean of
  its first ``signal`` values, so it starts at slow+signal-2 (33 for the defaults); histogram =
  line - signal. TA-Lib's ``MACD`` seeds its fast EMA at slow-1 as well (with the mean of the
  fast values ending there) and blanks the line until slow+signal-2, so early values differ;
  the two converge as the seeds decay (equal to rounding after about 200 bars).
* **Bollinger(n=20, k=2)** (J. Bollinger, *Bollinger on Bollinger Bands*, 2001): middle =
  SMA(n), upper/lower = middle +/- k * population standard deviation (ddof=0) of the same n
  values, as Bollinger defines it (pandas ``rolling().std()`` is ddof=1). First value at n-1.
* **ATR(n)**, Wilder with TA-Lib's start: TR_0 = h_0 - l_0 and TR_i = max(h_i - l_i,
  |h_i - c_{i-1}|, |l_i - c_{i-1}|). The first ATR is the mean of TR_1..TR_n, at index n (TA-Lib
  ``ATR``), then ATR_i = (ATR_{i-1} * (n - 1) + TR_i) / n, computed as RSI's averages are.
  Wilder's book and StockCharts average TR_0..TR_{n-1} instead and start one bar earlier.
  :func:`true_range` gives TR itself (TA-Lib's ``TRANGE`` leaves index 0 NaN).
* **VWAP**: sum(price * volume) / sum(volume), cumulative from index 0, or over the last n bars
  (first value at n-1). NaN while the volume summed is 0. Session resets are the caller's: slice
  the arrays per session (or ``reset()`` the streaming updater).
* **z-score(n)**: (x_i - SMA(n)_i) / population std(n)_i; first value at n-1. A flat window
  (std 0) gives 0: the value sits on its mean, and flat untraded stretches should not read as
  missing data.
* **Realised volatility(n)**: sample standard deviation (ddof=1, the usual estimator, as in
  pandas ``rolling(n).std()``) of the last n log returns ln(c_i/c_{i-1}), times
  sqrt(``annualize``) where ``annualize`` is the number of bars per year (1 = per bar). The first
  return is at index 1, so the first value is at index n; n >= 2. A non-positive price has no log
  return: NaN.
* **Order-book imbalance**: (B - A) / (B + A) with B, A the bid and ask volume (the volume
  imbalance of Cartea, Jaimungal & Penalva, *Algorithmic and High-Frequency Trading*, 2015), in
  [-1, 1]; positive means more resting bids. 2-D inputs (rows, levels) are summed over the top-n
  levels of each row first. NaN when both sides are empty.

NaN handling
------------
NaN propagates: an output is NaN when any input it depends on is NaN (a non-finite value counts
as NaN in the window indicators). The window indicators (SMA, Bollinger, z-score, rolling VWAP,
realised volatility) depend on the last n inputs only, so they recover once the NaN has left the
window. The recursive ones (EMA, RSI, MACD, ATR, cumulative VWAP) depend on all history and
stay NaN from the first NaN on; clean the data (or restart the updater) instead.

Reuse
-----
A parameter sweep asks for the same indicators again and again (a 10 x 10 grid of an MA
crossover needs 20 moving averages, not 200). Inside a :func:`reuse` block an indicator asked
again with the same input arrays and arguments returns the array it computed the first time,
read-only; see :func:`reuse` for how long entries live and the memory they may take.

Numerics
--------
Windows are slid in O(1) per bar and refreshed exactly every n bars (see
:func:`desk.signals.kernels.rolling_moments`), so rolling error never builds up over long
series, and a constant input gives that constant and exactly zero spread.

The recursions (EMA and MACD's three EMAs; Wilder's averages in RSI and ATR) are computed in one
arithmetic form, ``e = e * beta + x * alpha`` and ``a = fma(a, k1, x * k2)`` (``a * k1 + x * k2``
with the multiply-add on the chain fused: rounded once), with the weights of
:mod:`desk.signals.recurrences` (alpha = 2/(n+1), beta = 1 - alpha; k1 = (n-1)/n, k2 = 1 - k1 =
1/n; each pair summing to exactly 1). These are the definitions above, rounded differently from
the textbook forms (by a few ulps, about 1e-15 relative), for three reasons:

* speed: from one bar to the next there is one multiply and one add (EMA) or one fused
  multiply-add (Wilder) to wait for, the other product not depending on the previous value,
  where the textbook forms wait for a subtract, multiply and add (EMA) or a multiply, add and
  correctly rounded division (Wilder, about three times as long). This is what puts EMA, MACD,
  RSI and ATR level with TA-Lib's C or ahead. The Wilder step is TA-Lib's ``ATR`` as its wheel
  runs it on CPUs with FMA, so desk's ATR equals TA-Lib's there bit for bit;
* portability: no product or sum is fused or reassociated by the compiler (``fastmath`` stays
  off); the Wilder step's one fused multiply-add is explicit (``llvm.fma`` in the kernels, a
  correctly rounded ``fma`` on the live side), so the numbers are the same on every CPU: a sweep
  over a cluster of mixed machines gives identical results;
* batch equals live bit for bit: the streaming updaters (:mod:`desk.signals.streaming`) take the
  same weights from the same functions and do the same operations in the same order, as they do
  for the windows; tests compare the two with == (all but realised volatility, whose log numba
  may take from another math library than CPython's).

A constant input keeps the EMA and the Wilder averages within one ulp of the constant (usually
on it), so a flat market's MACD line reads 0 or one ulp of the price.
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "atr",
    "bollinger",
    "book_imbalance",
    "ema",
    "macd",
    "precompile",
    "realized_vol",
    "reuse",
    "rsi",
    "sma",
    "true_range",
    "vwap",
    "zscore",
]


def _kernels() -> ModuleType:
    """The numba kernels, imported (with numba) on first use rather than at module import."""
    from desk.signals import kernels

    return kernels


F = TypeVar("F", bound=Callable[..., Any])
REUSE_BYTES = 128 * 2**20
"""Default bound on what a :func:`reuse` block keeps (128 MiB: 16 series of a million bars)."""


class _Reuse:
    """Indicators computed inside :func:`reuse` blocks, least recently used dropped first."""

    def __init__(self, token: Hashable, max_bytes: int) -> None:
        self.token = token
        self.max_bytes = max_bytes
        self.entries: OrderedDict[tuple[Any, ...], tuple[Any, int, bool]] = OrderedDict()
        self.size = 0
        self.names: dict[int, tuple[Hashable, str]] = {}
        self.pinned: list[Any] = []  # inputs named or keyed by id must outlive their entries

    def name(self, inputs: Mapping[str, Any]) -> None:
        for key, value in inputs.items():
            if isinstance(value, np.ndarray):
                self.names[id(value)] = (self.token, key)
                self.pinned.append(value)

    def key(self, fn: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """(kept, fn, arguments...), kept when every input array is named (valid beyond the
        block); () when an argument cannot be keyed (a list: not worth it)."""
        parts: list[Any] = [fn]
        kept = True
        for name, value in [*enumerate(args), *sorted(kwargs.items())]:
            if isinstance(value, np.ndarray):
                ref = self.names.get(id(value))
                if ref is None:
                    kept = False
                    self.pinned.append(value)
                    ref = ("id", id(value))
                parts.append((name, ref))
            elif isinstance(value, bool | int | float | np.integer | np.floating) or value is None:
                parts.append((name, type(value).__name__, value))
            else:
                return ()
        return (kept, *parts)

    def get(self, key: tuple[Any, ...]) -> Any:
        hit = self.entries.get(key)
        if hit is None:
            return None
        self.entries.move_to_end(key)
        return hit[0]

    def put(self, key: tuple[Any, ...], result: Any) -> None:
        arrays = result if isinstance(result, tuple) else (result,)
        for a in arrays:
            a.flags.writeable = False  # shared from now on
        size = sum(a.nbytes for a in arrays)
        self.entries[key] = (result, size, key[0])
        self.size += size
        while self.size > self.max_bytes and len(self.entries) > 1:
            _, (_, dropped, _) = self.entries.popitem(last=False)
            self.size -= dropped

    def end_block(self) -> None:
        """Keep only the entries valid beyond the block (every input named by the token)."""
        for key in [k for k, (_, _, kept) in self.entries.items() if not kept]:
            self.size -= self.entries.pop(key)[1]
        self.names.clear()
        self.pinned.clear()


class _Local(threading.local):
    active: _Reuse | None = None  # the block running in this thread
    kept: _Reuse | None = None  # what the last block with a token kept


_local = _Local()


@contextmanager
def reuse(
    inputs: Mapping[str, Any] | None = None,
    *,
    token: Hashable = None,
    max_bytes: int = REUSE_BYTES,
) -> Iterator[None]:
    """Within the block, an indicator called again with the same arguments returns the array
    computed the first time (marked read-only: it is shared).

    Input arrays are told apart by identity, so they must not be changed inside the block.
    Entries are dropped, least recently used first, beyond ``max_bytes`` and at the end of
    the block, except with a ``token``: then the arrays of ``inputs`` are named by it, and
    entries computed from named arrays only are kept for the next block with the same token
    (a sweep's next chunk of parameter sets in the same worker process receives new copies
    of the same data); a block with another token, or :func:`forget`, drops them. A block
    inside another uses the outer one. Blocks belong to their thread.
    """
    local = _local
    if local.active is not None:
        if inputs:
            local.active.name(inputs)
        yield
        return
    kept = local.kept
    memo = kept if token is not None and kept is not None and kept.token == token else None
    memo = memo or _Reuse(token, max_bytes)
    local.kept = None
    memo.name(inputs or {})
    local.active = memo
    try:
        yield
    finally:
        local.active = None
        if token is not None:
            memo.end_block()
            local.kept = memo


def forget() -> None:
    """Drop what :func:`reuse` blocks with a token kept in this thread."""
    _local.kept = None


def _reusable(fn: F) -> F:
    """``fn`` answering from the active :func:`reuse` block when it can."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        memo = _local.active
        if memo is None:
            return fn(*args, **kwargs)
        key = memo.key(fn.__name__, args, kwargs)
        if not key:
            return fn(*args, **kwargs)
        hit = memo.get(key)
        if hit is None:
            hit = fn(*args, **kwargs)
            memo.put(key, hit)
        return hit

    return wrapper  # type: ignore[return-value]


def check_period(name: str, value: object, minimum: int = 1) -> int:
    """An integer parameter >= minimum (bools and floats refused, so 14.5 cannot slip through)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_real(name: str, value: object, *, positive: bool) -> float:
    """A finite float parameter, > 0 when positive else >= 0."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real number, got {value!r}") from exc
    bad = not math.isfinite(x) or x < 0.0 or (positive and x == 0.0)
    if bad:
        want = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {want}, got {value!r}")
    return x


def _as_array(name: str, values: Any, ndims: tuple[int, ...] = (1,)) -> FloatArray:
    """values as a C-contiguous float64 array (no copy if it already is one)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric (convertible to float64): {exc}") from exc
    if arr.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _series(**named: Any) -> list[FloatArray]:
    """Named 1-D inputs as float64 arrays, all of the same length."""
    arrays = [_as_array(name, values) for name, values in named.items()]
    lengths = {name: len(a) for name, a in zip(named, arrays, strict=True)}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs must have the same length, got {lengths}")
    return arrays


def _out(like: FloatArray) -> FloatArray:
    """An output array for a kernel: numpy's allocation (huge pages), not numba's."""
    return np.empty(like.shape[0])


@_reusable
def sma(x: Any, n: int) -> FloatArray:
    """Simple moving average of the last n values; NaN for the first n-1."""
    (arr,) = _series(x=x)
    n = check_period("n", n)
    out = _out(arr)
    _kernels().rolling_moments(arr, n, False, out, np.empty(0))
    return out


@_reusable
def ema(x: Any, n: int) -> FloatArray:
    """EMA with alpha = 2/(n+1), seeded with the SMA of the first n values (at index n-1)."""
    (arr,) = _series(x=x)
    n = check_period("n", n)
    out = _out(arr)
    _kernels().ema_from(arr, 0, n, out)
    return out


@_reusable
def rsi(close: Any, n: int = 14) -> FloatArray:
    """Wilder's RSI in [0, 100]; first value at index n (needs n close-to-close changes)."""
    (arr,) = _series(close=close)
    n = check_period("n", n)
    out = _out(arr)
    _kernels().rsi_into(arr, n, out)
    return out


@_reusable
def macd(
    close: Any, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(MACD line, signal line, histogram); line from slow-1, the others from slow+signal-2.

    fast must be shorter than slow: swapped arguments are a mistake, not a variant.
    """
    (arr,) = _series(close=close)
    f, s = check_period("fast", fast), check_period("slow", slow)
    if f >= s:
        raise ValueError(f"fast must be shorter than slow, got fast={f}, slow={s}")
    g = check_period("signal", signal)
    line, sig, hist = _out(arr), _out(arr), _out(arr)
    _kernels().macd_into(arr, f, s, g, line, sig, hist)
    return line, sig, hist


@_reusable
def bollinger(close: Any, n: int = 20, k: float = 2.0) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(upper, middle, lower): SMA(n) +/- k population standard deviations of the window."""
    (arr,) = _series(close=close)
    n, width = check_period("n", n), check_real("k", k, positive=False)
    upper, middle, lower = _out(arr), _out(arr), _out(arr)
    _kernels().bollinger_into(arr, n, width, upper, middle, lower)
    return upper, middle, lower


@_reusable
def true_range(high: Any, low: Any, close: Any) -> FloatArray:
    """Wilder's true range; index 0 has no previous close and is high - low."""
    h, lo, c = _series(high=high, low=low, close=close)
    out = _out(c)
    _kernels().true_range_into(h, lo, c, out)
    return out


@_reusable
def atr(high: Any, low: Any, close: Any, n: int = 14) -> FloatArray:
    """Wilder's average true range; first value at index n = mean of TR_1..TR_n (TA-Lib)."""
    h, lo, c = _series(high=high, low=low, close=close)
    n = check_period("n", n)
    out = _out(c)
    _kernels().atr_into(h, lo, c, n, out)
    return out


@_reusable
def vwap(price: Any, volume: Any, n: int | None = None) -> FloatArray:
    """Volume-weighted average price: cumulative when n is None, else over the last n bars."""
    p, v = _series(price=price, volume=volume)
    out = _out(p)
    if n is None:
        _kernels().vwap_cumulative_into(p, v, out)
    else:
        _kernels().vwap_rolling_into(p, v, check_period("n", n), out, _out(p), _out(p))
    return out


@_reusable
def zscore(x: Any, n: int) -> FloatArray:
    """(x - SMA(n)) / population std(n); 0 where the window is flat."""
    (arr,) = _series(x=x)
    n = check_period("n", n)
    out = _out(arr)
    _kernels().zscore_into(arr, n, out, _out(arr))
    return out


@_reusable
def realized_vol(close: Any, n: int, annualize: float = 1.0) -> FloatArray:
    """Sample std of the last n log returns, times sqrt(annualize) (bars per year)."""
    (arr,) = _series(close=close)
    scale = math.sqrt(check_real("annualize", annualize, positive=True))
    n = check_period("n", n, minimum=2)
    out = _out(arr)
    _kernels().realized_vol_into(arr, n, scale, out, _out(arr), _out(arr))
    return out


def book_imbalance(bid_vol: Any, ask_vol: Any) -> FloatArray:
    """(B - A)/(B + A) per row: 1-D per-snapshot totals, or 2-D (rows, top-n levels) summed.

    The result has one value per row (snapshot); NaN where both sides are empty.
    """
    bid = _as_array("bid_vol", bid_vol, (1, 2))
    ask = _as_array("ask_vol", ask_vol, (1, 2))
    if bid.shape != ask.shape:
        raise ValueError(f"bid_vol and ask_vol differ in shape: {bid.shape} != {ask.shape}")
    if bid.ndim == 1:
        bid, ask = bid.reshape(-1, 1), ask.reshape(-1, 1)
    out = _out(bid)
    _kernels().book_imbalance_into(bid, ask, out)
    return out


def precompile() -> None:
    """Load (or on a cold cache, compile) every kernel now instead of on its first real call."""
    x = np.linspace(1.0, 2.0, 40)
    for call in (
        lambda: sma(x, 3),
        lambda: ema(x, 3),
        lambda: rsi(x, 3),
        lambda: macd(x, 3, 5, 2),
        lambda: bollinger(x, 3),
        lambda: true_range(x, x, x),
        lambda: atr(x, x, x, 3),
        lambda: vwap(x, x),
        lambda: vwap(x, x, 3),
        lambda: zscore(x, 3),
        lambda: realized_vol(x, 3),
        lambda: book_imbalance(x, x),
    ):
        call()
