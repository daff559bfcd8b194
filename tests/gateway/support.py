"""What the gateway's integration tests share: an engine on the simulator with its gateway,
a client that decodes with the documented Structs, and a /metrics reader."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection

from desk.config import DeskConfig, parse_config
from desk.engine.engine import Engine
from desk.gateway.messages import ROUTE_MESSAGES, AnyMessage, Hello

NO_TOKEN_ENV = "DESK_TEST_NO_TOKEN"
"""The token variable of the tests that run without a token (unset by their fixture)."""
TIMEOUT = 60.0
FAST_BOT = {
    "bot_id": "fast",
    "strategy": "ma_crossover",
    "symbol": "BTC-USDT",
    "timeframe": "1s",
    "size": 0.01,
    "params": {"fast": 2, "slow": 3},
}


def gateway_config(db: Path, gateway: dict[str, Any], bots: bool = True) -> DeskConfig:
    return parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "trading": {
                "symbols": ["BTC-USDT", "ETH-USDT"],
                "timeframes": ["1s", "1m"],
                "channels": ["trades", "books", "tickers"],
            },
            "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 16, "steps_per_second": 400},
            "gateway": {"enabled": True, "port": 0, "token_env": NO_TOKEN_ENV, **gateway},
            "bots": [FAST_BOT] if bots else [],
        }
    )


@contextlib.asynccontextmanager
async def running(config: DeskConfig) -> AsyncIterator[Engine]:
    engine = Engine(config)
    await engine.start()
    try:
        assert engine.feeds is not None
        await engine.feeds.wait_ready(TIMEOUT)
        yield engine
    finally:
        await engine.stop()


def ws_url(engine: Engine, route: str) -> str:
    return engine.gateway.url.replace("http://", "ws://") + route


async def receive_until(
    ws: ClientConnection,
    done: Callable[[list[AnyMessage]], bool],
    what: str,
    timeout: float = TIMEOUT,
) -> list[AnyMessage]:
    """Decode every message with the documented Structs until ``done(messages)``."""
    messages: list[AnyMessage] = []
    try:
        async with asyncio.timeout(timeout):
            while not done(messages):
                messages.append(msgspec.json.decode(await ws.recv(), type=AnyMessage))
    except TimeoutError:
        kinds = [type(m).__name__ for m in messages]
        pytest.fail(f"timed out after {timeout}s waiting for {what}; got {kinds}")
    return messages


def of(kind: type, messages: list[AnyMessage]) -> list[Any]:
    return [m for m in messages if isinstance(m, kind)]


def allowed(route: str, messages: list[AnyMessage]) -> None:
    """The first message is hello; every message is one the route documents."""
    assert isinstance(messages[0], Hello)
    assert {type(m) for m in messages} <= set(ROUTE_MESSAGES[route])


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def exposed_names(text: str) -> set[str]:
    """Every series name the exposition declares (samples or not: a counter at zero labels
    has none yet)."""
    names = set()
    for family in text_string_to_metric_families(text):
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_count", "_sum"),
        }.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
        names |= {sample.name for sample in family.samples}
    return names


def value(found: dict, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in found, f"no sample {name}{labels}"
    return found[key]


def by_name(found: dict, name: str) -> dict[frozenset, float]:
    return {labels: v for (n, labels), v in found.items() if n == name}


async def scrape(engine: Engine) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(engine.gateway.url + "/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return await response.text()
