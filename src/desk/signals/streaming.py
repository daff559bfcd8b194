"""O(1) incremental indicators for live use: one ``update`` per closed candle (or tick).

Each class gives the same numbers, bar for bar, as the array function of the same name in
:mod:`desk.signals.indicators` run over the same series: NaN during the same warm-up, the same
definitions (documented there), the same NaN propagation. They are pure Python (no numba) and
mirror the numba kernels operation for operation, in the same order, so the two agree bit for
bit (realised volatility to rounding: its log may come from another math library than numba's);
tests hold them together on random series. The EMA and Wilder steps take their weights from
:mod:`desk.signals.recurrences`, as the kernels do, and use its arithmetic form (the Wilder step's
fused multiply-add through its correctly rounded ``fma``).

Window indicators keep the last n values in a ring buffer and slide their sums in O(1), with a
fresh accumulator over each block of n values replacing the slid state when the block completes
(see :func:`desk.signals.kernels.rolling_moments`): rolling error never builds up over a long
session, and the cost per update stays O(1) even then. The one exception is a window recovering
from a non-finite value mid-block, which is recomputed once from its n values.

``value`` holds the latest result (NaN before the first update); ``reset()`` starts again, e.g.
at a session boundary for VWAP.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

from desk.signals.indicators import check_period, check_real
from desk.signals.recurrences import ema_weights, fma, wilder_weights

NAN = math.nan
_isfinite = math.isfinite  # a global: one lookup less per value

__all__ = [
    "Atr",
    "Bollinger",
    "Ema",
    "Macd",
    "RealizedVol",
    "Rsi",
    "Sma",
    "Vwap",
    "ZScore",
    "book_imbalance",
]


def _welford(values: Iterable[float], with_m2: bool) -> tuple[float, float]:
    """Mirror of kernels.welford over the given values, oldest first."""
    mean = 0.0
    m2 = 0.0
    for k, v in enumerate(values, 1):
        d = v - mean
        mean += d / k
        if with_m2:
            m2 += d * (v - mean)
    return mean, m2


def _pop_std(m2: float, n: int) -> float:
    if m2 < 0.0:
        m2 = 0.0
    return math.sqrt(m2 / n)


class _Window:
    """Mean (and m2) of the last n values: the streaming twin of kernels.rolling_moments."""

    __slots__ = ("_b", "_bad", "_buf", "_dirty", "_s", "_with_m2", "m2", "mean", "n")

    def __init__(self, n: int, with_m2: bool) -> None:
        self.n = n
        self._with_m2 = with_m2
        self._buf: deque[float] = deque(maxlen=n)
        self._bad = 0  # non-finite values in the window
        self._dirty = True  # slid state invalid: take the block or recompute
        self._s = [0.0, 0.0, 0]  # block accumulator: mean, m2, count
        self._b = (0.0, 0.0)  # the block just completed
        self.mean = 0.0
        self.m2 = 0.0

    def push(self, v: float) -> bool:
        """Add v; True when mean/m2 now describe a full window of finite values.

        One call per value on the bar-to-order path: the block accumulator and the slide are
        written out here (the operations of kernels.rolling_moments, in its order) rather than
        in helpers, a Python call less each.
        """
        buf = self._buf
        n = self.n
        full = len(buf) == n
        y = buf[0] if full else NAN
        if not _isfinite(v):
            self._bad += 1
        if full and not _isfinite(y):
            self._bad -= 1
        buf.append(v)
        # the block accumulator: mean, m2, count of the values since the last block boundary
        s = self._s
        k = s[2] = s[2] + 1
        d = v - s[0]
        s[0] += d / k
        with_m2 = self._with_m2
        if with_m2:
            s[1] += d * (v - s[0])
        boundary = k == n
        if boundary:
            self._b = (s[0], s[1])
            self._s = [0.0, 0.0, 0]
        if len(buf) < n:
            return False
        if self._bad > 0:
            self._dirty = True
            return False
        if boundary:
            self.mean, self.m2 = self._b
        elif self._dirty:
            self.mean, self.m2 = _welford(buf, with_m2)
        else:  # slide: y leaves, v enters
            old = self.mean
            self.mean = old + (v - y) / n
            if with_m2:
                self.m2 += (v - y) * ((v - self.mean) + (y - old))
        self._dirty = False
        return True


class _Indicator:
    """Shared reset(): re-run __init__ with the arguments it was built with."""

    _args: tuple[object, ...] = ()

    def reset(self) -> None:
        """Forget all history, as if newly built."""
        self.__init__(*self._args)  # type: ignore[misc]


class Sma(_Indicator):
    """Simple moving average of the last n values."""

    def __init__(self, n: int) -> None:
        self._args = (n,)
        self._w = _Window(check_period("n", n), False)
        self.value = NAN

    def update(self, x: float) -> float:
        w = self._w
        self.value = value = w.mean if w.push(float(x)) else NAN
        return value


class Ema(_Indicator):
    """EMA with alpha = 2/(n+1), seeded with the mean of the first n values."""

    def __init__(self, n: int) -> None:
        self._args = (n,)
        self.n = check_period("n", n)
        self._alpha, self._beta = ema_weights(self.n)
        self._k = 0
        self._mean = 0.0
        self.value = NAN

    def update(self, x: float) -> float:
        x = float(x)
        if self._k < self.n:
            self._k += 1
            self._mean += (x - self._mean) / self._k
            if self._k == self.n:
                self.value = self._mean
            return self.value
        self.value = self.value * self._beta + x * self._alpha
        return self.value


def _gain_loss(d: float) -> tuple[float, float]:
    if d > 0.0:
        return d, 0.0
    if d < 0.0:
        return 0.0, -d
    if d == 0.0:
        return 0.0, 0.0
    return NAN, NAN


def _rsi_value(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0.0:
        return 50.0 if avg_gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


class Rsi(_Indicator):
    """Wilder's RSI: simple-mean seed over the first n changes, then Wilder smoothing."""

    def __init__(self, n: int = 14) -> None:
        self._args = (n,)
        self.n = check_period("n", n)
        self._k1, self._k2 = wilder_weights(self.n)
        self._prev = NAN
        self._i = 0  # index of the bar being updated
        self._gain = 0.0
        self._loss = 0.0
        self.value = NAN

    def update(self, close: float) -> float:
        close = float(close)
        i, self._i = self._i, self._i + 1
        prev, self._prev = self._prev, close
        if i == 0:
            return self.value
        g, loss = _gain_loss(close - prev)
        n = self.n
        if i <= n:
            self._gain += (g - self._gain) / i
            self._loss += (loss - self._loss) / i
            if i < n:
                return self.value
        else:
            self._gain = fma(self._gain, self._k1, g * self._k2)
            self._loss = fma(self._loss, self._k1, loss * self._k2)
        self.value = _rsi_value(self._gain, self._loss)
        return self.value


