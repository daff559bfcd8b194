"""Private orders of the simulated OKX: request parsing, order records, ``orders`` wire entries.

An order request (a WS ``order`` arg or a REST ``/trade/order`` body) looks like
``{"instIdCode":1000000000,"tdMode":"cash","clOrdId":"b15","side":"buy","ordType":"limit",
"px":"2.15","sz":"2"}``; ``instId`` is accepted as well (``instIdCode`` wins when both are sent).
Bad requests raise ``OrderError(sCode, sMsg)`` with OKX's codes:

* ``51000`` "Parameter {name} error" (bad side, ordType, tdMode, px, clOrdId, tgtCcy);
* ``51001`` unknown instrument; ``51121`` size not a multiple of ``lotSz``;
* ``51020`` size under ``minSz``; ``51016`` duplicated clOrdId; ``51008`` insufficient balance.

Market orders: ``sz`` is in the quote currency for a market buy unless ``tgtCcy`` is
``base_ccy`` (as on OKX), in the base currency for a market sell unless ``tgtCcy`` is
``quote_ccy``. ``accFillSz`` and ``fillSz`` are always base currency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from desk.core.enums import Side
from desk.sim.accounts import ZERO, Account
from desk.sim.instruments import InstrumentSpec

ORD_TYPES = frozenset({"market", "limit", "post_only", "fok", "ioc"})
TD_MODES = frozenset({"cash", "cross", "isolated"})
CL_ORD_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
TAG = re.compile(r"^[A-Za-z0-9]{0,16}$")
AVG_PX_DIGITS = Decimal("1e-12")

# cancelSource values the simulator sends (after OKX's table; reasons in cancelSourceReason).
CANCEL_SYSTEM = "0"
CANCEL_USER = "1"
CANCEL_UNFILLED = "14"  # IOC/FOK/market remainder that could not fill
CANCEL_POST_ONLY = "31"  # post_only would have taken liquidity


class OrderError(Exception):
    """A per-order refusal: ``sCode`` and ``sMsg`` as OKX sends them."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg = code, msg


def param_error(name: str) -> OrderError:
    return OrderError("51000", f"Parameter {name} error")


@dataclass(frozen=True, slots=True)
class OrderParams:
    """A validated order request (sizes still as sent)."""

    spec: InstrumentSpec
    side: Side
    ord_type: str
    px: str
    px_ticks: int
    sz: str
    tgt_ccy: str
    cl_ord_id: str
    tag: str

    @property
    def size_in_quote(self) -> bool:
        return self.ord_type == "market" and self.tgt_ccy == "quote_ccy"


def resolve_instrument(
    arg: dict[str, Any], by_code: dict[int, InstrumentSpec], by_id: dict[str, InstrumentSpec]
) -> InstrumentSpec:
    """``instIdCode`` (integer) wins over ``instId``; ``OrderError`` if neither names one."""
    code = arg.get("instIdCode")
    if code is not None and code != "":
        try:
            spec = by_code.get(int(code))
        except (TypeError, ValueError):
            raise param_error("instIdCode") from None
    else:
        inst_id = arg.get("instId")
        if not isinstance(inst_id, str) or not inst_id:
            raise OrderError("51000", "Parameter instIdCode can not be empty")
        spec = by_id.get(inst_id)
    if spec is None:
        raise OrderError("51001", "Instrument ID does not exist")
    return spec


def _decimal(value: Any, name: str) -> Decimal:
    if not isinstance(value, str) or not value:
        raise param_error(name)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise param_error(name) from None
    if not number.is_finite() or number <= 0:
        raise param_error(name)
    return number


