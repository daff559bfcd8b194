"""Small OKX WebSocket client helpers for the simulator tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection

from desk.sim.config import SimulatorConfig

BTC, ETH = "BTC-USDT", "ETH-USDT"
TIMEOUT = 10.0
Msg = dict[str, Any]


def config(**kw: Any) -> SimulatorConfig:
    base: dict[str, Any] = {"port": 0, "seed": 7, "update_interval": 0.05}
    base.update(kw)
    return SimulatorConfig(**base)


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> str:
    return await asyncio.wait_for(ws.recv(), timeout)  # type: ignore[return-value]


async def recv_json(ws: ClientConnection) -> Msg:
    return json.loads(await recv(ws))


async def recv_until(ws: ClientConnection, pred: Callable[[Msg], bool]) -> Msg:
    """Next JSON message satisfying ``pred`` (others are skipped)."""

    async def loop() -> Msg:
        while True:
            msg = json.loads(await ws.recv())
            if pred(msg):
                return msg

    return await asyncio.wait_for(loop(), TIMEOUT)


def on(channel: str, inst: str = BTC) -> Callable[[Msg], bool]:
    return lambda m: m.get("arg") == {"channel": channel, "instId": inst} and "data" in m


async def subscribe(ws: ClientConnection, *args: tuple[str, str], req_id: str = "1") -> list[Msg]:
    req = {"id": req_id, "op": "subscribe", "args": [{"channel": c, "instId": i} for c, i in args]}
    await ws.send(json.dumps(req))
    return [await recv_until(ws, lambda m: m.get("event") == "subscribe") for _ in args]


def apply(book: dict[str, dict[str, str]], data: Msg) -> None:
    for side in ("bids", "asks"):
        for px, sz, _, _ in data[side]:
            if sz == "0":
                book[side].pop(px, None)
            else:
                book[side][px] = sz


def ordered(book: dict[str, dict[str, str]]) -> tuple[list[tuple[str, str]], ...]:
    bids = sorted(book["bids"].items(), key=lambda kv: -float(kv[0]))
    asks = sorted(book["asks"].items(), key=lambda kv: float(kv[0]))
    return bids, asks


def is_level(level: Any) -> bool:
    return (
        isinstance(level, list)
        and len(level) == 4
        and all(isinstance(x, str) for x in level)
        and level[2] == "0"
    )
