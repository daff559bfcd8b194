"""What a backtest is asked to do: money, sizing, fees, slippage, fills, exits, instrument rules.

:class:`BacktestConfig` is a frozen struct validated on construction; every bad value raises
:class:`BacktestError` naming the field, the same way bad input elsewhere in the backtester is
refused (unknown strategy or parameter, empty range, zero-combination grid, bad CSV).

Sizing mirrors the bots' (:class:`~desk.signals.bots.BotConfig` and
:mod:`desk.execution.sizing`): ``size`` is the position a signal targets with ``sizing:
fixed`` and the cap with ``fraction`` and ``atr``; see :mod:`desk.backtest.kernel` for the
exact order of rounding and refusals.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import msgspec

from desk.market.instruments import Instrument


class BacktestError(ValueError):
    """Input the backtester refuses; the message says what is wrong and, where it can, why."""


SIZING_CODES = {"fixed": 0, "fraction": 1, "atr": 2}
ATR_PERIOD = 14
"""The ATR the bots size with (``atr_14`` of the engine's indicator board)."""


class BacktestConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One backtest's settings (strategy and data aside).

    * ``cash``: starting equity in quote currency.
    * ``sizing``/``size``/``fraction``/``risk_budget``/``atr_multiple``: as a bot's
      (``size`` = ``inf`` means no cap; ``fixed`` needs a finite ``size``).
    * ``maker_bps``/``taker_bps``: fees in basis points of the notional (the paper venue's
      defaults, 2 and 5). ``order_type`` ``market`` pays taker and slippage; ``limit`` assumes
      a passive fill at the fill price, maker fee, no slippage.
    * ``slippage_bps``: adverse move of a market fill, in bps of its price;
      ``slippage_range``: plus this fraction of the fill bar's high - low.
    * ``fill``: ``open`` (default): a signal on bar t's close trades at bar t+1's open;
      ``close``: at bar t's close (an explicit, optimistic choice).
    * ``leverage``: cap on |position| x price / equity at the signal (None: no cap).
    * ``stop_loss``/``take_profit``: optional exits, a fraction of the entry price (0.02 = 2%).
    * ``tick``/``lot``/``min_size``: the instrument's rules (0 = none); see
      :meth:`with_instrument`.
    * ``min_strength``/``cooldown_s``/``confirm_bars``: a bot's signal filters, as in
      :class:`~desk.signals.bots.BotConfig` (:mod:`desk.backtest.filters`); the defaults filter
      nothing.
    """

    cash: float = 10_000.0
    sizing: Literal["fixed", "fraction", "atr"] = "fraction"
    size: float = math.inf
    fraction: float = 1.0
    risk_budget: float = 0.0
    atr_multiple: float = 2.0
    maker_bps: float = 2.0
    taker_bps: float = 5.0
    order_type: Literal["market", "limit"] = "market"
    slippage_bps: float = 0.0
    slippage_range: float = 0.0
    fill: Literal["open", "close"] = "open"
    leverage: float | None = 1.0
    stop_loss: float | None = None
    take_profit: float | None = None
    tick: float = 0.0
    lot: float = 0.0
    min_size: float = 0.0
    min_strength: float = 0.0
    cooldown_s: float = 0.0
    confirm_bars: int = 1

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem:
            raise BacktestError(problem)

    def _problem(self) -> str | None:
        finite = {
            "cash": self.cash,
            "fraction": self.fraction,
            "risk_budget": self.risk_budget,
            "atr_multiple": self.atr_multiple,
            "maker_bps": self.maker_bps,
            "taker_bps": self.taker_bps,
            "slippage_bps": self.slippage_bps,
            "slippage_range": self.slippage_range,
            "tick": self.tick,
            "lot": self.lot,
            "min_size": self.min_size,
            "cooldown_s": self.cooldown_s,
        }
        for name, value in finite.items():
            if not math.isfinite(value):
                return f"`{name}` must be a finite number, got {value!r}"
        if not self.cash > 0:
            return f"`cash` must be > 0, got {self.cash!r}"
        if not self.size > 0 or math.isnan(self.size):
            return f"`size` must be > 0, got {self.size!r}"
        if self.sizing == "fixed" and math.isinf(self.size):
            return "`size` must be given (a finite number of base units) for fixed sizing"
        if self.sizing == "fraction" and not 0 < self.fraction <= 1:
            return f"`fraction` must be in (0, 1] for fraction sizing, got {self.fraction!r}"
        if self.sizing == "atr" and not (self.risk_budget > 0 and self.atr_multiple > 0):
            return "`risk_budget` and `atr_multiple` must be > 0 for atr sizing"
        if self.taker_bps < 0:
            return f"`taker_bps` must be >= 0, got {self.taker_bps!r}"
        for name in ("slippage_bps", "slippage_range", "tick", "lot", "min_size"):
            if getattr(self, name) < 0:
                return f"`{name}` must be >= 0, got {getattr(self, name)!r}"
        if self.leverage is not None and not (self.leverage > 0 and math.isfinite(self.leverage)):
            return f"`leverage` must be > 0 (or null for no cap), got {self.leverage!r}"
        if not 0.0 <= self.min_strength <= 1.0:
            return f"`min_strength` must be in [0, 1], got {self.min_strength!r}"
        if self.cooldown_s < 0:
            return f"`cooldown_s` must be >= 0, got {self.cooldown_s!r}"
        if not isinstance(self.confirm_bars, int) or isinstance(self.confirm_bars, bool):
            return f"`confirm_bars` must be a whole number of bars, got {self.confirm_bars!r}"
        if self.confirm_bars < 1:
            return f"`confirm_bars` must be >= 1, got {self.confirm_bars!r}"
        for name in ("stop_loss", "take_profit"):
            value = getattr(self, name)
            if value is not None and not 0 < value < (1 if name == "stop_loss" else math.inf):
                bound = "(0, 1)" if name == "stop_loss" else "> 0"
                return f"`{name}` must be a fraction {bound} of the entry price, got {value!r}"
        return None

    def with_instrument(self, instrument: Instrument) -> BacktestConfig:
        """This config with the instrument's tick, lot and minimum size."""
        return msgspec.structs.replace(
            self, tick=instrument.tick_f, lot=instrument.lot_f, min_size=instrument.min_size_f
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values (JSON-safe: ``inf`` size written as None)."""
        out = msgspec.structs.asdict(self)
        if math.isinf(out["size"]):
            out["size"] = None
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BacktestConfig:
        """Back from :meth:`to_dict`; BacktestError for a bad or unknown key."""
        values = dict(values)
        if values.get("size") is None:
            values["size"] = math.inf
        try:
            return msgspec.convert(values, cls)
        except msgspec.ValidationError as exc:
            raise BacktestError(f"invalid backtest config: {exc}") from None
