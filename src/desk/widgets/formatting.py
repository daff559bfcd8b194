"""Number and time formatting shared by the widgets; pure functions, no Textual.

Times are shown in UTC: a desk is often watched from several time zones at once and exchange
times are UTC, so a trade's time on screen matches the venue's own records.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from typing import TypeVar

NS = 1_000_000_000
T = TypeVar("T")
MAX_DECIMALS = 8
SPARK_BARS = "▁▂▃▄▅▆▇█"


def price_decimals(prices: list[float], floor: int = 0) -> int:
    """The fewest decimals that show every price exactly (tick sizes are not in the views)."""
    decimals = floor
    for price in prices:
        if not math.isfinite(price):
            continue
        while decimals < MAX_DECIMALS and abs(round(price, decimals) - price) > 1e-9 * max(
            1.0, abs(price)
        ):
            decimals += 1
    return decimals


def fmt_price(price: float, decimals: int) -> str:
    if not math.isfinite(price):
        return "—"
    return f"{price:,.{decimals}f}"


def fmt_size(size: float) -> str:
    """Sizes to about five significant figures, so a column keeps a steady width."""
    if not math.isfinite(size):
        return "—"
    magnitude = abs(size)
    if magnitude >= 1e6:
        return f"{size / 1e6:,.2f}M"
    if magnitude >= 1e4:
        return f"{size:,.0f}"
    if magnitude >= 100:
        return f"{size:,.2f}"
    return f"{size:.4f}"


@lru_cache(maxsize=1024)
def price_text(price: float, decimals: int) -> str:
    """``fmt_price``, remembered: a ladder shows the same few dozen prices tick after tick (a
    small cache: it is full within minutes, so it does not add to the RSS for an hour)."""
    return fmt_price(price, decimals)


def fmt_pct(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:+.2f}%"


def fmt_age_ms(age_ms: float) -> str:
    """A message age as a person scans it: 80ms, 4.2s, 3m10s, or 'never'."""
    if not math.isfinite(age_ms):
        return "never"
    if age_ms < 1000:
        return f"{age_ms:.0f}ms"
    seconds = age_ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def fmt_ms(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def fmt_rate(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def fmt_bytes(count: float) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover - loop always returns


def fmt_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def utc_hms(ts_ns: int, millis: bool = False) -> str:
    """HH:MM:SS (or HH:MM:SS.mmm) in UTC of a ns timestamp."""
    seconds, rest = divmod(int(ts_ns), NS)
    text = _hms(seconds)
    return f"{text}.{rest // 1_000_000:03d}" if millis else text


@lru_cache(maxsize=256)
def _hms(seconds: int) -> str:
    """A tape prints dozens of trades within one second: format each second once."""
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def utc_label(ts_ns: int, timeframe: str) -> str:
    """A time-axis label sized to the timeframe: dates for daily bars, minutes for intraday."""
    seconds = int(ts_ns) // NS
    if timeframe.endswith(("d", "w")):
        return time.strftime("%m-%d", time.gmtime(seconds))
    if timeframe.endswith("s"):
        return time.strftime("%H:%M:%S", time.gmtime(seconds))
    return time.strftime("%H:%M", time.gmtime(seconds))


def sparkline(values: list[float], width: int) -> str:
    """The last ``width`` values as block characters scaled from 0 to their maximum."""
    tail = [v for v in values[-width:] if math.isfinite(v)] if width > 0 else []
    if not tail:
        return ""
    top = max(tail)
    if top <= 0:
        return SPARK_BARS[0] * len(tail)
    last = len(SPARK_BARS) - 1
    return "".join(SPARK_BARS[min(last, int(v / top * last + 0.5))] for v in tail)


def bar_rows(values: list[float], width: int, rows: int) -> list[str]:
    """The last ``width`` values as vertical bars ``rows`` high (eighth blocks), top row first."""
    tail = [v if math.isfinite(v) and v > 0 else 0.0 for v in values[-width:]] if width else []
    top = max(tail, default=0.0) or 1.0
    heights = [round(v / top * rows * 8) for v in tail]
    pad = " " * (width - len(tail))
    lines = []
    for r in range(rows):
        floor = (rows - 1 - r) * 8
        cells = "".join(" ▁▂▃▄▅▆▇█"[min(8, max(0, h - floor))] for h in heights)
        lines.append(pad + cells)
    return lines


def changed_runs(old: list[object], new: list[object]) -> list[tuple[int, int]]:
    """(start, count) of each run of indices where ``new`` differs from ``old``.

    Widgets repaint only these lines: Textual re-renders a refreshed line in full (styles,
    filters, encoding), so an unchanged line is worth not touching.
    """
    runs: list[tuple[int, int]] = []
    start = -1
    for index in range(max(len(old), len(new))):
        same = index < len(old) and index < len(new) and old[index] == new[index]
        if not same and start < 0:
            start = index
        elif same and start >= 0:
            runs.append((start, index - start))
            start = -1
    if start >= 0:
        runs.append((start, max(len(old), len(new)) - start))
    return runs


def kept_lines(lines: list[T], old: list[object], new: list[object]) -> list[T | None]:
    """``lines`` (drawn for the keys ``old``) where ``new`` has the same key, None elsewhere:
    a widget that keeps a finished line per row redraws only the rows whose key changed."""
    if len(lines) != len(new) or len(old) != len(new):
        return [None] * len(new)
    return [line if a == b else None for line, a, b in zip(lines, old, new, strict=True)]
