"""Binance's native symbols and desk's normalised names, in one place.

desk names an instrument ``BASE-QUOTE`` (``BTC-USDT``, as OKX writes it); Binance writes
``BTCUSDT`` on REST and in payloads (``"s":"BTCUSDT"``) and ``btcusdt`` in stream names. The
mapping is this small table and two functions, so the cross-venue instrument referential can take
it over later: it knows every pair from ``exchangeInfo`` (``baseAsset``/``quoteAsset``) and can
call :meth:`SymbolMap.add` with them; until then a native name is split at a known quote asset.
"""

from __future__ import annotations

import re

QUOTE_ASSETS = (
    "FDUSD",
    "USDT",
    "USDC",
    "TUSD",
    "BUSD",
    "DAI",
    "BTC",
    "ETH",
    "BNB",
    "EUR",
    "TRY",
    "BRL",
    "JPY",
    "GBP",
)
"""Quote assets a native name is split at when ``exchangeInfo`` has not said (longest first
where one ends another: ``FDUSD`` before ``USD``-like endings)."""

_NORMALISED = re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$")


def is_normalised(symbol: str) -> bool:
    """``BTC-USDT`` yes; ``BTCUSDT``, ``btc-usdt`` or ``BTC-USDT-SWAP`` no."""
    return bool(_NORMALISED.match(symbol))


def to_native(symbol: str) -> str:
    """``BTC-USDT`` -> ``BTCUSDT``; ``ValueError`` unless ``symbol`` is ``BASE-QUOTE``."""
    if not is_normalised(symbol):
        raise ValueError(f"{symbol!r} is not a symbol of the form BASE-QUOTE (e.g. BTC-USDT)")
    return symbol.replace("-", "")


def stream_symbol(native: str) -> str:
    """The symbol as stream names write it: ``BTCUSDT`` -> ``btcusdt``."""
    return native.lower()


def split_native(native: str) -> tuple[str, str]:
    """``BTCUSDT`` -> ``("BTC", "USDT")`` by the known quote assets; ``ValueError`` if none fits."""
    upper = native.upper()
    for quote in QUOTE_ASSETS:
        if upper.endswith(quote) and len(upper) > len(quote):
            return upper[: -len(quote)], quote
    raise ValueError(f"cannot tell the quote asset of Binance symbol {native!r}")


class SymbolMap:
    """Native <-> normalised names of the symbols one feed (or one simulator) deals with."""

    def __init__(self, normalised: tuple[str, ...] | list[str] = ()) -> None:
        self._to_native: dict[str, str] = {}
        self._to_normalised: dict[str, str] = {}
        for symbol in normalised:
            to_native(symbol)  # refuses a malformed name
            base, quote = symbol.split("-", 1)
            self.add(base, quote)

    def add(self, base: str, quote: str) -> str:
        """Know the pair ``base``/``quote`` (as ``exchangeInfo`` names them); its desk name."""
        normalised = f"{base.upper()}-{quote.upper()}"
        native = to_native(normalised)
        self._to_native[normalised] = native
        self._to_normalised[native] = normalised
        return normalised

    def native(self, normalised: str) -> str:
        """``BTC-USDT`` -> ``BTCUSDT`` (any well-formed name maps, known or not)."""
        return self._to_native.get(normalised) or to_native(normalised)

    def normalised(self, native: str) -> str:
        """``BTCUSDT`` (or ``btcusdt``) -> ``BTC-USDT``; an unknown name is split at its quote."""
        upper = native.upper()
        known = self._to_normalised.get(upper)
        if known is not None:
            return known
        base, quote = split_native(upper)
        return f"{base}-{quote}"

    def __contains__(self, native: str) -> bool:
        return native.upper() in self._to_normalised
