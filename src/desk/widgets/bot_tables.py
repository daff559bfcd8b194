"""The tables of the bots and signals modes: bots, signals, bot changes and live indicators.

Each turns a view into rows of cells. Coloured cells carry a component-class style (pnl-up,
sent, filtered …) whose colour is a theme variable in desk.tcss, so themes restyle them. Columns
have a ``drop`` rank: at 80 columns the least important ones go, at 200 all are shown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text

from desk.bridge.views import BotEventView, BotView, IndicatorRow, SignalView
from desk.widgets.formatting import NS, fmt_age_ms, fmt_size, utc_hms
from desk.widgets.keyed_table import Cell, Column, FitTable

RSI_LOW, RSI_HIGH = 30.0, 70.0


class MarkedTable(FitTable):
    """Resolves a cell's mark (a component-class suffix) to its theme-coloured style."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        f"bot-table--{mark}"
        for mark in (
            "up",
            "down",
            "muted",
            "long",
            "short",
            "sent",
            "filtered",
            "failed",
            "running",
            "stopped",
            "paused",
            "manual",
            "hot",
            "cold",
        )
    }

    def mark(self, text: str, mark: str) -> Text:
        if not mark:
            return Text(text)
        return Text(text, style=self.get_component_rich_style(f"bot-table--{mark}", partial=True))

    def on_mount(self) -> None:  # Textual also runs KeyedTable.on_mount (it walks the MRO)
        self.app.theme_changed_signal.subscribe(self, self._restyle)

    def _restyle(self, _theme: object) -> None:
        """New colours: screens put ``style_epoch`` in their redraw key, so the next sample
        redraws, and cells whose style changed are updated."""
        self.style_epoch += 1

    style_epoch = 0


class BotsTable(MarkedTable, can_focus=True):
    """One row per bot, keyed by bot id; the cursor selects the bot the keys act on."""

    ALL_COLUMNS = (
        Column("bot", "bot", 12),
        Column("strategy", "strategy", 18, drop=3),
        Column("symbol", "symbol", 9),
        Column("tf", "tf", 3, drop=4),
        Column("state", "state", 7),
        Column("mode", "mode", 6),
        Column("position", "position", 9, right=True, drop=2),
        Column("pnl", "pnl", 9, right=True),
        Column("accuracy", "accuracy", 9, right=True, drop=1),
        Column("last", "last signal", 12, drop=3),  # the signals below show it too
        Column("signals", "sent/all", 9, right=True, drop=5),
    )

    def show_bots(self, bots: list[BotView], now_ns: int) -> None:
        self.show_records({bot.bot_id: self._record(bot, now_ns) for bot in bots})

    def _record(self, bot: BotView, now_ns: int) -> Mapping[str, Cell]:
        state = bot.state if bot.state == "running" else "stopped"
        return {
            "bot": bot.bot_id,
            "strategy": bot.strategy,
            "symbol": bot.symbol,
            "tf": bot.timeframe,
            "state": self.mark(bot.state, state),
            "mode": self.mark(bot.mode, "" if bot.mode == "auto" else bot.mode),
            "position": fmt_size(bot.position) if bot.position else "·",
            "pnl": self.mark(fmt_pnl(bot.pnl), pnl_mark(bot.pnl)),
            "accuracy": self._accuracy(bot),
            "last": self._last_signal(bot, now_ns),
            "signals": f"{bot.sent_count}/{bot.signal_count}",
        }

    def _accuracy(self, bot: BotView) -> Text:
        """'62% ·37': the share of its scored signals the price followed, and how many."""
        if bot.accuracy is None or not bot.accuracy_signals:
            return self.mark("—", "muted")
        n = bot.accuracy_signals
        cell = Text(f"{bot.accuracy:.0%}")
        muted = self.get_component_rich_style("bot-table--muted", partial=True)
        cell.append(f" ·{n}" if n < 1000 else f" ·{n / 1000:.0f}k", style=muted)
        return cell

    def _last_signal(self, bot: BotView, now_ns: int) -> Text:
        if bot.last_signal_ts is None or not bot.last_signal_direction:
            return self.mark("—", "muted")
        direction = bot.last_signal_direction
        age = fmt_age_s(max(0, now_ns - bot.last_signal_ts))
        cell = self.mark(f"{direction:<5}", direction_mark(direction))
        cell.append(
            f" {age}", style=self.get_component_rich_style("bot-table--muted", partial=True)
        )
        return cell