class Macd(_Indicator):
    """(line, signal, histogram) = EMA(fast) - EMA(slow), its EMA(signal), and their gap."""

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self._args = (fast, slow, signal)
        f, s = check_period("fast", fast), check_period("slow", slow)
        if f >= s:
            raise ValueError(f"fast must be shorter than slow, got fast={f}, slow={s}")
        self._fast, self._slow = Ema(f), Ema(s)
        self._signal = Ema(check_period("signal", signal))
        self._bars = 0
        self.value = (NAN, NAN, NAN)

    def update(self, close: float) -> tuple[float, float, float]:
        line = self._fast.update(close) - self._slow.update(close)
        self._bars += 1
        # The signal EMA is fed from the line's first value on (bar slow-1), NaN or not.
        sig = NAN if self._bars < self._slow.n else self._signal.update(line)
        self.value = (line, sig, line - sig)
        return self.value


class Bollinger(_Indicator):
    """(upper, middle, lower) = SMA(n) +/- k population standard deviations."""

    def __init__(self, n: int = 20, k: float = 2.0) -> None:
        self._args = (n, k)
        self._w = _Window(check_period("n", n), True)
        self.k = check_real("k", k, positive=False)
        self.value = (NAN, NAN, NAN)

    def update(self, close: float) -> tuple[float, float, float]:
        w = self._w
        if not w.push(float(close)):
            self.value = (NAN, NAN, NAN)
            return self.value
        width = self.k * _pop_std(w.m2, w.n)
        self.value = (w.mean + width, w.mean, w.mean - width)
        return self.value


