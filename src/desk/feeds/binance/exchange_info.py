"""``GET /api/v3/exchangeInfo`` -> desk's instrument rules (PROTOCOLS.md B.4).

Each symbol carries its rules as filters; desk needs four of them::

    {"filterType":"PRICE_FILTER","minPrice":"0.00000100","maxPrice":"100000.00000000",
     "tickSize":"0.00000100"}
    {"filterType":"LOT_SIZE","minQty":"0.00100000","maxQty":"100000.00000000",
     "stepSize":"0.00100000"}
    {"filterType":"MIN_NOTIONAL","minNotional":"0.00100000","applyToMarket":true,"avgPriceMins":5}
    {"filterType":"NOTIONAL","minNotional":"10.00000000","applyMinToMarket":false,
     "maxNotional":"10000.00000000","applyMaxToMarket":false,"avgPriceMins":5}

A value of 0 disables that part of a filter; both ``MIN_NOTIONAL`` and ``NOTIONAL`` occur (the
stricter minimum wins). Strings are kept as Binance writes them (``"0.01000000"``): desk's
``Instrument`` does its grid arithmetic in ``Decimal``, which reads them exactly. A symbol
without a usable tick or step cannot be traded by desk and is listed in ``skipped`` instead.

``status`` is ``TRADING``, ``HALT``, ``BREAK`` or (from July 2026) ``CANCEL_ONLY``; desk's
instrument state is ``live`` for ``TRADING`` and the status in lower case otherwise, so
``Instrument.is_live`` holds only for a trading symbol.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import msgspec

from desk.feeds.binance.symbols import SymbolMap
from desk.market.instruments import Instrument

VENUE = "binance"


class Filter(msgspec.Struct, kw_only=True):
    """Any filter: the fields of the four desk reads, the rest skipped."""

    filterType: str
    minPrice: str = ""
    maxPrice: str = ""
    tickSize: str = ""
    minQty: str = ""
    maxQty: str = ""
    stepSize: str = ""
    minNotional: str = ""
    maxNotional: str = ""


class SymbolInfo(msgspec.Struct, kw_only=True):
    """``{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT",
    "filters":[...], ...}`` (many more fields, skipped)."""

    symbol: str
    status: str = "TRADING"
    baseAsset: str
    quoteAsset: str
    filters: list[Filter] = []


class ExchangeInfo(msgspec.Struct, kw_only=True):
    serverTime: int = 0
    symbols: list[SymbolInfo]


class SymbolRules(msgspec.Struct, frozen=True, kw_only=True):
    """One Binance symbol's rules: desk's ``Instrument`` plus what it has no field for yet.

    ``min_notional``/``max_notional`` are "" when no filter sets them (or sets 0). The
    referential (issue #15) can fold ``min_notional`` into ``Instrument`` once it has the field.
    """

    instrument: Instrument
    native: str
    status: str
    min_price: str = ""
    max_price: str = ""
    max_qty: str = ""
    min_notional: str = ""
    max_notional: str = ""


class Skipped(msgspec.Struct, frozen=True):
    native: str
    reason: str


_decoder = msgspec.json.Decoder(ExchangeInfo)


def decode_exchange_info(body: bytes) -> ExchangeInfo:
    """The typed reply; ``msgspec.ValidationError`` when it is not exchangeInfo's shape."""
    return _decoder.decode(body)


def parse_symbols(
    info: ExchangeInfo, names: SymbolMap | None = None
) -> tuple[list[SymbolRules], list[Skipped]]:
    """Every usable symbol's rules (normalised names from base/quote asset), and the rest."""
    names = names if names is not None else SymbolMap()
    rules: list[SymbolRules] = []
    skipped: list[Skipped] = []
    for item in info.symbols:
        try:
            rules.append(symbol_rules(item, names))
        except ValueError as exc:
            skipped.append(Skipped(item.symbol, str(exc)))
    return rules, skipped


def symbol_rules(item: SymbolInfo, names: SymbolMap) -> SymbolRules:
    """One symbol's rules; ``ValueError`` when it lacks a positive tick or step."""
    filters = {f.filterType: f for f in item.filters}
    price = filters.get("PRICE_FILTER")
    lot = filters.get("LOT_SIZE")
    if price is None or not _positive(price.tickSize):
        raise ValueError("no PRICE_FILTER with a positive tickSize")
    if lot is None or not _positive(lot.stepSize):
        raise ValueError("no LOT_SIZE with a positive stepSize")
    symbol = names.add(item.baseAsset, item.quoteAsset)
    min_notional = _stricter_min(filters.get("MIN_NOTIONAL"), filters.get("NOTIONAL"))
    notional = filters.get("NOTIONAL")
    instrument = Instrument(
        venue=VENUE,
        symbol=symbol,
        base=item.baseAsset,
        quote=item.quoteAsset,
        tick_size=price.tickSize,
        lot_size=lot.stepSize,
        min_size=lot.minQty if _positive(lot.minQty) else lot.stepSize,
        state="live" if item.status == "TRADING" else item.status.lower(),
    )
    return SymbolRules(
        instrument=instrument,
        native=item.symbol,
        status=item.status,
        min_price=_enabled(price.minPrice),
        max_price=_enabled(price.maxPrice),
        max_qty=_enabled(lot.maxQty),
        min_notional=min_notional,
        max_notional=_enabled(notional.maxNotional) if notional is not None else "",
    )


def _positive(text: str) -> bool:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        return False
    return value.is_finite() and value > 0


def _enabled(text: str) -> str:
    """The limit as written, or "" when it is absent or 0 (disabled)."""
    return text if _positive(text) else ""


def _stricter_min(*filters: Filter | None) -> str:
    """The larger ``minNotional`` of ``MIN_NOTIONAL`` and ``NOTIONAL`` ("" if neither has one)."""
    values = [f.minNotional for f in filters if f is not None and _positive(f.minNotional)]
    return max(values, key=Decimal) if values else ""
