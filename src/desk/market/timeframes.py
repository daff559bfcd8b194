"""Timeframe names ("1s", "5m", "4h", "1d", ...) and their length in nanoseconds.

A timeframe is a positive whole number followed by one unit: s, m, h, d or w (lower case, so
"1m" is always a minute: there are no months here). Candle buckets are aligned to the Unix
epoch, so every timeframe that divides a day splits days at midnight UTC.
"""

from __future__ import annotations

import re

from desk.core.clock import NS_PER_S

SUPPORTED_TIMEFRAMES = ("1s", "3s", "1m", "5m", "15m", "1h", "4h", "1d")
"""The timeframes desk offers in its configs and UI (any valid name parses, though)."""

UNIT_NS = {
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "h": 3_600 * NS_PER_S,
    "d": 86_400 * NS_PER_S,
    "w": 7 * 86_400 * NS_PER_S,
}

_PATTERN = re.compile(r"([1-9][0-9]*)([smhdw])")


def parse_timeframe(name: str) -> int:
    """Length of timeframe ``name`` in ns; ValueError with the expected form if it is not one."""
    match = _PATTERN.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(
            f"unknown timeframe {name!r}: expected a number followed by s, m, h, d or w"
        )
    return int(match.group(1)) * UNIT_NS[match.group(2)]


def format_timeframe(ns: int) -> str:
    """The shortest name for a length in ns (``format_timeframe(300 * NS_PER_S) == "5m"``)."""
    if ns <= 0 or ns % NS_PER_S:
        raise ValueError(f"a timeframe is a positive whole number of seconds, not {ns} ns")
    for unit in ("w", "d", "h", "m", "s"):
        if ns % UNIT_NS[unit] == 0:
            return f"{ns // UNIT_NS[unit]}{unit}"
    raise AssertionError("unreachable: every whole number of seconds divides by 1 s")