def parse_order(
    arg: Any, by_code: dict[int, InstrumentSpec], by_id: dict[str, InstrumentSpec]
) -> OrderParams:
    if not isinstance(arg, dict):
        raise OrderError("51000", "Parameter args error")
    spec = resolve_instrument(arg, by_code, by_id)
    side = arg.get("side")
    if side not in ("buy", "sell"):
        raise param_error("side")
    ord_type = arg.get("ordType")
    if ord_type not in ORD_TYPES:
        raise param_error("ordType")
    if arg.get("tdMode") not in TD_MODES:
        raise param_error("tdMode")
    cl_ord_id = arg.get("clOrdId", "") or ""
    if cl_ord_id and not (isinstance(cl_ord_id, str) and CL_ORD_ID.match(cl_ord_id)):
        raise param_error("clOrdId")
    tag = arg.get("tag", "") or ""
    if not (isinstance(tag, str) and TAG.match(tag)):
        raise param_error("tag")
    default_tgt = "quote_ccy" if ord_type == "market" and side == "buy" else "base_ccy"
    tgt_ccy = arg.get("tgtCcy", "") or default_tgt
    if tgt_ccy not in ("base_ccy", "quote_ccy") or (
        tgt_ccy == "quote_ccy" and ord_type != "market"
    ):
        raise param_error("tgtCcy")
    sz = arg.get("sz")
    _decimal(sz, "sz")
    px, px_ticks = "", 0
    if ord_type != "market":
        px = arg.get("px", "")
        _decimal(px, "px")
        try:
            px_ticks = spec.tick.units(px)
        except ValueError:
            raise param_error("px") from None
    if tgt_ccy == "base_ccy":
        try:
            lots = spec.lot.units(sz)
        except ValueError:
            raise OrderError("51121", "Order quantity must be a multiple of the lot size") from None
        if lots < spec.min_lots:
            raise OrderError(
                "51020", f"Your order should meet or exceed the minimum order amount {spec.min_sz}"
            )
    return OrderParams(spec, Side(side), ord_type, px, px_ticks, sz, tgt_ccy, cl_ord_id, tag)


@dataclass(frozen=True, slots=True)
class FillInfo:
    """One execution of a private order, as the ``orders`` push reports it."""

    trade_id: str
    px: Decimal
    sz: Decimal
    fee: Decimal  # positive = charged
    maker: bool
    ts_ms: int
    fee_ccy: str = ""  # spot: the base currency for a buy, the quote for a sell
    fee_rate: Decimal = ZERO


@dataclass(slots=True, eq=False)
class PrivateOrder:
    """A private order's state; ``held`` is what its balance hold still has frozen."""

    ord_id: str
    engine_id: int
    account: Account
    params: OrderParams
    size_lots: int
    hold_ccy: str
    held: Decimal
    c_time: int
    u_time: int
    px: str = ""
    sz: str = ""
    filled_lots: int = 0
    notional: Decimal = ZERO
    fee: Decimal = ZERO
    state: str = "live"
    cancel_source: str = ""
    cancel_reason: str = ""
    last_fill: FillInfo | None = None

    @property
    def spec(self) -> InstrumentSpec:
        return self.params.spec

    @property
    def inst_id(self) -> str:
        return self.params.spec.inst_id

    @property
    def cl_ord_id(self) -> str:
        return self.params.cl_ord_id

    @property
    def is_open(self) -> bool:
        return self.state in ("live", "partially_filled")

    @property
    def remaining_lots(self) -> int:
        return self.size_lots - self.filled_lots

    @property
    def fee_ccy(self) -> str:
        """Spot fees are paid in what the order receives: base for a buy, quote for a sell."""
        spec = self.params.spec
        return spec.base_ccy if self.params.side is Side.BUY else spec.quote_ccy


def decimal_str(value: Decimal) -> str:
    """An exact Decimal as a plain string without exponent or trailing zeros."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def order_data(order: PrivateOrder, fill: FillInfo | None = None) -> dict[str, str]:
    """One ``orders`` data entry (every field a string, PROTOCOLS.md A.8)."""
    spec, params = order.spec, order.params
    filled = Decimal(spec.size_str(order.filled_lots))
    avg = (order.notional / filled).quantize(AVG_PX_DIGITS) if filled else ZERO
    return {
        "instType": "SPOT",
        "instId": spec.inst_id,
        "tgtCcy": params.tgt_ccy,
        "ordId": order.ord_id,
        "clOrdId": order.cl_ord_id,
        "tag": params.tag,
        "px": order.px,
        "sz": order.sz,
        "ordType": params.ord_type,
        "side": params.side.value,
        "posSide": "net",
        "tdMode": "cash",
        "fillPx": decimal_str(fill.px) if fill else "",
        "fillSz": decimal_str(fill.sz) if fill else "0",
        "tradeId": fill.trade_id if fill else "",
        "fillTime": str(fill.ts_ms) if fill else "",
        "fillFee": decimal_str(-fill.fee) if fill else "0",
        "fillFeeCcy": fill.fee_ccy if fill else "",
        "execType": ("M" if fill.maker else "T") if fill else "",
        "accFillSz": decimal_str(filled),
        "avgPx": decimal_str(avg) if filled else "",
        "fee": decimal_str(-order.fee),
        "feeCcy": order.fee_ccy,
        "state": order.state,
        "cancelSource": order.cancel_source,
        "cancelSourceReason": order.cancel_reason,
        "cTime": str(order.c_time),
        "uTime": str(order.u_time),
        "code": "0",
        "msg": "",
    }
