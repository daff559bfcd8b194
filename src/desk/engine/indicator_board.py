"""Live indicator values for every configured symbol and timeframe (the signals mode's table).

Each (symbol, timeframe) keeps O(1) streaming updaters fed by closed candles from the bus, so
the whole table costs a few microseconds per closed candle however long the desk runs. These
are the same updaters the strategies use, equal bar for bar to the batch kernels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from desk.bridge.views import IndicatorRow
from desk.core.bus import Bus
from desk.core.events import Candle
from desk.signals import streaming as live

NAN = math.nan
IMBALANCE_LEVELS = 10


class _Panel:
    """The updaters of one symbol on one timeframe, and their latest values."""

    def __init__(self) -> None:
        self.sma = live.Sma(20)
        self.ema = live.Ema(20)
        self.rsi = live.Rsi(14)
        self.macd = live.Macd(12, 26, 9)
        self.bands = live.Bollinger(20, 2.0)
        self.atr = live.Atr(14)
        self.zscore = live.ZScore(20)
        self.vol = live.RealizedVol(20)
        self.values: dict[str, float] = {}
        self.ts = 0
        self.bars = 0

    def update(self, candle: Candle) -> None:
        close = candle.close
        macd, signal, hist = self.macd.update(close)
        upper, _middle, lower = self.bands.update(close)
        self.values = {
            "close": close,
            "sma_20": self.sma.update(close),
            "ema_20": self.ema.update(close),
            "rsi_14": self.rsi.update(close),
            "macd": macd,
            "macd_signal": signal,
            "macd_hist": hist,
            "bb_upper": upper,
            "bb_lower": lower,
            "atr_14": self.atr.update(candle.high, candle.low, close),
            "zscore_20": self.zscore.update(close),
            "vol_20": self.vol.update(close),
        }
        self.ts = candle.end
        self.bars += 1


class IndicatorBoard:
    """Folds closed candles into per-(symbol, timeframe) indicator panels.

    ``imbalance`` reads a symbol's current book top-N volume imbalance (or NaN): it is taken
    when a view is built, not per tick.
    """

    def __init__(
        self,
        bus: Bus,
        symbols: tuple[str, ...],
        timeframes: tuple[str, ...],
        imbalance: Callable[[str], float] | None = None,
        venue: str = "okx",
    ) -> None:
        self.venue = venue  # the panels follow one venue's candles (others share the topics)
        self._panels = {(s, tf): _Panel() for s in symbols for tf in timeframes}
        self._imbalance = imbalance or (lambda _symbol: NAN)
        self.version = 0
        bus.subscribe("market_data:*", self.on_market_data)

    def on_market_data(self, event: Any) -> None:
        if type(event) is not Candle or not event.closed or event.venue != self.venue:
            return
        panel = self._panels.get((event.symbol, event.timeframe))
        if panel is not None:
            panel.update(event)
            self.version += 1

    def value(self, symbol: str, timeframe: str, name: str) -> float:
        """One live value (e.g. ``atr_14``), NaN while warming up or unknown."""
        panel = self._panels.get((symbol, timeframe))
        return panel.values.get(name, NAN) if panel is not None else NAN

    def values(self, symbol: str, timeframe: str) -> dict[str, float]:
        """Every live value of one panel (empty before its first candle)."""
        panel = self._panels.get((symbol, timeframe))
        return dict(panel.values) if panel is not None else {}

    def rows(self) -> list[IndicatorRow]:
        """Every panel that has seen a candle, in config order."""
        out = []
        imbalance: dict[str, float] = {}
        for (symbol, timeframe), panel in self._panels.items():
            if not panel.bars:
                continue
            if symbol not in imbalance:
                imbalance[symbol] = self._imbalance(symbol)
            out.append(
                IndicatorRow(
                    symbol=symbol,
                    timeframe=timeframe,
                    ts=panel.ts,
                    imbalance=imbalance[symbol],
                    bars=panel.bars,
                    **panel.values,
                )
            )
        return out
