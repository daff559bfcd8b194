"""Private order entry of the simulated OKX, shared by the WS ops and the REST endpoints.

Private orders go into the same per-instrument ``MatchingEngine`` as the synthetic order flow
(owner ``PRIVATE_OWNER``), so they rest in the public book, trade in the public ``trades``
stream, and fill against synthetic takers. Every report with fills passes through
``InstrumentMarket.record``, whose ``fill_listener`` lands here: fills of private orders are
settled against their account and reported.

Each state change and each fill calls ``on_update(order, fill)`` once, in order: ``live`` on
acceptance, then one update per fill (``partially_filled``/``filled``), then ``canceled`` when
the venue or the user ends the order. The transport turns those into ``orders`` pushes.

``place``/``cancel``/``amend`` return an ``Ack`` (``sCode``/``sMsg``): ``sCode "0"`` means the
request was accepted; the updates are authoritative.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from itertools import count
from typing import Any

from desk.core.enums import Side
from desk.sim.accounts import ZERO, Account, InsufficientBalance
from desk.sim.instruments import InstrumentSpec
from desk.sim.market import InstrumentMarket, SyntheticMarket
from desk.sim.matching import MatchingEngine
from desk.sim.okx.fills import FillLog
from desk.sim.orders import ExecReport, Fill, TimeInForce
from desk.sim.orders import OrderStatus as EngineStatus
from desk.sim.private_orders import (
    CANCEL_POST_ONLY,
    CANCEL_UNFILLED,
    CANCEL_USER,
    FillInfo,
    OrderError,
    OrderParams,
    PrivateOrder,
    param_error,
    parse_order,
    resolve_instrument,
)

PRIVATE_OWNER = "private"
FIRST_ORD_ID = 612_000_000_000_000_000
HISTORY_KEPT = 10_000
BATCH_MAX = 20

OnUpdate = Callable[[PrivateOrder, FillInfo | None], None]

_TIF = {
    "limit": TimeInForce.GTC,
    "post_only": TimeInForce.POST_ONLY,
    "ioc": TimeInForce.IOC,
    "fok": TimeInForce.FOK,
}


@dataclass(frozen=True, slots=True)
class Ack:
    """The per-order part of a reply: ``{"clOrdId","ordId","tag","ts","sCode","sMsg"}``."""

    cl_ord_id: str
    ord_id: str
    tag: str
    ts: int
    code: str = "0"
    msg: str = ""

    @property
    def ok(self) -> bool:
        return self.code == "0"

    def data(self) -> dict[str, str]:
        return {
            "clOrdId": self.cl_ord_id,
            "ordId": self.ord_id,
            "tag": self.tag,
            "ts": str(self.ts),
            "sCode": self.code,
            "sMsg": self.msg,
            "subCode": "",
        }


def _quote_walk(
    engine: MatchingEngine, spec: InstrumentSpec, side: Side, lots: int | None, amount: Decimal
) -> tuple[int, Decimal]:
    """Walk the book a taker on ``side`` would hit: (lots, cost) for ``lots`` lots, or for up
    to ``amount`` of quote currency when ``lots`` is None."""
    book = engine.asks if side is Side.BUY else engine.bids
    got, cost = 0, ZERO
    lot = Decimal(spec.size_str(1))
    for price in book.ordered():
        px = Decimal(spec.price_str(price))
        level = book.levels[price].total
        if lots is not None:
            take = min(level, lots - got)
        else:
            affordable = int((amount - cost) / (px * lot))
            take = min(level, max(affordable, 0))
        got += take
        cost += px * lot * take
        if take < level or (lots is not None and got >= lots):
            break
    return got, cost


class PrivateTrading:
    """Accounts' orders on the simulator's matching engines (see the module docstring)."""

    def __init__(
        self,
        market: SyntheticMarket,
        accounts: dict[str, Account],
        now_ms: Callable[[], int],
        on_update: OnUpdate,
    ) -> None:
        self.market = market
        self.accounts = accounts
        self.now_ms = now_ms
        self.on_update = on_update
        self.by_id = {m.spec.inst_id: m.spec for m in market.markets.values()}
        self.by_code = {m.spec.inst_id_code: m.spec for m in market.markets.values()}
        self._ord_ids = count(FIRST_ORD_ID)
        self.fills = FillLog()
        self._open: dict[tuple[str, int], PrivateOrder] = {}  # (instId, engine id) -> order
        self._pending_cl: dict[tuple[str, str], PrivateOrder] = {}  # (api key, clOrdId)
        self._history: dict[str, OrderedDict[str, PrivateOrder]] = {
            k: OrderedDict() for k in accounts
        }
        for inst_market in market.markets.values():
            inst_market.fill_listener = self._listener(inst_market)

    # ---- queries -------------------------------------------------------------------------

    def pending(self, account: Account, inst_id: str = "") -> list[PrivateOrder]:
        """The account's open orders, newest first."""
        orders = [
            o
            for o in self._history[account.api_key].values()
            if o.is_open and inst_id in ("", o.inst_id)
        ]
        return orders[::-1]

    def finished(self, account: Account, inst_id: str = "") -> list[PrivateOrder]:
        """The account's finished orders, newest first."""
        orders = [
            o
            for o in self._history[account.api_key].values()
            if not o.is_open and inst_id in ("", o.inst_id)
        ]
        return orders[::-1]

    def find(
        self, account: Account, inst_id: str, ord_id: str, cl_ord_id: str
    ) -> PrivateOrder | None:
        """By ``ordId`` (wins) or ``clOrdId`` (a pending one first, else the latest)."""
        history = self._history[account.api_key]
        if ord_id:
            order = history.get(ord_id)
        else:
            order = self._pending_cl.get((account.api_key, cl_ord_id))
            if order is None:
                order = next(
                    (o for o in reversed(history.values()) if o.cl_ord_id == cl_ord_id), None
                )
        if order is None or (inst_id and order.inst_id != inst_id):
            return None
        return order

    # ---- order entry ---------------------------------------------------------------------

    def place_batch(self, account: Account, args: Iterable[Any]) -> list[Ack]:
        acks = []
        seen: set[str] = set()
        for arg in args:
            cl = arg.get("clOrdId", "") if isinstance(arg, dict) else ""
            if cl and cl in seen:
                acks.append(
                    Ack(cl, "", arg.get("tag", ""), self.now_ms(), "51016", "Duplicated clOrdId")
                )
                continue
            if cl:
                seen.add(cl)
            acks.append(self.place(account, arg))
        return acks

    def place(self, account: Account, arg: Any) -> Ack:
        ts = self.now_ms()
        cl = arg.get("clOrdId", "") if isinstance(arg, dict) else ""
        tag = arg.get("tag", "") if isinstance(arg, dict) else ""
        try:
            params = parse_order(arg, self.by_code, self.by_id)
            if params.cl_ord_id and (account.api_key, params.cl_ord_id) in self._pending_cl:
                raise OrderError("51016", "Duplicated clOrdId")
            order = self._open_order(account, params, ts)
        except OrderError as exc:
            return Ack(str(cl), "", str(tag), ts, exc.code, exc.msg)
        self._run(order)
        return Ack(order.cl_ord_id, order.ord_id, params.tag, ts)

    def cancel(self, account: Account, arg: Any) -> Ack:
        ts = self.now_ms()
        try:
            order = self._target(account, arg)
        except OrderError as exc:
            return self._refused(arg, ts, exc)
        if order is None or not order.is_open:
            return self._refused(
                arg,
                ts,
                OrderError(
                    "51400",
                    "Order cancellation failed as the order has been filled, canceled or does "
                    "not exist",
                ),
            )
        market = self._market(order)
        report = market.engine.cancel(order.engine_id)
        if report is not None:
            market.record(report, ts)
        self._finish(order, CANCEL_USER, "Order canceled by user")
        return Ack(order.cl_ord_id, order.ord_id, order.params.tag, ts)

    def amend(self, account: Account, arg: Any) -> Ack:
        """``newSz`` (new total size) and/or ``newPx`` of an open limit order."""
        ts = self.now_ms()
        try:
            order = self._target(account, arg)
            if order is None or not order.is_open or order.params.ord_type == "market":
                raise OrderError(
                    "51503",
                    "Order modification failed as the order has been filled, canceled or does "
                    "not exist",
                )
            self._amend(order, arg, ts)
        except OrderError as exc:
            return self._refused(arg, ts, exc)
        return Ack(order.cl_ord_id, order.ord_id, order.params.tag, ts)

    def cancel_all(self, account: Account) -> int:
        """Cancel every open order of ``account`` (a simulator helper, not an OKX op)."""
        orders = self.pending(account)
        for order in orders:
            self.cancel(account, {"instId": order.inst_id, "ordId": order.ord_id})
        return len(orders)

    # ---- internals -----------------------------------------------------------------------

    def _refused(self, arg: Any, ts: int, exc: OrderError) -> Ack:
        get = arg.get if isinstance(arg, dict) else (lambda _k, _d="": _d)
        return Ack(str(get("clOrdId", "")), str(get("ordId", "")), "", ts, exc.code, exc.msg)

    def _target(self, account: Account, arg: Any) -> PrivateOrder | None:
        if not isinstance(arg, dict):
            raise OrderError("51000", "Parameter args error")
        spec = resolve_instrument(arg, self.by_code, self.by_id)
        ord_id, cl = str(arg.get("ordId", "") or ""), str(arg.get("clOrdId", "") or "")
        if not ord_id and not cl:
            raise OrderError("51000", "Parameter ordId or clOrdId can not be empty")
        return self.find(account, spec.inst_id, ord_id, cl)

    def _market(self, order: PrivateOrder) -> InstrumentMarket:
        return self.market.markets[order.inst_id]

    def _open_order(self, account: Account, params: OrderParams, ts: int) -> PrivateOrder:
        spec = params.spec
        engine = self.market.engine(spec.inst_id)
        if params.ord_type == "market":
            if params.size_in_quote:
                lots, cost = _quote_walk(engine, spec, params.side, None, Decimal(params.sz))
            else:
                lots = spec.lot.units(params.sz)
                _, cost = _quote_walk(engine, spec, params.side, lots, ZERO)
            if lots <= 0:
                raise OrderError("51020", "Order amount is too small or the book is empty")
            hold = cost  # a buyer's fee is taken from the base it receives
        else:
            lots = spec.lot.units(params.sz)
            hold = Decimal(params.px) * Decimal(params.sz)
        hold_ccy = spec.quote_ccy
        if params.side is Side.SELL:
            hold_ccy = spec.base_ccy
            hold = Decimal(spec.size_str(lots))
        try:
            account.hold(hold_ccy, hold)
        except InsufficientBalance as exc:
            raise OrderError("51008", str(exc)) from None
        order = PrivateOrder(
            ord_id=str(next(self._ord_ids)),
            engine_id=engine.next_order_id(),
            account=account,
            params=params,
            size_lots=lots,
            hold_ccy=hold_ccy,
            held=hold,
            c_time=ts,
            u_time=ts,
            px=params.px,
            sz=params.sz,
        )
        history = self._history[account.api_key]
        history[order.ord_id] = order
        while len(history) > HISTORY_KEPT:
            oldest = next(iter(history.values()))
            if oldest.is_open:
                break
            history.popitem(last=False)
        if params.cl_ord_id:
            self._pending_cl[(account.api_key, params.cl_ord_id)] = order
        self._open[(spec.inst_id, order.engine_id)] = order
        return order

    def _run(self, order: PrivateOrder) -> None:
        """Announce the order, match it, and end what the engine did not rest."""
        self.on_update(order, None)
        market = self._market(order)
        engine, params = market.engine, order.params
        if params.ord_type == "market":
            report = engine.submit_market(
                params.side, order.size_lots, PRIVATE_OWNER, order_id=order.engine_id
            )
        else:
            report = engine.submit_limit(
                params.side,
                params.px_ticks,
                order.size_lots,
                PRIVATE_OWNER,
                _TIF[params.ord_type],
                order_id=order.engine_id,
            )
        market.record(report, order.c_time)
        if not order.is_open:
            return
        if report.order.status is EngineStatus.REJECTED:
            self._finish(order, CANCEL_POST_ONLY, report.reason)
        elif report.order.status is EngineStatus.CANCELED:
            self._finish(order, CANCEL_UNFILLED, report.reason or "order not fully filled")

    def _amend(self, order: PrivateOrder, arg: dict[str, Any], ts: int) -> None:
        spec, account = order.spec, order.account
        new_sz, new_px = arg.get("newSz") or order.sz, arg.get("newPx") or order.px
        try:
            lots, ticks = spec.lot.units(new_sz), spec.tick.units(new_px)
        except (ValueError, ArithmeticError):
            raise param_error("newSz or newPx") from None
        if lots <= order.filled_lots or ticks <= 0:
            raise param_error("newSz")
        remaining = Decimal(spec.size_str(lots - order.filled_lots))
        new_hold = Decimal(new_px) * remaining if order.params.side is Side.BUY else remaining
        delta = new_hold - order.held
        try:
            if delta > 0:
                account.hold(order.hold_ccy, delta)
            else:
                account.release(order.hold_ccy, -delta)
        except InsufficientBalance as exc:
            raise OrderError("51008", str(exc)) from None
        order.held = new_hold
        market = self._market(order)
        report = market.engine.amend(order.engine_id, new_size=lots, new_price=ticks)
        if report is None or report.reason:
            account.release(order.hold_ccy, delta)  # undo (a negative delta re-freezes)
            order.held -= delta
            raise OrderError("51000", report.reason if report else "order not resting")
        order.px, order.sz, order.size_lots, order.u_time = new_px, new_sz, lots, ts
        market.record(report, ts)
        if order.is_open:
            self.on_update(order, None)

    def _listener(self, market: InstrumentMarket) -> Callable[[ExecReport], None]:
        inst_id = market.spec.inst_id
        opened = self._open

        def on_fills(report: ExecReport) -> None:
            for fill in report.fills:
                if fill.taker_owner == PRIVATE_OWNER:
                    taker = opened.get((inst_id, fill.taker_id))
                    if taker is not None:
                        self._fill(taker, fill, maker=False)
                if fill.maker_owner == PRIVATE_OWNER:
                    maker = opened.get((inst_id, fill.maker_id))
                    if maker is not None:
                        self._fill(maker, fill, maker=True)

        return on_fills

    def _fill(self, order: PrivateOrder, fill: Fill, maker: bool) -> None:
        spec, account = order.spec, order.account
        px = Decimal(spec.price_str(fill.price))
        sz = Decimal(spec.size_str(fill.size))
        notional = px * sz
        rate = account.maker_fee if maker else account.taker_fee
        if order.params.side is Side.BUY:  # OKX spot: the buyer pays in the base it receives
            fee, fee_ccy = sz * rate, spec.base_ccy
            account.consume(spec.quote_ccy, notional)
            order.held -= notional
            account.credit(spec.base_ccy, sz - fee)
        else:  # the seller pays in the quote it receives
            fee, fee_ccy = notional * rate, spec.quote_ccy
            account.consume(spec.base_ccy, sz)
            order.held -= sz
            account.credit(spec.quote_ccy, notional - fee)
        ts = self.now_ms()
        order.filled_lots += fill.size
        order.notional += notional
        order.fee += fee
        order.u_time = ts
        info = FillInfo(str(fill.trade_id), px, sz, fee, maker, ts, fee_ccy, rate)
        order.last_fill = info
        self.fills.record(order, info)
        if order.filled_lots >= order.size_lots:
            order.state = "filled"
            self._close(order)
        else:
            order.state = "partially_filled"
        self.on_update(order, info)

    def _finish(self, order: PrivateOrder, source: str, reason: str) -> None:
        order.state = "canceled"
        order.cancel_source, order.cancel_reason = source, reason
        order.u_time = self.now_ms()
        self._close(order)
        self.on_update(order, None)

    def _close(self, order: PrivateOrder) -> None:
        """Release what the order still holds and forget it as pending."""
        if order.held:
            order.account.release(order.hold_ccy, order.held)
            order.held = ZERO
        self._open.pop((order.inst_id, order.engine_id), None)
        key = (order.account.api_key, order.cl_ord_id)
        if order.cl_ord_id and self._pending_cl.get(key) is order:
            del self._pending_cl[key]
