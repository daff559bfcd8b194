"""What every feed refuses at its boundary: values no market can have, and clocks far off.

Venue-neutral: the OKX feed uses it today, Binance and Coinbase feeds reuse it. A venue's wire
decoder does the shape and the cheap absolute limits (msgspec ``Meta`` constraints, in C, see
:data:`Price`, :data:`Size`, :data:`TsMs`); this module holds the rest:

* :class:`BadData` - the error a refused value raises. It is a ``ValueError``, so a feed counts it
  as a decode error like any undecodable frame; ``kind`` says ``"value"`` or ``"timestamp"``.
* :class:`PriceGuard` - per symbol, the band a new price must fall in: within ``price_band``
  times the last good price (a stale band is dropped when it refuses everything, so a bad first
  price cannot lock a symbol out for good).
* :func:`check_levels` / :func:`check_book` - the full check of book levels (every price and
  size parsed), used for venue snapshots (WS and REST), frames off the fast path and unusually
  large frames. Live updates and shallow books (``books5``, ``bbo-tbt``) take the cheaper checks
  inside :class:`~desk.market.book.OrderBook` (new prices are parsed there anyway and kept
  within the band the feed hands it; sizes get a one-comparison check).
* :func:`check_ticker_number`, :func:`check_candle`, :func:`check_timestamp` - the same rules for
  tickers, venue candles and exchange timestamps (``max_clock_skew`` around the local clock).

Messages quote outside data only through :func:`desk.core.excerpt.excerpt`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Annotated

import msgspec

from desk.core.config import FrozenConfig
from desk.core.excerpt import excerpt

MAX_PRICE = 1e12
"""No instrument trades above this (in its quote currency); 1e308 and inf are refused by it.
The same as ``desk.market.book.MAX_PRICE``, the book's default limit."""
MAX_SIZE = 1e15
"""No trade or book level is larger than this (in base units)."""
MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
MAX_NUMBER_CHARS = 40
"""Longest price or size string accepted (OKX's longest are about 20 characters)."""

Price = Annotated[float, msgspec.Meta(gt=0.0, lt=MAX_PRICE)]
"""A price as a wire decoder should type it: finite, positive, below :data:`MAX_PRICE`."""
Size = Annotated[float, msgspec.Meta(ge=0.0, lt=MAX_SIZE)]
"""A size: finite, not negative, below :data:`MAX_SIZE`."""
TsMs = Annotated[int, msgspec.Meta(gt=MIN_TS_MS, lt=MAX_TS_MS)]
"""An exchange timestamp in ms, in this century (year 5138 and 1970 are refused while decoding)."""

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
NO_SKEW_LIMIT = 1 << 62
"""The skew limit (ns) when the check is off: one comparison either way."""

_DECIMAL = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?")
"""A plain unsigned decimal, as venues write prices and sizes: no sign, exponent or spaces."""


class ValidationConfig(FrozenConfig, frozen=True):
    """What a feed refuses as bad data (``exchanges.<venue>.validation``).

    ``max_clock_skew`` (s): an exchange timestamp further than this from the local receive time
    is refused; 0 turns the check off (to replay recorded data through the feed).
    ``price_band``: a price more than this factor above or below the last good price of the
    symbol is refused (10 refuses 1e6 for a 60,000 market, not a 50% crash).
    """

    max_clock_skew: Annotated[float, msgspec.Meta(ge=0.0)] = 300.0
    price_band: Annotated[float, msgspec.Meta(gt=1.0)] = 10.0

    @property
    def skew_ns(self) -> int:
        """The skew limit in ns (:data:`NO_SKEW_LIMIT` when off)."""
        return int(self.max_clock_skew * NS_PER_S) if self.max_clock_skew else NO_SKEW_LIMIT


class BadData(ValueError):
    """A value or timestamp refused at the feed boundary; ``kind`` is ``value`` or ``timestamp``."""

    def __init__(self, message: str, kind: str = "value") -> None:
        super().__init__(message)
        self.kind = kind


