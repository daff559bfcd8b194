"""The model's features, one row per closed bar: in batch over arrays and streaming per bar.

Columns, in this order (``feature_names(config)``; the checkpoint card stores the list and a
checkpoint whose list differs is refused):

* ``ret_{k}`` for each k in ``return_lags``: the log return ln(c_t / c_{t-k}) over k bars;
* ``rsi``: Wilder's RSI(``rsi``) / 100, in [0, 1];
* ``macd_hist``: the MACD(fast, slow, signal) histogram divided by the close (scale-free);
* ``bb_pctb``: Bollinger %B, (c - lower) / (upper - lower); 0.5 on a flat window;
* ``atr_close``: ATR(``atr``) / close;
* ``close_z``: the rolling z-score of the close over ``zscore`` bars;
* ``log_volume``: ln(1 + volume);
* ``volume_z``: the rolling z-score of the volume over ``volume_zscore`` bars;
* ``book_imbalance``: (B - A) / (B + A) over the top ``book_levels`` levels of the book at the
  bar's close (B, A the bid and ask sizes), in [-1, 1];
* ``spread_bps``: (ask - bid) / mid in basis points, from the best bid and ask at the close;
* ``flow_imbalance``: (buy - sell) / (buy + sell) of the taker volume traded in the bar.

The indicators follow :mod:`desk.signals.indicators` (definitions and warm-up documented
there). A row is NaN-free from index ``warmup(config)`` on (for clean candles); before that the
indicator columns are NaN. The last three columns are never NaN: the book and trade-flow inputs
are optional, and a missing input (not stored for the data source), an empty book, no traded
volume or a non-finite value all read 0.0, the neutral value, so a model trained without them
sees a constant column (which normalisation leaves at 0).

Batch: :func:`compute_features` runs the numba indicator kernels over whole arrays and one more
numba kernel (compiled on first use, cached on disk) that assembles the rows. Streaming:
:class:`FeatureStream` keeps the O(1) updaters of :mod:`desk.signals.streaming` and a ring of the
last closes, and gives the same row, bar for bar (a test holds the two together). Every column at
bar t depends on bars up to t only: no look-ahead (tested).

This module does not import torch (a test holds it), nor numba until the first batch call.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
import numpy as np
import numpy.typing as npt

from desk.signals import indicators as ind
from desk.signals import streaming as live
from desk.signals.model.featuremath import book_sums, imbalance, log_return, pctb, spread_bps

FloatArray = npt.NDArray[np.float64]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]

NAN = math.nan

__all__ = [
    "FeatureConfig",
    "FeatureStream",
    "compute_features",
    "feature_names",
    "warmup",
]


class FeatureConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The feature set's parameters (the names and their order follow from these)."""

    return_lags: tuple[int, ...] = (1, 2, 4, 8, 16)
    rsi: PositiveInt = 14
    macd_fast: PositiveInt = 12
    macd_slow: PositiveInt = 26
    macd_signal: PositiveInt = 9
    bollinger: PositiveInt = 20
    bollinger_k: Annotated[float, msgspec.Meta(ge=0)] = 2.0
    atr: PositiveInt = 14
    zscore: PositiveInt = 20
    volume_zscore: PositiveInt = 20
    book_levels: PositiveInt = 5

    def __post_init__(self) -> None:
        lags = self.return_lags
        if not lags or any(k < 1 for k in lags) or list(lags) != sorted(set(lags)):
            raise ValueError(f"return_lags must be distinct positive integers, ascending: {lags}")
        if self.macd_fast >= self.macd_slow:
            raise ValueError(
                f"macd_fast must be shorter than macd_slow: {self.macd_fast} >= {self.macd_slow}"
            )


def feature_names(config: FeatureConfig | None = None) -> tuple[str, ...]:
    """The column names, in order."""
    cfg = config or FeatureConfig()
    return (
        *(f"ret_{k}" for k in cfg.return_lags),
        "rsi",
        "macd_hist",
        "bb_pctb",
        "atr_close",
        "close_z",
        "log_volume",
        "volume_z",
        "book_imbalance",
        "spread_bps",
        "flow_imbalance",
    )


def warmup(config: FeatureConfig | None = None) -> int:
    """Index of the first NaN-free row on clean candles (the longest indicator warm-up)."""
    c = config or FeatureConfig()
    return max(
        max(c.return_lags),
        c.rsi,
        c.macd_slow + c.macd_signal - 2,
        c.bollinger - 1,
        c.atr,
        c.zscore - 1,
        c.volume_zscore - 1,
    )


# -- batch ------------------------------------------------------------------------------------


