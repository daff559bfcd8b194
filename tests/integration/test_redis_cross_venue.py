"""The cross-venue view and each venue's book reach a UI attached over Redis unchanged."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis

from desk.clients.inprocess import InProcessClient
from desk.clients.redis import RedisClient
from desk.config import DeskConfig, parse_config
from desk.core.events import BookChanged
from desk.engine.engine import Engine
from tests.bridge import redis_fixtures
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio

SECRET = "cross-venue-test-secret-0123456789"
redis_client = redis_fixtures.redis_client


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_COMMAND_SECRET", SECRET)


@pytest.fixture
async def prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    name = f"desktest-xvenue-{uuid.uuid4().hex[:10]}"
    yield name
    doomed = [key async for key in redis_client.scan_iter(match=f"{name}:*")]
    if doomed:
        await redis_client.delete(*doomed)


def _config(db: Path, prefix: str) -> DeskConfig:
    return parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "trading": {
                "symbols": ["BTC-USDT"],
                "timeframes": ["1s"],
                "channels": ["trades", "books"],
            },
            "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 7, "steps_per_second": 200},
            "redis": {"enabled": True, "url": redis_fixtures.shared_url(), "key_prefix": prefix},
        }
    )


async def test_an_attached_ui_sees_the_engines_cross_venue_view_and_each_venues_book(
    tmp_path: Path, prefix: str
) -> None:
    config = _config(tmp_path / "d.sqlite", prefix)
    engine = Engine(config)
    await engine.start()
    try:
        local = InProcessClient(engine, own_engine=False)

        def okx_top() -> bool:
            row = local.cross_venue().symbol("BTC-USDT")
            return row is not None and any(t.venue == "okx" for t in row.tops)

        await wait_until(okx_top, 30, "OKX's top on the board")
        row = local.cross_venue().symbol("BTC-USDT")
        assert row is not None
        okx = next(t for t in row.tops if t.venue == "okx")
        # another venue (one no feed here speaks, so nothing else moves its top) quoting 0.5%
        # above OKX: its bid is above OKX's ask by more than the fees
        now = time.time_ns()
        engine.bus.publish(
            "market_data:BTC-USDT",
            BookChanged(
                ts_exchange=now,
                ts_recv=now,
                venue="kraken",
                symbol="BTC-USDT",
                seq_id=1,
                snapshot=True,
                best_bid=okx.ask * 1.005,
                best_ask=okx.ask * 1.006,
            ),
        )
        assert local.venues[0] == "okx" and local.venues[-1] == "kraken"
        client = RedisClient(config.redis)
        await client.start()
        try:

            def shows_kraken() -> bool:
                row = client.cross_venue().symbol("BTC-USDT")
                return row is not None and any(t.venue == "kraken" for t in row.tops)

            await wait_until(shows_kraken, 20, "kraken in the attached UI's cross-venue view")
            assert client.venues == local.venues
            remote = client.cross_venue()
            mine = local.cross_venue()
            if remote.version == mine.version:  # no newer OKX top in between: the same view
                encode = msgspec.msgpack.encode  # (bytes: NaN sizes compare equal)
                assert encode(remote) == encode(mine)
            remote_row = remote.symbol("BTC-USDT")
            assert remote_row is not None and remote_row.best is not None
            assert (remote_row.best.buy, remote_row.best.sell) == ("okx", "kraken")
            assert remote_row.best.bps > 0
            kraken = client.book("BTC-USDT", 5, "kraken")  # no feed keeps one: empty, stale
            assert kraken.venue == "kraken" and kraken.stale and not kraken.bids
            await wait_until(
                lambda: bool(client.book("BTC-USDT", 5).bids), 20, "OKX's book over Redis"
            )
            assert client.book("BTC-USDT", 5).venue == "okx"
        finally:
            await client.stop()
    finally:
        await engine.stop()
