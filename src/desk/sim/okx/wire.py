"""OKX v5 wire shapes the simulator sends, encoded once per push with msgspec.

Every push for one (channel, instId) stream starts with the same bytes, so each stream keeps
its prefix (``{"arg":{...},"action":"update","data":[``) pre-encoded and only the data entry
is encoded per push. Structs encode their fields in declaration order, which is the order the
OKX docs show.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import msgspec

_encoder = msgspec.json.Encoder()
encode = _encoder.encode

Level = list[str]  # [px, sz, "0", numOrders]


class BooksData(msgspec.Struct):
    """``books`` data entry: ``{"asks":[...],"bids":[...],"ts":"1597026383085","checksum":0,
    "prevSeqId":123456,"seqId":123457}``; a snapshot has ``prevSeqId`` -1."""

    asks: list[Level]
    bids: list[Level]
    ts: str
    checksum: int
    prevSeqId: int
    seqId: int


class Books5Data(msgspec.Struct):
    """``books5`` data entry: ``{"asks":[...5],"bids":[...5],"instId":"BTC-USDT","ts":"...",
    "seqId":N}``."""

    asks: list[Level]
    bids: list[Level]
    instId: str
    ts: str
    seqId: int


class BboData(msgspec.Struct):
    """``bbo-tbt`` data entry: ``{"asks":[["111.06","55154","0","2"]],"bids":[[...]],"ts":"...",
    "seqId":363996337}``."""

    asks: list[Level]
    bids: list[Level]
    ts: str
    seqId: int


class TradeData(msgspec.Struct):
    """``trades`` data entry: ``{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9",
    "sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3","source":"0","seqId":1234}``."""

    instId: str
    tradeId: str
    px: str
    sz: str
    side: str
    ts: str
    count: str
    source: str
    seqId: int


class TickerData(msgspec.Struct):
    """``tickers`` data entry; every field a string (see PROTOCOLS.md A.4)."""

    instType: str
    instId: str
    last: str
    lastSz: str
    askPx: str
    askSz: str
    bidPx: str
    bidSz: str
    open24h: str
    high24h: str
    low24h: str
    volCcy24h: str
    vol24h: str
    sodUtc0: str
    sodUtc8: str
    ts: str


def arg_bytes(channel: str, inst_id: str) -> bytes:
    return encode({"channel": channel, "instId": inst_id})


def push_prefix(channel: str, inst_id: str, action: str | None = None) -> bytes:
    """``{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[``."""
    head = b'{"arg":' + arg_bytes(channel, inst_id)
    if action is not None:
        head += b',"action":' + encode(action)
    return head + b',"data":['


PUSH_SUFFIX = b"]}"


def push(prefix: bytes, entry: msgspec.Struct | list[str]) -> bytes:
    """One push message with a single data entry."""
    return prefix + encode(entry) + PUSH_SUFFIX


def okx_checksum(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """OKX CRC32 over the top 25 levels, as a signed 32-bit integer (PROTOCOLS.md A.6).

    ``bids`` descending and ``asks`` ascending, levels as raw strings ``(px, sz, ...)``:
    ``bid1px:bid1sz:ask1px:ask1sz:bid2px:...``, skipping a shorter side's missing entries.
    """
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += bids[i][:2]
        if i < len(asks):
            parts += asks[i][:2]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= (1 << 31) else crc


def ack(event: str, arg: dict[str, str], conn_id: str, req_id: str | None) -> bytes:
    """``{"id":"1512","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},
    "connId":"a4d3ae55"}`` (``id`` only when the request had one)."""
    msg: dict[str, object] = {} if req_id is None else {"id": req_id}
    msg.update(event=event, arg=arg, connId=conn_id)
    return encode(msg)


def error(code: str, msg: str, conn_id: str, req_id: str | None = None) -> bytes:
    """``{"id":"1512","event":"error","code":"60012","msg":"Invalid request: ...",
    "connId":"a4d3ae55"}``."""
    out: dict[str, object] = {} if req_id is None else {"id": req_id}
    out.update(event="error", code=code, msg=msg, connId=conn_id)
    return encode(out)


NOTICE_MSG = "The connection will soon be closed for a service upgrade. Please reconnect."


def notice(conn_id: str) -> bytes:
    """``{"event":"notice","code":"64008","msg":"The connection will soon be closed for a
    service upgrade. Please reconnect.","connId":"a4d3ae55"}``."""
    return encode({"event": "notice", "code": "64008", "msg": NOTICE_MSG, "connId": conn_id})


def rest_ok(data: list[object]) -> bytes:
    """``{"code":"0","msg":"","data":[...]}``."""
    return encode({"code": "0", "msg": "", "data": data})


def rest_error(code: str, msg: str) -> bytes:
    """``{"code":"51001","msg":"Instrument ID does not exist","data":[]}``."""
    return encode({"code": code, "msg": msg, "data": []})