def bad_timestamp(ts_ns: int, recv_ns: int, skew_ns: int) -> BadData:
    """The error for an exchange time ``ts_ns`` too far from the receive time ``recv_ns``."""
    off_s = (ts_ns - recv_ns) / NS_PER_S
    return BadData(
        f"exchange time {ts_ns // NS_PER_MS} ms is {off_s:+,.0f} s from the local clock "
        f"(limit ±{skew_ns / NS_PER_S:,.0f} s)",
        "timestamp",
    )


def refusal_kind(exc: Exception) -> str | None:
    """``value``/``timestamp`` for a frame refused for a number in it, None for a malformed one.

    Wire types carry range limits (:data:`Price`, :data:`TsMs` ...), so msgspec itself refuses
    many values; its message names the number's trouble and where it is
    (``Expected `float` > 0.0 - at `$.data[0].px```, ``Number out of range - at ...``).
    """
    if isinstance(exc, BadData):
        return exc.kind
    if isinstance(exc, msgspec.ValidationError):
        text = str(exc)
        if text.startswith(_NUMBER_TROUBLE):
            return "timestamp" if text.endswith(".ts`") else "value"
    return None


_NUMBER_TROUBLE = ("Expected `float`", "Expected `int`", "Number out of range")


def check_timestamp(ts_ns: int, recv_ns: int, skew_ns: int) -> None:
    """BadData unless ``ts_ns`` is within ``skew_ns`` of ``recv_ns``."""
    if not -skew_ns <= recv_ns - ts_ns <= skew_ns:
        raise bad_timestamp(ts_ns, recv_ns, skew_ns)


class PriceGuard:
    """The band new prices of one symbol must fall in, re-centred on good prices.

    Before any good price the band is open (only finite, positive, below :data:`MAX_PRICE`).
    ``arm(price)`` centres it on a good price; the feed re-centres it about once a second
    (``refresh``) on the last good trade price or book mid, so it follows the market. The hot
    path reads ``lo``/``hi`` (and stores ``last``) directly.
    """

    __slots__ = ("_at_refresh", "band", "hi", "last", "lo", "refused")

    def __init__(self, band: float) -> None:
        if not band > 1.0:
            raise ValueError(f"price_band must be above 1, not {band}")
        self.band = band
        self.lo = 0.0
        self.hi = MAX_PRICE
        self.last = math.nan  # the last good trade price (the feed's hot path stores it)
        self.refused = 0  # prices refused by the band since the last refresh
        self._at_refresh: float | None = None

    @property
    def armed(self) -> bool:
        return self.hi < MAX_PRICE

    def arm(self, price: float) -> None:
        """Centre the band on a good ``price`` (ignored unless finite and positive)."""
        if 0.0 < price < MAX_PRICE:
            self.lo = price / self.band
            self.hi = min(price * self.band, MAX_PRICE)

    def open(self) -> None:
        """Drop the band: the next good price arms it again."""
        self.lo, self.hi = 0.0, MAX_PRICE

    def check(self, price: float, what: str = "price") -> None:
        """BadData unless ``lo < price < hi`` (NaN and inf never pass)."""
        if not self.lo < price < self.hi:
            raise self.refuse(price, what)

    def refuse(self, price: float, what: str = "price") -> BadData:
        """Count a refusal and return its error (for hot paths that test ``lo``/``hi`` inline)."""
        if self.armed and 0.0 < price < MAX_PRICE:
            self.refused += 1
            return BadData(
                f"{what} {price!r} outside the band {self.lo:.10g}..{self.hi:.10g} "
                f"around the last good price"
            )
        return BadData(f"{what} {price!r} is not a positive finite number below {MAX_PRICE:g}")

    def refresh(self, fallback: float = math.nan) -> None:
        """Re-centre on the last good trade price, else on ``fallback`` (a live book's mid).

        When the band refused prices and neither passed since the last refresh, the band is
        dropped instead: a market that truly moved (or a bad first price) re-arms it.
        """
        last = self.last
        fresh = last is not self._at_refresh and not math.isnan(last)
        self._at_refresh = last
        refused, self.refused = self.refused, 0
        if fresh:
            self.arm(last)
        elif not math.isnan(fallback):
            self.arm(fallback)
        elif refused:
            self.open()


