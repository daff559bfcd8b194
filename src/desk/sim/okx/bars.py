"""OKX bar names (``1m`` ... ``3M``, ``6Hutc`` ...) and the span of the bar holding a time.

Bars 6H and longer are anchored at UTC+8 unless the name ends in ``utc``, as on OKX; weeks
start on Monday.
"""

from __future__ import annotations

import calendar
import re
import time

_UNITS_MS = {"s": 1000, "m": 60_000, "H": 3_600_000, "D": 86_400_000, "W": 604_800_000}
_BAR_RE = re.compile(r"^candle(1s|1m|3m|5m|15m|30m|1H|2H|4H|6H|12H|1D|2D|3D|5D|1W|1M|3M)(utc)?$")
_HK_OFFSET_MS = 8 * 3_600_000
_MONDAY_OFFSET_MS = 4 * 86_400_000  # 1970-01-01 was a Thursday
CANDLE_MIN_GAP = 1.0


def parse_bar(channel: str) -> tuple[str, bool] | None:
    """``candle1H`` -> ("1H", False), ``candle6Hutc`` -> ("6H", True); None if not a candle."""
    match = _BAR_RE.match(channel)
    if match is None or (match.group(2) and match.group(1)[-1] not in "HDWM"):
        return None
    if match.group(2) and match.group(1) in ("1H", "2H", "4H"):
        return None
    return match.group(1), bool(match.group(2))


def bar_start(ts_ms: int, bar: str, utc: bool) -> tuple[int, int]:
    """(start, end) in ms of the bar that holds ``ts_ms``."""
    n, unit = int(bar[:-1]), bar[-1]
    offset = 0 if utc or unit in "sm" else _HK_OFFSET_MS
    if unit == "M":
        return _month_bar(ts_ms, n, offset)
    length = n * _UNITS_MS[unit]
    anchor = offset - (_MONDAY_OFFSET_MS if unit == "W" else 0)
    start = (ts_ms + anchor) // length * length - anchor
    return start, start + length


def _month_bar(ts_ms: int, months: int, offset: int) -> tuple[int, int]:
    year, month = _year_month(ts_ms + offset)
    index = (year * 12 + month - 1) // months * months
    start = calendar.timegm((index // 12, index % 12 + 1, 1, 0, 0, 0)) * 1000 - offset
    index += months
    end = calendar.timegm((index // 12, index % 12 + 1, 1, 0, 0, 0)) * 1000 - offset
    return start, end


def _year_month(ts_ms: int) -> tuple[int, int]:
    tm = time.gmtime(ts_ms // 1000)
    return tm.tm_year, tm.tm_mon