def _true_range(h: float, low: float, cp: float) -> float:
    a = h - low
    b = abs(h - cp)
    c = abs(low - cp)
    if math.isnan(a) or math.isnan(b) or math.isnan(c):
        return NAN
    return max(a, b, c)


class Atr(_Indicator):
    """Wilder's ATR; the first value (bar n) is the mean of TR_1..TR_n, as in TA-Lib."""

    def __init__(self, n: int = 14) -> None:
        self._args = (n,)
        self.n = check_period("n", n)
        self._k1, self._k2 = wilder_weights(self.n)
        self._prev_close = NAN
        self._i = 0
        self._atr = 0.0
        self.value = NAN

    def update(self, high: float, low: float, close: float) -> float:
        i, self._i = self._i, self._i + 1
        prev, self._prev_close = self._prev_close, float(close)
        if i == 0:
            return self.value
        tr = _true_range(float(high), float(low), prev)
        n = self.n
        if i <= n:
            self._atr += (tr - self._atr) / i
            if i < n:
                return self.value
        else:
            self._atr = fma(self._atr, self._k1, tr * self._k2)
        self.value = self._atr
        return self.value


class Vwap(_Indicator):
    """Volume-weighted average price, cumulative (n=None; reset() per session) or over n bars."""

    def __init__(self, n: int | None = None) -> None:
        self._args = (n,)
        self.n = None if n is None else check_period("n", n)
        self._pv = 0.0
        self._vol = 0.0
        if self.n is not None:
            self._w_pv = _Window(self.n, False)
            self._w_v = _Window(self.n, False)
        self.value = NAN

    def update(self, price: float, volume: float) -> float:
        price, volume = float(price), float(volume)
        if self.n is None:
            self._pv += price * volume
            self._vol += volume
            pv, vol = self._pv, self._vol
        else:
            ok_pv = self._w_pv.push(price * volume)
            ok_v = self._w_v.push(volume)
            pv = self._w_pv.mean if ok_pv else NAN
            vol = self._w_v.mean if ok_v else NAN
        self.value = NAN if vol == 0.0 else pv / vol
        return self.value


class ZScore(_Indicator):
    """(x - SMA(n)) / population std(n); 0 on a flat window."""

    def __init__(self, n: int) -> None:
        self._args = (n,)
        self._w = _Window(check_period("n", n), True)
        self.value = NAN

    def update(self, x: float) -> float:
        x = float(x)
        w = self._w
        if not w.push(x):
            self.value = NAN
            return NAN
        std = _pop_std(w.m2, w.n)
        self.value = 0.0 if std == 0.0 else (x - w.mean) / std
        return self.value


def _log_return(c: float, cp: float) -> float:
    if c > 0.0 and cp > 0.0:
        ratio = c / cp
        if ratio > 0.0:
            return math.log(ratio)
    return NAN


class RealizedVol(_Indicator):
    """Sample std of the last n log returns, times sqrt(annualize) (bars per year)."""

    def __init__(self, n: int, annualize: float = 1.0) -> None:
        self._args = (n, annualize)
        self._w = _Window(check_period("n", n, minimum=2), True)
        self._scale = math.sqrt(check_real("annualize", annualize, positive=True))
        self._prev = NAN
        self.value = NAN

    def update(self, close: float) -> float:
        close = float(close)
        # The first bar has no previous close, so its return is NaN, as r[0] in the kernel.
        r = _log_return(close, self._prev)
        self._prev = close
        w = self._w
        if not w.push(r):
            self.value = NAN
            return NAN
        m2 = w.m2
        if m2 < 0.0:
            m2 = 0.0
        self.value = math.sqrt(m2 / (w.n - 1)) * self._scale
        return self.value


def book_imbalance(bid_vols: Iterable[float], ask_vols: Iterable[float]) -> float:
    """(B - A)/(B + A) for one book snapshot, given its top-n bid and ask level volumes.

    Stateless, so there is no class; NaN when both sides are empty.
    """
    b = 0.0
    for v in bid_vols:
        b += v
    a = 0.0
    for v in ask_vols:
        a += v
    total = b + a
    return NAN if total == 0.0 else (b - a) / total