def parse_price(text: str, guard: PriceGuard | None = None, what: str = "price") -> float:
    """A venue's price string as a float; BadData unless it is a plain decimal in the band."""
    if len(text) > MAX_NUMBER_CHARS or not _DECIMAL.fullmatch(text):
        raise BadData(f"{what} {excerpt(text, 40)} is not a plain decimal number")
    value = float(text)
    if guard is not None:
        guard.check(value, what)
    elif not 0.0 < value < MAX_PRICE:
        raise BadData(f"{what} {text} is not a positive number below {MAX_PRICE:g}")
    return value


def parse_size(text: str, what: str = "size") -> float:
    """A venue's size string as a float; BadData unless a plain decimal below MAX_SIZE."""
    if len(text) > MAX_NUMBER_CHARS or not _DECIMAL.fullmatch(text):
        raise BadData(f"{what} {excerpt(text, 40)} is not a plain decimal number")
    value = float(text)
    if not value < MAX_SIZE:
        raise BadData(f"{what} {text} is above {MAX_SIZE:g}")
    return value


def check_levels(levels: Iterable[Sequence[str]], guard: PriceGuard | None = None) -> None:
    """BadData unless every level's price and size pass :func:`parse_price`/:func:`parse_size`.

    A level shorter than ``[price, size]`` or not made of strings is refused too.
    """
    for level in levels:
        if len(level) < 2 or not isinstance(level[0], str) or not isinstance(level[1], str):
            raise BadData(f"book level {excerpt(repr(level), 60)} is not [price, size, ...]")
        parse_price(level[0], guard, "level price")
        parse_size(level[1], "level size")


def check_book(
    bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]], guard: PriceGuard
) -> tuple[float, float]:
    """Check a whole book (a snapshot) with :func:`check_levels`; return the band (lo, hi).

    When the symbol has no band yet, the snapshot is checked against one centred on its own
    median price (:func:`level_mid`), which then becomes the symbol's band.
    """
    if guard.armed:
        check_levels(bids, guard)
        check_levels(asks, guard)
    else:
        mid = level_mid(bids, asks)
        probe = PriceGuard(guard.band)
        probe.arm(mid)
        check_levels(bids, probe)
        check_levels(asks, probe)
        guard.arm(mid)
    return guard.lo, guard.hi


def level_mid(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> float:
    """The median of a snapshot's prices (NaN if it has none): a reference that one absurd
    level cannot move, for a band when the symbol has no good price yet."""
    try:
        prices = sorted(float(level[0]) for side in (bids, asks) for level in side)
    except (ValueError, TypeError, IndexError):
        raise BadData("a book level price is not a number") from None
    return prices[len(prices) // 2] if prices else math.nan


def check_ticker_number(text: str, guard: PriceGuard | None, what: str) -> float:
    """A ticker field: "" is "not known" (NaN); else a price (with ``guard``) or a size."""
    if not text:
        return math.nan
    if guard is not None:
        return parse_price(text, guard, what)
    return parse_size(text, what)


def check_candle(
    open_: float, high: float, low: float, close: float, volume: float, quote_volume: float = 0.0
) -> None:
    """BadData unless a venue candle is possible: positive finite prices, ``low`` the lowest and
    ``high`` the highest of the four, volumes finite and not negative."""
    for name, price in (("open", open_), ("high", high), ("low", low), ("close", close)):
        if not 0.0 < price < MAX_PRICE:
            raise BadData(f"candle {name} {price!r} is not a positive finite price")
    if not low <= min(open_, close) or not max(open_, close) <= high:
        raise BadData(f"candle range low {low!r} high {high!r} does not hold open and close")
    for name, amount in (("volume", volume), ("quote volume", quote_volume)):
        if not 0.0 <= amount < math.inf:
            raise BadData(f"candle {name} {amount!r} is not a finite amount >= 0")
