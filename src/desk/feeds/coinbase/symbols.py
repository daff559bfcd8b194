"""Coinbase product ids <-> desk's normalised symbol names: the one place they are mapped.

Coinbase writes a product as ``BASE-QUOTE`` ("BTC-USD", "BTC-USDT"), which is already desk's
normalised form, so the rule is the identity on upper case. Quotes stay distinct: ``BTC-USD`` on
Coinbase is not ``BTC-USDT`` anywhere (a dollar is not a tether). Products whose native id is not
their normalised name go in ``NATIVE_TO_DESK``; the cross-venue instrument referential of issue
#15 takes this table over.
"""

from __future__ import annotations

import re

VENUE = "coinbase"

NATIVE_TO_DESK: dict[str, str] = {}
"""Coinbase product id -> desk symbol, for the products the rule below does not fit."""

_DESK_TO_NATIVE = {desk: native for native, desk in NATIVE_TO_DESK.items()}
_SYMBOL = re.compile(r"[A-Z0-9]{1,20}-[A-Z0-9]{1,20}")


def to_desk(product_id: str) -> str:
    """``"btc-usd"`` / ``"BTC-USD"`` -> ``"BTC-USD"``."""
    native = product_id.upper()
    return NATIVE_TO_DESK.get(native, native)


def to_native(symbol: str) -> str:
    """desk's ``"BTC-USDT"`` -> Coinbase's ``"BTC-USDT"``."""
    normal = symbol.upper()
    return _DESK_TO_NATIVE.get(normal, normal)


def is_symbol(text: str) -> bool:
    """Whether ``text`` is a normalised ``BASE-QUOTE`` name (upper case, one dash)."""
    return _SYMBOL.fullmatch(text) is not None
