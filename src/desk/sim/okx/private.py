"""``/ws/v5/private`` of the simulated OKX: login, the ``orders`` channel and WS order ops.

Request -> replies (PROTOCOLS.md A.2, A.8):

* ``{"op":"login","args":[{"apiKey":..,"passphrase":..,"timestamp":"1538054050","sign":..}]}``
  -> ``{"event":"login","code":"0","msg":"","connId":".."}``; failures are error events:
  ``60005`` unknown key, ``60004`` timestamp not epoch seconds, ``60006`` more than 30 s off,
  ``60024`` wrong passphrase, ``60007`` bad sign, ``60031`` already logged in. A failed login
  leaves the connection open.
* Anything but ``ping``/``login`` before login: ``60011`` (an error event for subscribe, an
  op-shaped reply for order ops).
* ``subscribe`` ``{"channel":"orders","instType":"SPOT"}`` (``instType`` any of ``SPOT MARGIN
  SWAP FUTURES OPTION ANY``; optional ``instId`` filter) -> ack; then one push per order state
  change and per fill, no initial push: ``{"arg":{"channel":"orders","instType":"SPOT"},
  "data":[{...}]}`` (fields: ``order_data``). Spot orders go to ``SPOT``, ``MARGIN`` and ``ANY``
  subscriptions; ``SWAP``/``FUTURES``/``OPTION`` ones get nothing (there are none).
* ``subscribe`` ``{"channel":"account"[,"ccy":"BTC"]}`` -> ack, a first push of every balance,
  then a push after every order update of that account: ``{"arg":{"channel":"account"},
  "data":[{"uTime":..,"totalEq":"","details":[{"ccy":"USDT","eq":..,"cashBal":..,
  "availBal":..,"availEq":..,"frozenBal":..,"ordFrozen":..,"uTime":..}]}]}``.
* ``order``, ``batch-orders`` (at most 20), ``cancel-order``, ``batch-cancel-orders``,
  ``amend-order`` with a required ``id`` -> ``{"id":"1512","op":"order","data":[{"clOrdId":..,
  "ordId":..,"tag":"","ts":..,"sCode":"0","sMsg":"","subCode":""}],"code":"0","msg":"",
  "inTime":"..","outTime":".."}``; ``code`` "1" when every order failed, "2" when some did;
  ``60013`` "Invalid args" with empty data for a malformed request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from desk.sim.accounts import Account
from desk.sim.faults import OrderFaults
from desk.sim.okx.auth import MAX_SKEW_S, login_sign, signature_ok
from desk.sim.okx.conn import Connection
from desk.sim.okx.private_queries import balance_details
from desk.sim.okx.trading import BATCH_MAX, Ack, PrivateTrading
from desk.sim.okx.wire import ack, encode, error
from desk.sim.okx.ws import _ID_RE
from desk.sim.private_orders import FillInfo, PrivateOrder, order_data

log = logging.getLogger(__name__)

ORDER_OPS = frozenset(
    {"order", "batch-orders", "cancel-order", "batch-cancel-orders", "amend-order"}
)
INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY"})
SPOT_COVERED = frozenset({"SPOT", "MARGIN", "ANY"})
CHANNELS = ("orders", "account")
SERVICE_DOWN = ("50001", "Service temporarily unavailable. Please try again later.")
_decoder = msgspec.json.Decoder()


class _Refused(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


@dataclass(slots=True)
class Session:
    """What one private connection has done: who logged in and what it listens to."""

    account: Account | None = None
    orders_args: list[dict[str, str]] = field(default_factory=list)
    account_args: list[dict[str, str]] = field(default_factory=list)


def _micros() -> str:
    return str(time.time_ns() // 1000)


class PrivateWs:
    """Applies requests on private connections; fans order updates out to subscribers."""

    def __init__(self, accounts: dict[str, Account], faults: OrderFaults) -> None:
        self.accounts = accounts
        self.faults = faults
        self.trading: PrivateTrading | None = None  # wired by the simulator
        self.sessions: dict[Connection, Session] = {}
        self._held: list[tuple[Connection, bytes]] | None = None

    def disconnected(self, conn: Connection) -> None:
        self.sessions.pop(conn, None)

    # ---- order updates -------------------------------------------------------------------

    def on_update(self, order: PrivateOrder, fill: FillInfo | None) -> None:
        """Push one ``orders`` update to every subscriber of the order's account."""
        entry: bytes | None = None
        for conn, session in self.sessions.items():
            if session.account is not order.account:
                continue
            for arg in session.orders_args:
                if arg.get("instId", order.inst_id) != order.inst_id:
                    continue
                if arg["instType"] not in SPOT_COVERED:
                    continue
                if entry is None:
                    entry = encode(order_data(order, fill))
                self._send(conn, b'{"arg":' + encode(arg) + b',"data":[' + entry + b"]}")
            for arg in session.account_args:
                self._send(conn, account_push(order.account, arg))

    def _send(self, conn: Connection, frame: bytes) -> None:
        if self._held is not None:
            self._held.append((conn, frame))
        else:
            conn.send(frame)

    # ---- requests ------------------------------------------------------------------------

    def handle(self, conn: Connection, text: str) -> None:
        if text == "ping":
            conn.send(b"pong", is_push=False)
            return
        session = self.sessions.setdefault(conn, Session())
        req_id: str | None = None
        try:
            req = self._decode(text)
            req_id = self._req_id(req, text)
            op = req["op"]
            args = req.get("args")
            if op == "login":
                self._login(conn, session, args, req_id)
            elif op in ("subscribe", "unsubscribe"):
                self._subscribe(conn, session, op, args, req_id)
            elif op in ORDER_OPS:
                if req_id is None:
                    raise _Refused("60012", f"Invalid request: {text}")
                self._order_op(conn, session, op, args, req_id)
            else:
                raise _Refused("60019", f"Invalid op: {op}")
        except _Refused as exc:
            conn.send(error(exc.code, exc.msg, conn.conn_id, req_id), is_push=False)

    @staticmethod
    def _decode(text: str) -> dict[str, Any]:
        try:
            req = _decoder.decode(text)
        except msgspec.DecodeError:
            raise _Refused("60012", f"Invalid request: {text}") from None
        if not isinstance(req, dict) or not isinstance(req.get("op"), str):
            raise _Refused("60012", f"Invalid request: {text}")
        return req

    @staticmethod
    def _req_id(req: dict[str, Any], text: str) -> str | None:
        req_id = req.get("id")
        if req_id is not None and not (isinstance(req_id, str) and _ID_RE.match(req_id)):
            raise _Refused("60012", f"Invalid request: {text}")
        return req_id

    def _login(self, conn: Connection, session: Session, args: Any, req_id: str | None) -> None:
        if session.account is not None:
            raise _Refused(
                "60031", "The WebSocket endpoint does not allow multiple or repeated logins."
            )
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            raise _Refused("60013", "Invalid args")
        arg = args[0]
        account = self.accounts.get(str(arg.get("apiKey", "")))
        if account is None:
            raise _Refused("60005", "Invalid OK-ACCESS-KEY")
        ts = str(arg.get("timestamp", ""))
        if not ts.isdigit():
            raise _Refused("60004", "Invalid timestamp")
        if abs(time.time() - int(ts)) > MAX_SKEW_S:
            raise _Refused("60006", "Timestamp request expired")
        creds = account.credentials
        if str(arg.get("passphrase", "")) != creds.passphrase:
            raise _Refused("60024", "Wrong passphrase")
        if not signature_ok(login_sign(creds.secret, ts), str(arg.get("sign", ""))):
            raise _Refused("60007", "Invalid sign")
        session.account = account
        reply: dict[str, str] = {} if req_id is None else {"id": req_id}
        reply.update(event="login", code="0", msg="", connId=conn.conn_id)
        conn.send(encode(reply), is_push=False)

    def _subscribe(
        self, conn: Connection, session: Session, op: str, args: Any, req_id: str | None
    ) -> None:
        if session.account is None:
            raise _Refused("60011", "Please log in")
        if not isinstance(args, list) or not args:
            raise _Refused("60012", "Invalid request: args must be a non-empty list")
        echoes = []
        for arg in args:
            if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
                raise _Refused("60013", "Invalid args")
            channel = arg["channel"]
            if channel not in CHANNELS:
                raise _Refused(
                    "60018",
                    f"Wrong URL or channel:{channel},instId:{arg.get('instId', '')} "
                    "doesn't exist. Please use the correct URL, channel and parameters referring "
                    "to API document.",
                )
            if channel == "orders" and arg.get("instType") not in INST_TYPES:
                raise _Refused("60013", "Invalid args")
            keys = ("channel", "instType", "instId", "ccy")
            echoes.append({k: str(arg[k]) for k in keys if k in arg})
        for echo in echoes:
            subs = session.orders_args if echo["channel"] == "orders" else session.account_args
            if op == "subscribe":
                if echo not in subs:
                    subs.append(echo)
            elif echo in subs:
                subs.remove(echo)
            conn.send(ack(op, echo, conn.conn_id, req_id), is_push=False)
            if op == "subscribe" and echo["channel"] == "account":
                conn.send(account_push(session.account, echo))

    def _order_op(
        self, conn: Connection, session: Session, op: str, args: Any, req_id: str
    ) -> None:
        in_time = _micros()
        account = session.account
        if account is None:
            self._reply(conn, req_id, op, [], "60011", "Please log in", in_time)
            return
        single = op in ("order", "cancel-order", "amend-order")
        if (
            not isinstance(args, list)
            or not args
            or len(args) > (1 if single else BATCH_MAX)
            or not all(isinstance(a, dict) for a in args)
        ):
            self._reply(conn, req_id, op, [], "60013", "Invalid args", in_time)
            return
        failure = self.faults.take()
        if failure == "timeout":
            log.info("okx sim: dropping %s request %s (injected timeout)", op, req_id)
            return
        if failure == "error":
            self._reply(conn, req_id, op, [], *SERVICE_DOWN, in_time)
            return
        self._held = []  # the reply goes out before the pushes it caused, as on OKX
        try:
            acks = self._run_op(account, op, args)
        finally:
            held, self._held = self._held, None
        failed = sum(not a.ok for a in acks)
        if failed == 0:
            code, msg = "0", ""
        elif failed == len(acks):
            code, msg = "1", "All operations failed" if len(acks) > 1 else ""
        else:
            code, msg = "2", "Batch operation partially succeeded"
        self._reply(conn, req_id, op, [a.data() for a in acks], code, msg, in_time)
        for target, frame in held:
            target.send(frame)

    def _run_op(self, account: Account, op: str, args: list[dict[str, Any]]) -> list[Ack]:
        trading = self.trading
        assert trading is not None
        if op == "order":
            return [trading.place(account, args[0])]
        if op == "batch-orders":
            return trading.place_batch(account, args)
        if op == "amend-order":
            return [trading.amend(account, args[0])]
        return [trading.cancel(account, a) for a in args]

    @staticmethod
    def _reply(
        conn: Connection,
        req_id: str,
        op: str,
        data: list[dict[str, str]],
        code: str,
        msg: str,
        in_time: str,
    ) -> None:
        reply = {
            "id": req_id,
            "op": op,
            "data": data,
            "code": code,
            "msg": msg,
            "inTime": in_time,
            "outTime": _micros(),
        }
        conn.send(encode(reply), is_push=False)


def account_push(account: Account, arg: dict[str, str]) -> bytes:
    """One ``account`` push: every balance (or the ``ccy`` the subscription names)."""
    now = int(time.time() * 1000)
    wanted = [arg["ccy"]] if arg.get("ccy") else []
    data = {"uTime": str(now), "totalEq": "", "details": balance_details(account, wanted, now)}
    return b'{"arg":' + encode(arg) + b',"data":[' + encode(data) + b"]}"