def _array(name: str, values: Any, size: int, ndim: int = 1, required: bool = False) -> FloatArray:
    """An input as a C-contiguous float64 array of ``size`` rows (any when -1; empty if None)."""
    if values is None:
        if required:
            raise ValueError(f"{name} is required")
        return np.empty((0,) * ndim)
    try:
        arr = np.ascontiguousarray(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if arr.ndim != ndim or (size >= 0 and arr.shape[0] != size):
        raise ValueError(f"{name} must be {ndim}-D with {size} rows, got shape {arr.shape}")
    return arr


def compute_features(
    high: Any,
    low: Any,
    close: Any,
    volume: Any,
    *,
    bid_sizes: Any = None,
    ask_sizes: Any = None,
    bid: Any = None,
    ask: Any = None,
    buy_volume: Any = None,
    sell_volume: Any = None,
    config: FeatureConfig | None = None,
) -> FloatArray:
    """The (bars, features) matrix, columns as :func:`feature_names`.

    ``bid_sizes`` / ``ask_sizes``: (bars, levels) sizes of the book's top levels at each bar's
    close, best first (only the first ``book_levels`` count); ``bid`` / ``ask``: the best prices
    at the close; ``buy_volume`` / ``sell_volume``: the taker volume of the bar by aggressor
    side. Each pair is optional (see the module docstring for the defaults).
    """
    cfg = config or FeatureConfig()
    c = _array("close", close, -1, required=True)
    size = c.shape[0]
    h, lo = _array("high", high, size, required=True), _array("low", low, size, required=True)
    v = _array("volume", volume, size, required=True)
    rsi = ind.rsi(c, cfg.rsi)
    _, _, hist = ind.macd(c, cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)
    upper, _, lower = ind.bollinger(c, cfg.bollinger, cfg.bollinger_k)
    atr = ind.atr(h, lo, c, cfg.atr)
    close_z = ind.zscore(c, cfg.zscore)
    volume_z = ind.zscore(v, cfg.volume_zscore)
    bids = _array("bid_sizes", bid_sizes, size, 2)
    asks = _array("ask_sizes", ask_sizes, size, 2)
    if (bids.size == 0) != (asks.size == 0):
        raise ValueError("bid_sizes and ask_sizes come together")
    levels = min(cfg.book_levels, bids.shape[1], asks.shape[1]) if bids.size else 0
    bid_px = _array("bid", bid, size)
    ask_px = _array("ask", ask, size)
    buy = _array("buy_volume", buy_volume, size)
    sell = _array("sell_volume", sell_volume, size)
    for name, a, b in (("bid/ask", bid_px, ask_px), ("buy_volume/sell_volume", buy, sell)):
        if (a.size == 0) != (b.size == 0):
            raise ValueError(f"{name} come together")
    lags = np.asarray(cfg.return_lags, dtype=np.int64)
    return _assemble_kernel()(
        c, v, rsi, hist, upper, lower, atr, close_z, volume_z,
        bids, asks, levels, bid_px, ask_px, buy, sell, lags,
    )  # fmt: skip


def _assemble_kernel() -> Any:
    """The numba row assembler (numba is imported with it, on the first batch call)."""
    from desk.signals.model import feature_kernels

    return feature_kernels.assemble


# -- streaming --------------------------------------------------------------------------------


class FeatureStream:
    """O(1) per closed bar: ``update(...)`` returns the bar's feature row (float64).

    The row holds NaN during the warm-up (``ready`` is False until a row is NaN-free); after
    that it is the row :func:`compute_features` gives for the same bar.
    """

    def __init__(self, config: FeatureConfig | None = None) -> None:
        cfg = self.config = config or FeatureConfig()
        self.names = feature_names(cfg)
        self._closes: deque[float] = deque(maxlen=max(cfg.return_lags) + 1)
        self._rsi = live.Rsi(cfg.rsi)
        self._macd = live.Macd(cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)
        self._bb = live.Bollinger(cfg.bollinger, cfg.bollinger_k)
        self._atr = live.Atr(cfg.atr)
        self._close_z = live.ZScore(cfg.zscore)
        self._volume_z = live.ZScore(cfg.volume_zscore)
        self.bars = 0
        self.ready = False
        self.row = np.full(len(self.names), NAN)

    def reset(self) -> None:
        """Forget all history, as if newly built."""
        self.__init__(self.config)  # type: ignore[misc]

    def update(
        self,
        high: float,
        low: float,
        close: float,
        volume: float,
        *,
        bid_sizes: Sequence[float] | None = None,
        ask_sizes: Sequence[float] | None = None,
        bid: float | None = None,
        ask: float | None = None,
        buy_volume: float | None = None,
        sell_volume: float | None = None,
    ) -> FloatArray:
        """Fold one closed bar in; returns its row (a new array each call)."""
        cfg = self.config
        c, v = float(close), float(volume)
        closes = self._closes
        closes.append(c)
        n = len(closes)
        row = np.empty(len(self.names))
        for j, k in enumerate(cfg.return_lags):
            row[j] = log_return(c, closes[n - 1 - k]) if n > k else NAN
        col = len(cfg.return_lags)
        rsi = self._rsi.update(c)
        _, _, hist = self._macd.update(c)
        upper, _, lower = self._bb.update(c)
        atr = self._atr.update(high, low, c)
        row[col] = rsi / 100.0
        row[col + 1] = hist / c if c != 0.0 else _div(hist, c)
        row[col + 2] = pctb(c, upper, lower)
        row[col + 3] = atr / c if c != 0.0 else _div(atr, c)
        row[col + 4] = self._close_z.update(c)
        row[col + 5] = math.log1p(v) if v > -1.0 else (-math.inf if v == -1.0 else NAN)
        row[col + 6] = self._volume_z.update(v)
        row[col + 7] = 0.0
        if bid_sizes is not None and ask_sizes is not None:
            levels = min(cfg.book_levels, len(bid_sizes), len(ask_sizes))
            bids = [float(x) for x in bid_sizes]
            row[col + 7] = imbalance(*book_sums(bids, [float(x) for x in ask_sizes], levels))
        row[col + 8] = 0.0 if bid is None or ask is None else spread_bps(float(bid), float(ask))
        row[col + 9] = (
            0.0
            if buy_volume is None or sell_volume is None
            else imbalance(float(buy_volume), float(sell_volume))
        )
        self.bars += 1
        self.ready = bool(np.all(np.isfinite(row)))
        self.row = row
        return row


def _div(x: float, y: float) -> float:
    """x / y with IEEE semantics (numba's ``error_model="numpy"``): x/0 is +-inf or NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(x) / np.float64(y))