class SignalsTable(MarkedTable, can_focus=True):
    """A stream of signals with their fate, newest on top; keyed by the signal's ``seq``."""

    ORDERED = True
    ALL_COLUMNS = (
        Column("time", "time", 8),
        Column("bot", "bot", 12),
        Column("symbol", "symbol", 9, drop=2),
        Column("dir", "dir", 5),
        Column("strength", "str", 4, right=True, drop=3),
        Column("price", "price", 11, right=True, drop=1),
        Column("fate", "fate", 20),
        Column("reason", "reason", 40, drop=4),
    )

    def show_signals(self, signals: list[SignalView]) -> None:
        self.show_records({str(s.seq): self.record(s) for s in signals})

    def record(self, signal: SignalView) -> Mapping[str, Cell]:
        return {
            "time": utc_hms(signal.ts),
            "bot": signal.bot_id,
            "symbol": signal.symbol,
            "dir": self.mark(signal.direction, direction_mark(signal.direction)),
            "strength": f"{signal.strength:.2f}",
            "price": fmt_number(signal.price),
            "fate": self.mark(signal.fate, fate_mark(signal.fate)),
            "reason": signal.reason,
        }


class BotEventsTable(MarkedTable):
    """A bot's change log, newest on top: what changed and who changed it."""

    ORDERED = True
    ALL_COLUMNS = (
        Column("time", "time", 8),
        Column("kind", "kind", 8, drop=1),
        Column("summary", "change", 30),
        Column("actor", "by", 10),
    )

    def show_events(self, events: list[BotEventView]) -> None:
        self.show_records(
            {
                str(e.seq): {
                    "time": utc_hms(e.ts),
                    "kind": e.kind,
                    "summary": e.summary,
                    "actor": self.mark(e.actor, "" if e.actor == "operator" else "muted"),
                }
                for e in events
            }
        )


class IndicatorTable(MarkedTable):
    """Live indicator values, one row per symbol x timeframe."""

    ALL_COLUMNS = (
        Column("symbol", "symbol", 9),
        Column("tf", "tf", 3),
        Column("close", "close", 11, right=True, drop=3),
        Column("rsi", "RSI", 5, right=True),
        Column("macd", "MACD", 9, right=True, drop=5),
        Column("hist", "hist", 9, right=True),
        Column("bb", "BB%", 5, right=True),
        Column("atr", "ATR", 9, right=True, drop=4),
        Column("z", "z", 5, right=True),
        Column("vol", "vol", 7, right=True, drop=2),
        Column("imb", "imb", 5, right=True, drop=1),
        Column("bars", "bars", 5, right=True, drop=6),
    )

    def show_rows(self, rows: list[IndicatorRow]) -> None:
        self.show_records({f"{r.symbol}/{r.timeframe}": self._record(r) for r in rows})

    def _record(self, r: IndicatorRow) -> Mapping[str, Cell]:
        rsi_mark = "hot" if r.rsi_14 > RSI_HIGH else "cold" if r.rsi_14 < RSI_LOW else ""
        return {
            "symbol": r.symbol,
            "tf": r.timeframe,
            "close": fmt_number(r.close),
            "rsi": self.mark(fmt_fixed(r.rsi_14, 1), rsi_mark),
            "macd": fmt_number(r.macd),
            "hist": self.mark(fmt_number(r.macd_hist), pnl_mark(r.macd_hist)),
            "bb": fmt_fixed(bollinger_position(r), 2),
            "atr": fmt_number(r.atr_14),
            "z": self.mark(fmt_fixed(r.zscore_20, 2), pnl_mark(r.zscore_20)),
            "vol": fmt_pct_plain(r.vol_20),
            "imb": self.mark(fmt_fixed(r.imbalance, 2), pnl_mark(r.imbalance)),
            "bars": str(r.bars),
        }


# -- pure helpers ------------------------------------------------------------------------------


def fmt_pnl(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:+,.2f}"


def pnl_mark(value: float) -> str:
    if not math.isfinite(value) or value == 0:
        return ""
    return "up" if value > 0 else "down"


def direction_mark(direction: str) -> str:
    return {"long": "long", "short": "short"}.get(direction, "muted")


def fate_mark(fate: str) -> str:
    """sent / filtered_* / failed, as the stream colours them."""
    if fate == "sent":
        return "sent"
    if fate.startswith("filtered"):
        return "filtered"
    return "failed"


def fmt_age_s(age_ns: int) -> str:
    """An age to the second ('4s', '3m10s'): ages in the bots table tick once a second."""
    seconds = age_ns // NS
    return f"{seconds}s" if seconds < 60 else fmt_age_ms(seconds * 1000.0)


def fmt_fixed(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}" if math.isfinite(value) else "—"


def fmt_number(value: float) -> str:
    """About six significant figures: prices of 65,000 and 0.0012 in one column."""
    if not math.isfinite(value):
        return "—"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.2f}"
    if magnitude >= 1:
        return f"{value:.4f}"
    return f"{value:.6f}"


def fmt_pct_plain(value: float) -> str:
    return f"{value * 100:.3f}%" if math.isfinite(value) else "—"


def bollinger_position(r: IndicatorRow) -> float:
    """Where the close sits in the bands: 0 at the lower, 1 at the upper (NaN while warming)."""
    width = r.bb_upper - r.bb_lower
    if not math.isfinite(width) or width <= 0 or not math.isfinite(r.close):
        return math.nan
    return (r.close - r.bb_lower) / width
