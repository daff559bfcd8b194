"""Small Binance stream client helpers for the simulator tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from desk.sim.config import SimulatorConfig

BTC, ETH = "BTCUSDT", "ETHUSDT"
TIMEOUT = 10.0
Msg = Any


def open_ws(url: str) -> connect:
    """A client connection with an unbounded receive queue: with websockets' default (16
    frames) a test that stops reading also stops reading the socket, and its close handshake
    then waits behind unread pushes until the close timeout."""
    return connect(url, max_queue=None)


def config(**kw: Any) -> SimulatorConfig:
    base: dict[str, Any] = {"port": 0, "seed": 7, "update_interval": 0.05}
    base.update(kw)
    return SimulatorConfig(**base)


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> str:
    return await asyncio.wait_for(ws.recv(), timeout)  # type: ignore[return-value]


async def recv_json(ws: ClientConnection) -> Msg:
    return json.loads(await recv(ws))


async def recv_until(ws: ClientConnection, pred: Callable[[Msg], bool]) -> Msg:
    """The next JSON message satisfying ``pred`` (others are skipped)."""

    async def loop() -> Msg:
        while True:
            msg = json.loads(await ws.recv())
            if pred(msg):
                return msg

    return await asyncio.wait_for(loop(), TIMEOUT)


def on(stream: str) -> Callable[[Msg], bool]:
    """A combined frame of ``stream``."""
    return lambda m: isinstance(m, dict) and m.get("stream") == stream


def event(kind: str, symbol: str = BTC) -> Callable[[Msg], bool]:
    """A raw payload of event type ``kind`` for ``symbol``."""
    return lambda m: isinstance(m, dict) and m.get("e") == kind and m.get("s") == symbol


async def request(ws: ClientConnection, method: str, params: list[Any] | None, req_id: Any) -> Msg:
    """Send a request and return the reply that carries its id (or an error)."""
    body: dict[str, Any] = {"method": method, "id": req_id}
    if params is not None:
        body["params"] = params
    await ws.send(json.dumps(body))
    return await recv_until(ws, lambda m: isinstance(m, dict) and ("result" in m or "code" in m))


def apply(book: dict[str, dict[str, str]], data: Msg) -> None:
    """Apply a ``depthUpdate`` to a plain dict book (qty zero removes)."""
    for key, side in (("b", "bids"), ("a", "asks")):
        for px, qty in data[key]:
            if float(qty) == 0:
                book[side].pop(px, None)
            else:
                book[side][px] = qty


def load(snapshot: Msg) -> dict[str, dict[str, str]]:
    return {"bids": dict(snapshot["bids"]), "asks": dict(snapshot["asks"])}


def ordered(book: dict[str, dict[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    bids = sorted(book["bids"].items(), key=lambda kv: -float(kv[0]))
    asks = sorted(book["asks"].items(), key=lambda kv: float(kv[0]))
    return bids, asks


def is_wire_decimal(text: Any) -> bool:
    """Binance's eight-decimal strings: ``"25.35190000"``."""
    return isinstance(text, str) and "." in text and len(text.split(".")[1]) == 8
