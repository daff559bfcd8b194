"""The strategy API: one decision rule, run in batch (backtests) and streaming (live).

A strategy turns candles into :class:`~desk.signals.signal.Signal` s. It has two paths that
must agree signal for signal (a parity test holds them together, DESIGN.md section 5):

* **batch** - :meth:`BaseStrategy.signals` / :meth:`BaseStrategy.process_data` over a
  DataFrame, with the numba array kernels of :mod:`desk.signals.indicators`; the candidate
  events are marked by compiled one-pass crossing tests (:func:`cross_up`, :func:`cross_down`
  and :func:`codes_from`), and only those (sparse) bars are walked in Python to apply the
  position state machine and build signals. :meth:`BaseStrategy.batch_codes` is the same
  path up to the candidate codes: the backtester applies the state machine in its kernel.
* **streaming** - :meth:`BaseStrategy.on_candle` per closed candle, with the O(1) updaters of
  :mod:`desk.signals.streaming`, which give the kernels' numbers bit for bit.

Both paths share the scalar parts (state machine, strength, reason), so they can only differ
in the event test, which each strategy writes twice: once over arrays, once over two bars.

Signals are emitted on state changes only: each bar yields at most one *candidate* code
(:data:`LONG`, :data:`SHORT`, or an exit), and the state machine in :func:`transition` turns it
into a new direction or nothing (a LONG while already long is no signal).

Parameters are validated into a frozen msgspec Struct per strategy (``Params``): unknown keys,
wrong types and out-of-range values raise ``ValueError`` naming the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, NamedTuple

import msgspec
import numpy as np

from desk.signals.signal import Direction, Signal

if TYPE_CHECKING:
    import pandas as pd

    from desk.core.events import BookChanged, Candle, Trade

# Candidate codes, one per bar. Entries win over exits on the same bar (a reversal exits anyway).
NONE = 0
Period = Annotated[int, msgspec.Meta(ge=1)]
"""A look-back in bars."""

LONG = 1
SHORT = -1
EXIT_LONG = 2  # go flat if long
EXIT_SHORT = -2  # go flat if short
EXIT_ANY = 3  # go flat if not flat

DIRECTION_OF_STATE = {1: Direction.LONG, -1: Direction.SHORT, 0: Direction.FLAT}
STATE_OF_DIRECTION = {d: s for s, d in DIRECTION_OF_STATE.items()}
# DIRECTION_OF_STATE as a tuple indexed by the state itself (-1 reads the last item)
_DIRECTION_AT = tuple(DIRECTION_OF_STATE[state] for state in (0, 1, -1))
COLUMNS = ("end", "open", "high", "low", "close", "volume")

FloatArray = np.ndarray
Values = dict[str, float]


def transition(state: int, code: int) -> int | None:
    """The new state (1 long, -1 short, 0 flat) a candidate code moves ``state`` to, or None."""
    if not code:  # NONE: most bars
        return None
    if code in (LONG, SHORT):
        return code if state != code else None
    if code == EXIT_LONG:
        return 0 if state == LONG else None
    if code == EXIT_SHORT:
        return 0 if state == SHORT else None
    if code == EXIT_ANY:
        return 0 if state != 0 else None
    return None


def shifted(x: FloatArray) -> FloatArray:
    """x one bar later: out[i] = x[i-1], NaN at 0 - the batch twin of the streaming 'prev'."""
    out = np.empty_like(x)
    out[:1] = math.nan
    out[1:] = x[:-1]
    return out


def crossed_above(prev: float, cur: float, prev_level: float, level: float) -> bool:
    """Scalar: the series went from at/below the level to above it (NaN never crosses)."""
    return prev <= prev_level and cur > level


def crossed_below(prev: float, cur: float, prev_level: float, level: float) -> bool:
    """Scalar: the series went from at/above the level to below it (NaN never crosses)."""
    return prev >= prev_level and cur < level


def crosses_above(x: FloatArray, level: FloatArray | float) -> np.ndarray:
    """Vectorised :func:`crossed_above` for every bar."""
    lv = np.broadcast_to(np.asarray(level, dtype=np.float64), x.shape)
    return (shifted(x) <= shifted(np.ascontiguousarray(lv))) & (x > lv)


def crosses_below(x: FloatArray, level: FloatArray | float) -> np.ndarray:
    """Vectorised :func:`crossed_below` for every bar."""
    lv = np.broadcast_to(np.asarray(level, dtype=np.float64), x.shape)
    return (shifted(x) >= shifted(np.ascontiguousarray(lv))) & (x < lv)


class Cross(NamedTuple):
    """A rule of :func:`codes_from`: ``code`` on the bars where ``x`` crosses ``level``.

    Made by :func:`cross_up` / :func:`cross_down`; it is the vectorised :func:`crossed_above`
    / :func:`crossed_below`, evaluated in one compiled pass with no temporary arrays.
    """

    x: FloatArray
    level: FloatArray | float
    up: bool
    code: int
    sign: int = 0


def cross_up(x: FloatArray, level: FloatArray | float, code: int, *, sign: int = 0) -> Cross:
    """``code`` where x goes from at/below ``level`` to above it; ``sign=1`` (-1): and x > 0
    (< 0) on that bar."""
    return Cross(x, level, True, code, sign)


def cross_down(x: FloatArray, level: FloatArray | float, code: int, *, sign: int = 0) -> Cross:
    """``code`` where x goes from at/above ``level`` to below it; ``sign`` as :func:`cross_up`."""
    return Cross(x, level, False, code, sign)


def codes_from(*rules: Cross | tuple[np.ndarray, int]) -> np.ndarray:
    """One int8 code per bar from rules, earlier rules winning a bar two of them mark.

    A rule is a :class:`Cross` (marked by the compiled kernel, no temporaries; an up and a
    down crossing of the same series and level next to each other share one pass) or a
    (boolean mask, code) pair.
    """
    from desk.signals import kernels  # numba, on first use (see indicators)

    first = rules[0]
    n = len(first.x) if isinstance(first, Cross) else len(first[0])
    out = np.zeros(n, dtype=np.int8)
    k = 0
    while k < len(rules):
        rule = rules[k]
        if not isinstance(rule, Cross):
            mask, code = rule
            out[(out == 0) & np.asarray(mask, dtype=bool)] = code
            k += 1
            continue
        pair = rules[k + 1] if k + 1 < len(rules) else None
        paired = isinstance(pair, Cross) and _same_pair(rule, pair)
        up, down = (rule, pair if paired else None) if rule.up else (pair if paired else None, rule)
        x = np.ascontiguousarray(rule.x, dtype=np.float64)
        level = np.ascontiguousarray(np.atleast_1d(rule.level), dtype=np.float64)
        if x.shape != (n,) or level.shape not in ((n,), (1,)):
            raise ValueError(f"crossing rule over {x.shape}/{level.shape}, bars: {n}")
        kernels.mark_crossings(
            out,
            x,
            level,
            up.code if up else 0,
            down.code if down else 0,
            up.sign if up else 0,
            down.sign if down else 0,
        )
        k += 2 if paired else 1
    return out


def _same_pair(a: Cross, b: Cross) -> bool:
    """``b`` crosses the other way over the same series and level as ``a``."""
    if a.up == b.up or a.x is not b.x:
        return False
    if isinstance(a.level, np.ndarray) or isinstance(b.level, np.ndarray):
        return a.level is b.level
    return float(a.level) == float(b.level)


def clamp01(x: float) -> float:
    """x limited to [0, 1]; NaN reads 0 (no evidence).

    Plain comparisons (``min``/``max`` and ``math.isnan`` cost some hundred ns; each signal
    decided on the bar-to-order path takes one); -0.0 reads 0.0, as through ``max(0.0, x)``.
    """
    if x > 0.0:
        return x if x < 1.0 else 1.0
    return 0.0  # x <= 0, or NaN


class BaseStrategy:
    """Base of every strategy; subclasses set ``name`` and ``Params`` and the hooks.

    The public batch hook for the backtester is :meth:`batch_codes`; subclasses implement:
    :meth:`_reset_stream` (build the updaters), :meth:`_series` (batch indicator
    arrays), :meth:`_codes` (batch candidate codes), :meth:`_step` (streaming indicator values
    for one candle), :meth:`_code` (streaming candidate from the previous and current values),
    :meth:`_describe` (strength and reason of a new direction from the bar's values, shared by
    both paths), and optionally :meth:`_build` (once, after validation).
    """

    name: ClassVar[str] = "base"
    Params: ClassVar[type[msgspec.Struct]]

    def __init__(self, parameters: Mapping[str, Any] | None = None) -> None:
        self.params: Any = self.validate(parameters or {})
        self._last_series: dict[str, FloatArray] = {}
        self._build()
        self.reset()

    def _build(self) -> None:
        """Hook run once after validation, before the first reset (e.g. to build children)."""

    @classmethod
    def validate(cls, parameters: Mapping[str, Any]) -> Any:
        """``parameters`` as a ``Params`` struct; ValueError naming the bad parameter."""
        if not isinstance(parameters, Mapping):
            raise ValueError(f"{cls.name}: parameters must be a mapping, got {parameters!r}")
        try:
            params = msgspec.convert(dict(parameters), cls.Params)
        except msgspec.ValidationError as exc:
            raise ValueError(f"{cls.name}: invalid parameters: {exc}") from None
        check = getattr(params, "check", None)
        if check is not None:
            problem = check()
            if problem:
                raise ValueError(f"{cls.name}: invalid parameters: {problem}")
        return params

    # ---- streaming -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all streaming history (indicators and position state), as if newly built."""
        self.state = 0
        self.strength = 0.0
        self._prev: Values = {}
        self._reset_stream()

    def on_candle(self, candle: Candle) -> Signal | None:
        """Feed one candle; the signal decided on its close, or None. Open bars are ignored."""
        if not candle.closed:
            return None
        cur = self._step(candle)
        code = self._code(self._prev, cur) if self._prev else NONE
        self._prev = cur
        new = transition(self.state, code)
        if new is None:
            return None
        sig = self._emit(new, candle.end, candle.close, cur, candle.symbol, candle.timeframe)
        self.state, self.strength = new, sig.strength
        return sig

    def indicator_series(self, candles: Iterable[Candle]) -> dict[str, list[float]]:
        """The streaming indicator values over ``candles`` (oldest first), one list per name.

        Runs a fresh copy with the same parameters, so the live state is untouched; for a
        chart of a few hundred bars this costs about a millisecond and needs no JIT.
        """
        fresh = type(self)(msgspec.structs.asdict(self.params))
        series: dict[str, list[float]] = {}
        for i, candle in enumerate(candles):
            for name, value in fresh._step(candle).items():
                series.setdefault(name, [math.nan] * i).append(float(value))
        return series

    def on_trade(self, trade: Trade) -> Signal | None:
        """Tick hook for strategies that want trades; the built-ins decide on candles only."""
        return None

    def on_book(self, book: BookChanged) -> Signal | None:
        """Book hook for strategies that want the book; the built-ins ignore it."""
        return None

    # ---- batch -----------------------------------------------------------------------------

    def signals(
        self, data: pd.DataFrame, *, symbol: str | None = None, timeframe: str | None = None
    ) -> list[Signal]:
        """Every signal over the whole frame (rows oldest first), as streaming would emit them.

        ``symbol``/``timeframe`` default to ``data.attrs`` entries of those names, else "".
        Does not touch the streaming state.
        """
        return [s for _, s in self.indexed_signals(data, symbol=symbol, timeframe=timeframe)]

    def indexed_signals(
        self, data: pd.DataFrame, *, symbol: str | None = None, timeframe: str | None = None
    ) -> list[tuple[int, Signal]]:
        """:meth:`signals` with the row index of each signal."""
        sym = symbol if symbol is not None else str(data.attrs.get("symbol", ""))
        tf = timeframe if timeframe is not None else str(data.attrs.get("timeframe", ""))
        return self.array_signals(frame_arrays(data), sym, tf)

    def array_signals(
        self, arrays: dict[str, FloatArray], symbol: str = "", timeframe: str = ""
    ) -> list[tuple[int, Signal]]:
        """(row, signal) pairs over arrays named as :data:`COLUMNS` (see :func:`frame_arrays`)."""
        series = self._series(arrays)
        self._last_series = series
        return self._walk(self._codes(series), arrays, series, symbol, timeframe)

    def batch_codes(self, arrays: Mapping[str, FloatArray]) -> np.ndarray:
        """The candidate code of every bar (int8: :data:`LONG`, :data:`SHORT`, an exit or
        :data:`NONE`) over OHLCV arrays, before the position state machine.

        The backtester's hook: the same indicator kernels and event tests as
        :meth:`array_signals` (so the same decisions as live), without building a Signal
        per bar; its kernel applies :func:`transition` to the codes as it walks the bars.
        Does not touch the streaming state, nor :meth:`get_indicators`.
        """
        codes = self._codes(self._series(dict(arrays)))
        return np.ascontiguousarray(codes, dtype=np.int8)

    def process_data(self, data: pd.DataFrame, **kwargs: Any) -> Signal | None:
        """The signal decided on the LAST row of ``data``, or None (the seed interface)."""
        found = self.indexed_signals(data, **kwargs)
        if found and found[-1][0] == len(data) - 1:
            return found[-1][1]
        return None

    def get_indicators(self) -> dict[str, FloatArray]:
        """Indicator series of the last batch call, by name, for plotting."""
        return dict(self._last_series)

    def _walk(
        self,
        codes: np.ndarray,
        arrays: dict[str, FloatArray],
        series: dict[str, FloatArray],
        symbol: str,
        timeframe: str,
    ) -> list[tuple[int, Signal]]:
        """Apply the state machine over the candidate bars only (they are sparse)."""
        state, out = 0, []
        end, close = arrays["end"], arrays["close"]
        for i in np.flatnonzero(codes).tolist():
            new = transition(state, int(codes[i]))
            if new is None:
                continue
            state = new
            values = {k: float(v[i]) for k, v in series.items()}
            sig = self._emit(new, int(end[i]), float(close[i]), values, symbol, timeframe)
            out.append((i, sig))
        return out

    def _emit(
        self, state: int, ts: int, price: float, values: Values, symbol: str, timeframe: str
    ) -> Signal:
        direction = _DIRECTION_AT[state]
        strength, reason = self._describe(direction, price, values)
        return Signal(
            ts=ts,
            symbol=symbol,
            timeframe=timeframe,
            direction=direction,
            strength=strength,
            price=price,
            indicators=values,
            reason=reason,
            strategy=self.name,
        )

    # ---- hooks -----------------------------------------------------------------------------

    def _reset_stream(self) -> None:
        raise NotImplementedError

    def _series(self, arrays: dict[str, FloatArray]) -> dict[str, FloatArray]:
        raise NotImplementedError

    def _codes(self, series: dict[str, FloatArray]) -> np.ndarray:
        raise NotImplementedError

    def _step(self, candle: Candle) -> Values:
        raise NotImplementedError

    def _code(self, prev: Values, cur: Values) -> int:
        raise NotImplementedError

    def _describe(self, direction: Direction, price: float, values: Values) -> tuple[float, str]:
        raise NotImplementedError


def frame_arrays(data: pd.DataFrame) -> dict[str, FloatArray]:
    """The OHLCV columns as contiguous arrays (``end`` as int64, the rest float64)."""
    missing = [c for c in COLUMNS if c not in data.columns]
    if missing:
        raise ValueError(f"data lacks columns {missing}")
    arrays = {c: np.ascontiguousarray(data[c].to_numpy(dtype=np.float64)) for c in COLUMNS[1:]}
    arrays["end"] = np.ascontiguousarray(data["end"].to_numpy(dtype=np.int64))
    return arrays
