"""Per-venue tapes, tickers, candles and positions reach a UI in this process and one attached
over Redis.

A real engine trades BTC-USDT on OKX and Binance (both on the simulator, over real WebSockets);
a paper order fills on Binance's book. The in-process client and a RedisClient against real
Redis must both show each venue's own tape, every venue's ticker, each venue's own candles (the
chart follows the ladder's venue), and the position's venue.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from desk.clients.inprocess import InProcessClient
from desk.clients.redis import RedisClient
from desk.config import DeskConfig, parse_config
from desk.core.enums import Side
from desk.core.orders import OrderRequest, OrderType
from desk.engine.engine import Engine
from tests.bridge import redis_fixtures
from tests.waiting import wait_until

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]

SECRET = "venue-views-test-secret-0123456789"
SYMBOL = "BTC-USDT"
redis_client = redis_fixtures.redis_client


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_COMMAND_SECRET", SECRET)


@pytest.fixture
async def prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    name = f"desktest-venueviews-{uuid.uuid4().hex[:10]}"
    yield name
    doomed = [key async for key in redis_client.scan_iter(match=f"{name}:*")]
    if doomed:
        await redis_client.delete(*doomed)


def _config(db: Path, prefix: str) -> DeskConfig:
    return parse_config(
        {
            "system": {"mode": "paper", "status_interval": 60},
            "trading": {
                "symbols": [SYMBOL],
                "timeframes": ["1s"],
                "channels": ["trades", "books", "tickers"],
            },
            "exchanges": {"binance": {"enabled": True}},
            "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 11, "steps_per_second": 200},
            "redis": {"enabled": True, "url": redis_fixtures.shared_url(), "key_prefix": prefix},
        }
    )


def _venues_of(client: object, venue: str) -> set[str]:
    return {t.venue for t in client.tape(SYMBOL, 100, venue).trades}  # type: ignore[attr-defined]


async def test_each_venues_tape_tickers_and_positions_in_process_and_over_redis(
    tmp_path: Path, prefix: str
) -> None:
    config = _config(tmp_path / "d.sqlite", prefix)
    engine = Engine(config)
    await engine.start()
    try:
        assert engine.execution is not None and engine.feeds is not None, engine.execution_error
        await engine.feeds.wait_ready(30)
        local = InProcessClient(engine, own_engine=False)
        await wait_until(
            lambda: _venues_of(local, "all") == {"okx", "binance"}, 30, "trades of both venues"
        )
        assert _venues_of(local, "okx") == {"okx"}
        assert _venues_of(local, "binance") == {"binance"}
        await wait_until(
            lambda: {t.venue for t in local.tickers().tickers} == {"okx", "binance"},
            30,
            "a ticker from each venue",
        )
        order = engine.execution.submit(
            OrderRequest(
                symbol=SYMBOL,
                side=Side.BUY,
                order_type=OrderType.MARKET,
                size=Decimal("0.0001"),
                venue="binance",
            )
        )
        assert order.venue == "binance", order.reason
        await wait_until(
            lambda: any(p.venue == "binance" for p in local.trading().positions),
            30,
            "the Binance position in the trading view",
        )
        client = RedisClient(config.redis)
        await client.start()
        try:
            await wait_until(
                lambda: (
                    client.venues == ("okx", "binance")
                    and _venues_of(client, "all") == {"okx", "binance"}
                ),
                30,
                "both venues' trades over Redis",
            )
            await wait_until(
                lambda: (
                    _venues_of(client, "binance") == {"binance"}
                    and _venues_of(client, "okx") == {"okx"}
                ),
                30,
                "each venue's own tape over Redis",
            )
            assert [(t.symbol, t.venue) for t in client.tickers().tickers] == [
                (SYMBOL, "okx"),
                (SYMBOL, "binance"),
            ]

            def same_candles(venue: str) -> bool:
                remote = client.candles(SYMBOL, "1s", 500, venue)
                closed = remote.candles[:-1] if remote.forming else remote.candles
                here = local.candles(SYMBOL, "1s", 500, venue).candles
                return (
                    remote.venue == venue
                    and len(closed) >= 3
                    and {c.end: c for c in here}.get(closed[-1].end) == closed[-1]
                )

            for venue in ("okx", "binance"):
                await wait_until(lambda v=venue: same_candles(v), 30, f"{venue}'s candles")
            okx = {c.end: c.close for c in client.candles(SYMBOL, "1s", 500, "okx").candles}
            binance = client.candles(SYMBOL, "1s", 500, "binance").candles
            assert any(okx.get(c.end) not in (None, c.close) for c in binance), (
                "Binance's candles are its own, not OKX's again"
            )

            def binance_position() -> list[tuple[str, str, float]]:
                return [
                    (p.bot_id, p.venue, p.size)
                    for p in client.trading().positions
                    if p.symbol == SYMBOL and p.venue == "binance"
                ]

            await wait_until(binance_position, 30, "the Binance position over Redis")
            assert binance_position() == [("manual", "binance", 0.0001)]
        finally:
            await client.stop()
    finally:
        await engine.stop()
