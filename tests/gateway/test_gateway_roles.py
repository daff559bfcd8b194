"""A split role with ``gateway.enabled`` serves its own part: the feed role streams the market
and its /metrics, on a real Redis (the suite's own redis-server)."""

from __future__ import annotations

from pathlib import Path

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from desk.bridge.keys import RedisKeys
from desk.config import parse_config
from desk.engine.roles import build_role
from desk.gateway.messages import Hello, Market
from tests.bridge import redis_fixtures
from tests.gateway.support import TIMEOUT, of, receive_until, samples, scrape, value, ws_url
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio
redis_client = redis_fixtures.redis_client
keys = redis_fixtures.keys


async def test_the_feed_role_serves_the_market_and_its_metrics(
    tmp_path: Path, keys: RedisKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_COMMAND_SECRET", "gateway-roles-secret-0123456789")
    redis_url = redis_fixtures.shared_url()
    config = parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "trading": {"symbols": ["BTC-USDT"], "timeframes": ["1s"]},
            "storage": {"sqlite_path": str(tmp_path / "feed.sqlite"), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 3, "steps_per_second": 400},
            "redis": {"enabled": True, "url": redis_url, "key_prefix": keys.prefix},
            "gateway": {"enabled": True, "port": 0, "token_env": "DESK_TEST_NO_TOKEN"},
        }
    )
    engine = build_role(config, "feed")
    await engine.start()
    try:
        async with websockets.connect(ws_url(engine, "/ws/market/BTC-USDT")) as ws:
            got = await receive_until(
                ws, lambda ms: any(m.trades for m in of(Market, ms)), "market trades"
            )
        assert {type(m) for m in got} == {Hello, Market}
        with pytest.raises(InvalidStatus) as refused:  # this role runs no bots
            await websockets.connect(ws_url(engine, "/ws/bot/eager/status"))
        assert refused.value.response.status_code == 404

        await wait_until(lambda: engine.redis_link.connected, TIMEOUT, "the Redis link")
        found = samples(await scrape(engine))
        assert value(found, "desk_feed_messages_total", venue="okx", connection="okx") > 0
        assert value(found, "desk_redis_connected") == 1
        assert not [name for name, _ in found if name.startswith("desk_orders")]  # no executor
    finally:
        await engine.stop()
