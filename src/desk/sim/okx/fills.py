"""The fills of the simulated OKX accounts, as ``GET /api/v5/trade/fills`` reports them.

One entry per execution of a private order, kept per account (the last ``FILLS_KEPT``), each
with an increasing ``billId`` (the pagination key of ``after``/``before``):
``{"instType":"SPOT","instId":"BTC-USDT","tradeId":"123","ordId":"612000000000000000",
"clOrdId":"b15","billId":"700000000000000001","subType":"1","tag":"","fillPx":"60012.3",
"fillSz":"0.01","side":"buy","posSide":"net","execType":"T","feeCcy":"BTC","fee":"-0.00001",
"feeRate":"-0.001","ts":"1597026383085","fillTime":"1597026383085"}`` (fee negative = charged).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import count, islice

from desk.sim.private_orders import FillInfo, PrivateOrder, decimal_str

FILLS_KEPT = 10_000
FIRST_BILL_ID = 700_000_000_000_000_000
SUB_TYPE = {"buy": "1", "sell": "2"}  # OKX bill subType: 1 buy, 2 sell


@dataclass(frozen=True, slots=True)
class FillQuery:
    """The filters of ``trade/fills`` and ``fills-history`` (0 / "" = not given)."""

    inst_id: str = ""
    ord_id: str = ""
    after: int = 0  # billId: older than
    before: int = 0  # billId: newer than
    begin: int = 0  # ts ms: not before
    end: int = 0  # ts ms: not after
    limit: int = 100


class FillLog:
    """Every account's recent fills, oldest first."""

    def __init__(self) -> None:
        self._bill_ids = count(FIRST_BILL_ID)
        self._by_key: dict[str, deque[dict[str, str]]] = {}

    def record(self, order: PrivateOrder, fill: FillInfo) -> None:
        side = order.params.side.value
        entry = {
            "instType": "SPOT",
            "instId": order.inst_id,
            "tradeId": fill.trade_id,
            "ordId": order.ord_id,
            "clOrdId": order.cl_ord_id,
            "billId": str(next(self._bill_ids)),
            "subType": SUB_TYPE[side],
            "tag": order.params.tag,
            "fillPx": decimal_str(fill.px),
            "fillSz": decimal_str(fill.sz),
            "side": side,
            "posSide": "net",
            "execType": "M" if fill.maker else "T",
            "feeCcy": fill.fee_ccy,
            "fee": decimal_str(-fill.fee),
            "feeRate": decimal_str(-fill.fee_rate),
            "ts": str(fill.ts_ms),
            "fillTime": str(fill.ts_ms),
        }
        log = self._by_key.setdefault(order.account.api_key, deque(maxlen=FILLS_KEPT))
        log.append(entry)

    def query(self, api_key: str, q: FillQuery) -> list[dict[str, str]]:
        """Matching fills, newest first, at most ``q.limit``."""

        def wanted(e: dict[str, str]) -> bool:
            bill, ts = int(e["billId"]), int(e["ts"])
            return (
                (not q.inst_id or e["instId"] == q.inst_id)
                and (not q.ord_id or e["ordId"] == q.ord_id)
                and (not q.after or bill < q.after)
                and (not q.before or bill > q.before)
                and (not q.begin or ts >= q.begin)
                and (not q.end or ts <= q.end)
            )

        log = self._by_key.get(api_key, ())
        return list(islice((e for e in reversed(log) if wanted(e)), q.limit))
