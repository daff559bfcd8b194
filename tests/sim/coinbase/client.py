"""A small Coinbase WebSocket client for the simulator's own tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection

from desk.sim.coinbase.products import DEFAULT_PRODUCTS, ProductSpec
from desk.sim.config import SimulatorConfig

BTC, ETH = "BTC-USD", "ETH-USDT"
TIMEOUT = 10.0
Msg = dict[str, Any]


def config(**kw: Any) -> SimulatorConfig:
    base: dict[str, Any] = {"port": 0, "seed": 7, "update_interval": 0.05}
    base.update(kw)
    return SimulatorConfig(**base)


def products(*ids: str) -> list[ProductSpec]:
    wanted = ids or (BTC, ETH)
    return [p for p in DEFAULT_PRODUCTS if p.product_id in wanted]


async def recv_json(ws: ClientConnection, timeout: float = TIMEOUT) -> Msg:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws: ClientConnection, pred: Callable[[Msg], bool]) -> Msg:
    """The next message satisfying ``pred`` (others are skipped)."""

    async def loop() -> Msg:
        while True:
            msg = json.loads(await ws.recv())
            if pred(msg):
                return msg

    return await asyncio.wait_for(loop(), TIMEOUT)


def on(channel: str, kind: str | None = None) -> Callable[[Msg], bool]:
    """Messages of ``channel`` (whose first event is of ``kind``, if given)."""

    def pred(msg: Msg) -> bool:
        if msg.get("channel") != channel:
            return False
        return kind is None or (bool(msg["events"]) and msg["events"][0].get("type") == kind)

    return pred


async def subscribe(
    ws: ClientConnection, channel: str, *product_ids: str, kind: str = "subscribe"
) -> Msg:
    """Send one request; return the ``subscriptions`` message that answers it."""
    request: Msg = {"type": kind, "channel": channel}
    if product_ids:
        request["product_ids"] = list(product_ids)
    await ws.send(json.dumps(request))
    return await recv_until(ws, on("subscriptions"))


def apply(book: dict[str, dict[str, str]], event: Msg) -> None:
    for u in event["updates"]:
        side = book["bids" if u["side"] == "bid" else "asks"]
        if u["new_quantity"] == "0":
            side.pop(u["price_level"], None)
        else:
            side[u["price_level"]] = u["new_quantity"]


def ordered(book: dict[str, dict[str, str]]) -> tuple[list[tuple[str, str]], ...]:
    bids = sorted(book["bids"].items(), key=lambda kv: -float(kv[0]))
    asks = sorted(book["asks"].items(), key=lambda kv: float(kv[0]))
    return bids, asks
