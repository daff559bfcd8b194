"""OKX's private API on the wire: request signing (PROTOCOLS.md A.8, A.9), the strings OKX
uses for order types and states, and its order rows read into ``VenueOrder``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from desk.core.clock import NS_PER_MS
from desk.core.enums import Side
from desk.core.orders import OrderStatus, OrderType
from desk.execution.credentials import Credentials
from desk.execution.venue import VenueOrder

LOGIN_PATH = "/users/self/verify"
ORDER_TYPES = {
    OrderType.LIMIT: "limit",
    OrderType.MARKET: "market",
    OrderType.POST_ONLY: "post_only",
    OrderType.IOC: "ioc",
    OrderType.FOK: "fok",
}
FROM_ORD_TYPE = {v: k for k, v in ORDER_TYPES.items()}
OPEN_STATES = {"live": OrderStatus.LIVE, "partially_filled": OrderStatus.PARTIALLY_FILLED}
CANCELED_STATES = frozenset({"canceled", "mmp_canceled"})
ALL_STATES = {
    **OPEN_STATES,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "mmp_canceled": OrderStatus.CANCELED,
}


def _sign(secret: str, prehash: str) -> str:
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def login_request(credentials: Credentials, epoch_s: int) -> dict[str, Any]:
    """``{"op":"login","args":[{"apiKey","passphrase","timestamp","sign"}]}`` (A.8)."""
    ts = str(epoch_s)
    return {
        "op": "login",
        "args": [
            {
                "apiKey": credentials.api_key,
                "passphrase": credentials.passphrase,
                "timestamp": ts,
                "sign": _sign(credentials.secret, f"{ts}GET{LOGIN_PATH}"),
            }
        ],
    }


def iso_timestamp(epoch_ms: int) -> str:
    """``2020-12-08T09:08:57.715Z``."""
    when = datetime.fromtimestamp(epoch_ms // 1000, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def rest_headers(
    credentials: Credentials, method: str, request_path: str, body: str, epoch_ms: int, demo: bool
) -> dict[str, str]:
    """The OK-ACCESS-* headers of one signed REST call (A.9)."""
    ts = iso_timestamp(epoch_ms)
    headers = {
        "OK-ACCESS-KEY": credentials.api_key,
        "OK-ACCESS-SIGN": _sign(credentials.secret, ts + method.upper() + request_path + body),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": credentials.passphrase,
        "Content-Type": "application/json",
    }
    if demo:
        headers["x-simulated-trading"] = "1"
    return headers


def decimal_str(value: Decimal) -> str:
    """A Decimal as a plain wire string (``Decimal("1E+2")`` -> ``"100"``), never via float."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"not a finite Decimal: {value!r}")
    return format(value, "f")


def ms_to_ns(text: Any) -> int:
    try:
        return int(text) * NS_PER_MS
    except (TypeError, ValueError):
        return time.time_ns()


def venue_order(entry: dict[str, Any]) -> VenueOrder:
    """One order row of the REST ``orders-pending`` / ``order`` answers."""
    px = entry.get("px") or ""
    return VenueOrder(
        client_order_id=str(entry.get("clOrdId", "")),
        venue_order_id=str(entry.get("ordId", "")),
        symbol=str(entry.get("instId", "")),
        side=Side(entry.get("side", "buy")),
        order_type=FROM_ORD_TYPE.get(entry.get("ordType", ""), OrderType.LIMIT),
        price=Decimal(px) if px else None,
        size=Decimal(entry.get("sz") or "0"),
        filled=Decimal(entry.get("accFillSz") or "0"),
        status=ALL_STATES.get(entry.get("state", ""), OrderStatus.LIVE),
        avg_price=Decimal(entry.get("avgPx") or "0"),
        fee=-Decimal(entry.get("fee") or "0"),  # OKX: negative = charged
        fee_ccy=str(entry.get("feeCcy", "")),
    )
