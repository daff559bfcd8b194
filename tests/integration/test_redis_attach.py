"""A UI attached over Redis (RedisClient) to a running engine with its RedisLink.

The engine runs the in-process simulator; the client is in the same test process but sees the
engine only through Redis. The shared Redis gets a unique prefix per test; the kill/restart test
runs its own redis-server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from desk.bridge import codec
from desk.bridge.commands_stream import CommandEnvelope, CommandSender, sign
from desk.bridge.keys import RedisKeys
from desk.bridge.signing import Keyring
from desk.clients.inprocess import InProcessClient
from desk.clients.redis import EngineNotFound, RedisClient
from desk.config import ConfigError, DeskConfig, RedisConfig, parse_config
from desk.core.commands import PauseBot, ResumeBot, SubmitOrder
from desk.core.enums import ConnectionState, Side
from desk.core.orders import Fill, Order, OrderRequest, OrderType
from desk.engine.engine import Engine
from tests.bridge import redis_fixtures
from tests.bridge.redis_fixtures import RedisServer, free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio

SECRET = "attach-test-secret-0123456789"
redis_client = redis_fixtures.redis_client

BOT = {
    "bot_id": "eager",
    "strategy": "ma_crossover",
    "symbol": "BTC-USDT",
    "timeframe": "1s",
    "size": 0.01,
    "params": {"fast": 2, "slow": 3},
}


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_COMMAND_SECRET", SECRET)


@pytest.fixture
async def prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    """A unique prefix on the shared Redis, cleaned up afterwards."""
    name = f"desktest-attach-{uuid.uuid4().hex[:10]}"
    yield name
    doomed = [key async for key in redis_client.scan_iter(match=f"{name}:*")]
    if doomed:
        await redis_client.delete(*doomed)


def _config(db: Path, prefix: str, url: str | None = None, **redis: Any) -> DeskConfig:
    return parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "trading": {
                "symbols": ["BTC-USDT", "ETH-USDT"],
                "timeframes": ["1s", "1m"],
                "channels": ["trades", "books"],
            },
            "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 5, "steps_per_second": 400},
            "redis": {
                "enabled": True,
                "url": url or redis_fixtures.shared_url(),
                "key_prefix": prefix,
                "ack_timeout": 30,
                **redis,
            },
            "bots": [BOT],
        }
    )


async def _engine(config: DeskConfig) -> Engine:
    engine = Engine(config)
    await engine.start()
    execution = engine.execution
    assert execution is not None, engine.execution_error
    await wait_until(lambda: execution.mid("BTC-USDT") is not None, 30, "a BTC-USDT book")
    return engine


async def _client(config: DeskConfig, **options: Any) -> RedisClient:
    client = RedisClient(config.redis, **options)
    await client.start()
    return client


def _market(side: Side, size: str) -> OrderRequest:
    return OrderRequest(
        symbol="BTC-USDT", side=side, order_type=OrderType.MARKET, size=Decimal(size)
    )


async def test_attach_mid_session_shows_the_current_state_at_once(
    tmp_path: Path, prefix: str
) -> None:
    config = _config(tmp_path / "d.sqlite", prefix)
    engine = await _engine(config)
    try:
        local = InProcessClient(engine, own_engine=False)
        ack = await engine.commands.execute(SubmitOrder(request=_market(Side.BUY, "0.01")))
        assert ack.accepted, ack.reason
        cid = ack.detail["client_order_id"]
        await wait_until(
            lambda: any(o.client_order_id == cid for o in local.trading().recent_orders),
            30,
            "the order in the engine",
        )
        rounds = engine.redis_link.rounds
        await wait_until(lambda: engine.redis_link.rounds > rounds + 1, 10, "views written")
        assert RedisClient(config.redis).describe().symbols == ("BTC-USDT", "ETH-USDT")
        client = await _client(config)
        try:
            # No waiting: start() read every view once.
            assert client.connected
            assert client.mode == "sim"
            assert client.symbols == ("BTC-USDT", "ETH-USDT")
            assert client.timeframes == ("1s", "1m")
            book = client.book("BTC-USDT", depth=5)
            assert book.bids and book.asks and len(book.bids) <= 5
            assert [b.bot_id for b in client.bots().bots] == ["eager"]
            trading = client.trading()
            assert trading.venue == "okx"
            assert any(o.client_order_id == cid for o in trading.recent_orders)
            assert {i.symbol for i in client.instruments()} == {"BTC-USDT", "ETH-USDT"}
            assert client.strategies()
            assert any(e.kind == "started" for e in client.events_since(0))
            assert any(c.venue == "redis" for c in client.health().connections)
            assert client.control_status == "CONTROL"
            await wait_until(lambda: client.models().version > 0, 20, "the models view")
            # and it keeps up with the engine
            before = client.book("BTC-USDT").version
            await wait_until(lambda: client.book("BTC-USDT").version != before, 20, "a newer book")
            await wait_until(lambda: bool(client.candles("BTC-USDT", "1s").candles), 20, "candles")
            detail = client.bot_detail("eager")
            assert detail.bot.bot_id == "eager"
            with pytest.raises(KeyError):
                client.bot_detail("nobody")
        finally:
            await client.stop()
    finally:
        await engine.stop()


async def test_commands_through_redis_are_applied_once_and_acknowledged(
    tmp_path: Path, prefix: str
) -> None:
    config = _config(tmp_path / "d.sqlite", prefix)
    engine = await _engine(config)
    client = await _client(config)
    try:
        ack = await client.execute(PauseBot(bot_id="eager"))
        assert ack.accepted, ack.reason
        assert engine.bots.config("eager").mode == "paused"
        await wait_until(
            lambda: [b.mode for b in client.bots().bots] == ["paused"], 10, "paused via Redis"
        )
        events = [e for e in engine.bot_board.recent_events("eager") if e.kind == "mode"]
        assert len(events) == 1 and events[0].actor == client.holder_id  # who did it

        refused = await client.execute(PauseBot(bot_id="nobody"))
        assert not refused.accepted and "unknown bot" in refused.reason

        ack = await client.execute(SubmitOrder(request=_market(Side.BUY, "0.01")))
        assert ack.accepted, ack.reason
        cid = ack.detail["client_order_id"]
        await wait_until(
            lambda: any(
                o.client_order_id == cid and o.status == "filled"
                for o in client.trading().recent_orders
            ),
            30,
            "the order filled, seen over Redis",
        )
        assert [o.client_order_id for o in engine.execution.oms.orders(1000)].count(cid) == 1
        receiver = engine.redis_link.receiver
        assert (receiver.applied, receiver.duplicates, receiver.bad_signatures) == (3, 0, 0)
        assert (await client.execute(ResumeBot(bot_id="eager"))).accepted
    finally:
        await client.stop()
        await engine.stop()


async def test_second_ui_is_read_only_until_the_lease_expires(tmp_path: Path, prefix: str) -> None:
    config = _config(tmp_path / "d.sqlite", prefix, lease_ttl=1.0)
    engine = await _engine(config)
    first = await _client(config)
    second = await _client(config)
    try:
        assert first.has_control and first.control_status == "CONTROL"
        assert not second.has_control
        assert second.control_holder == first.holder_id
        assert second.control_status == f"READ-ONLY (held by {first.holder_id})"
        refused = await second.execute(PauseBot(bot_id="eager"))
        assert not refused.accepted and first.holder_id in refused.reason
        assert second.check_order(_market(Side.BUY, "0.01")).startswith("read-only")

        # The engine refuses it too, whatever a UI believes about itself.
        redis = aioredis.Redis.from_url(config.redis.url)
        try:
            keys = RedisKeys(prefix)
            rogue = CommandSender(redis, keys, "ui:rogue", SECRET.encode(), holder_id="rogue")
            receipt = await rogue.request(PauseBot(bot_id="eager"), timeout_s=30)
            assert not receipt.accepted
            assert f"held by {first.holder_id}" in receipt.reason
        finally:
            await redis.aclose()
        assert engine.bots.config("eager").mode == "auto"

        # Held control is kept by renewal well past the TTL...
        await wait_until(lambda: first.refreshes > 30, 20, "a few lease renewals")
        assert first.has_control and not second.has_control
        # ...and passes to the waiting UI when its holder dies without releasing it.
        assert first._task is not None
        first._task.cancel()  # the first UI's process "hangs": no more renewals
        await wait_until(lambda: second.has_control, 20, "control handed over")
        assert second.control_status == "CONTROL"
        ack = await second.execute(PauseBot(bot_id="eager"))
        assert ack.accepted, ack.reason

        # Releasing hands it over at once to a UI that asks.
        await second.release_control()
        assert second.control_status.startswith("READ-ONLY")
        assert await first.acquire_control()
    finally:
        await second.stop()
        await first.stop()
        await engine.stop()


async def test_unsigned_and_badly_signed_commands_are_refused_and_reported(
    tmp_path: Path, prefix: str
) -> None:
    config = _config(tmp_path / "d.sqlite", prefix)
    engine = await _engine(config)
    client = await _client(config)
    redis = aioredis.Redis.from_url(config.redis.url)
    try:
        keys = RedisKeys(prefix)
        forger = CommandSender(
            redis, keys, "ui:forger", b"not-the-secret-at-all", holder_id=client.holder_id
        )
        await forger.send(PauseBot(bot_id="eager"))  # signed with the wrong secret
        envelope = CommandEnvelope(
            command_id=uuid.uuid4().hex,
            sender_id="ui:forger",
            holder_id=client.holder_id,
            issued_ns=_now_ns(),
            command=PauseBot(bot_id="eager"),
        )
        body = codec.encode(envelope)
        await redis.xadd(keys.commands_stream, {"body": body})  # no signature at all
        # tampered: signed body, different body sent
        other = codec.encode(msgspec.structs.replace(envelope, command_id=uuid.uuid4().hex))
        await redis.xadd(keys.commands_stream, {"body": other, "sig": sign(SECRET.encode(), body)})
        receiver = engine.redis_link.receiver
        await wait_until(lambda: receiver.bad_signatures == 3, 30, "three forgeries refused")
        assert engine.bots.config("eager").mode == "auto"
        # No receipt for an unproven sender (so no ack stream in its name)...
        assert not await redis.exists(keys.acks_stream("ui:forger"))
        # ...and the refusal is a security event the attached UI shows (health mode's log),
        # once for the sender within the rate-limit window.
        await wait_until(
            lambda: any(e.kind == "bad_signature" for e in client.events_since(0)),
            20,
            "the refusal in the UI's event log",
        )
        refusals = [e for e in client.events_since(0) if e.kind == "bad_signature"]
        assert len(refusals) == 1 and refusals[0].source == "security"
        assert "'ui:forger'" in refusals[0].message
        # The real UI's commands still work.
        ack = await client.execute(PauseBot(bot_id="eager"))
        assert ack.accepted, ack.reason
    finally:
        await redis.aclose()
        await client.stop()
        await engine.stop()


def _now_ns() -> int:
    import time

    return time.time_ns()


async def _stream_events(url: str, prefix: str) -> list[Any]:
    keys = RedisKeys(prefix)
    redis = aioredis.Redis.from_url(url)
    try:
        entries = await redis.xrange(keys.trade_updates_stream)
    finally:
        await redis.aclose()
    data = Keyring(SECRET.encode(), prefix).data  # every entry carries the engine's seal
    return [
        codec.decode_event(data.open(keys.trade_updates_stream, fields[b"event"])[1])
        for _id, fields in entries
    ]


async def test_redis_killed_and_restarted_mid_run_loses_no_order(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    prefix = "desktest-restart"
    config = _config(tmp_path / "d.sqlite", prefix, url=server.url, heartbeat_ttl=1.0)
    engine = await _engine(config)
    local = InProcessClient(engine, own_engine=False)  # an operator at the engine itself
    client = await _client(config)
    link = engine.redis_link
    try:
        assert client.connected and link.connected
        first = await client.execute(SubmitOrder(request=_market(Side.BUY, "0.01")))
        assert first.accepted, first.reason

        server.kill()
        await wait_until(lambda: not link.connected, 20, "the link to notice")
        await wait_until(lambda: not client.connected, 20, "the client to notice")
        assert client.control_status == "READ-ONLY (disconnected)"
        refused = await client.execute(PauseBot(bot_id="eager"))
        assert not refused.accepted

        # The engine runs on: market data flows, and an operator at the engine still trades.
        version = local.book("BTC-USDT").version
        await wait_until(lambda: local.book("BTC-USDT").version != version, 20, "market data")
        ack = await engine.commands.execute(SubmitOrder(request=_market(Side.SELL, "0.01")))
        assert ack.accepted, ack.reason
        cid = ack.detail["client_order_id"]
        await wait_until(
            lambda: any(
                o.client_order_id == cid and o.status == "filled"
                for o in local.trading().recent_orders
            ),
            30,
            "the order filled while Redis is down",
        )
        assert link.publisher.buffered > 0  # its Order/Fill events wait for Redis
        assert any(e.source == "redis" and e.kind == "lost" for e in local.events_since(0))
        assert link.connection_health().state is ConnectionState.DISCONNECTED
        await wait_until(lambda: engine.store.backlog == 0, 20, "SQLite caught up")
        stored = {s.order.client_order_id for s in await engine.store.load_orders()}
        assert cid in stored

        server.start()
        await wait_until(lambda: link.connected, 30, "the link back")
        await wait_until(lambda: client.connected, 30, "the client back")
        await wait_until(
            lambda: any(o.client_order_id == cid for o in client.trading().recent_orders),
            30,
            "the order seen over Redis",
        )
        await wait_until(lambda: link.publisher.buffered == 0, 30, "the publisher flushed")
        # Nothing lost: SQLite, the OMS, the trading view and the durable stream agree.
        oms_orders = {o.client_order_id for o in engine.execution.oms.orders(1000)}
        stored = {s.order.client_order_id for s in await engine.store.load_orders()}
        assert stored == oms_orders
        assert oms_orders <= {o.client_order_id for o in client.trading().recent_orders}
        streamed = await _stream_events(server.url, prefix)
        assert cid in {e.client_order_id for e in streamed if isinstance(e, Order)}
        oms_fills = {f.trade_id for f in engine.execution.oms.fills(1000)}
        stored_fills = {f.trade_id for f in await engine.store.load_fills()}
        assert oms_fills == stored_fills
        streamed_fills = {e.trade_id for e in streamed if isinstance(e, Fill)}
        after = {f.trade_id for f in engine.execution.oms.fills(1000) if f.client_order_id == cid}
        assert after and after <= streamed_fills

        # Commands work again (the restarted Redis lost the group and the lease: recreated).
        await wait_until(lambda: client.has_control, 20, "control taken again")
        ack = await client.execute(PauseBot(bot_id="eager"))
        assert ack.accepted, ack.reason
    finally:
        await client.stop()
        await engine.stop()
        server.kill()


async def test_redis_down_at_start_the_engine_runs_and_says_so(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    config = _config(tmp_path / "d.sqlite", "desktest-down", url=url)
    engine = await _engine(config)
    try:
        local = InProcessClient(engine, own_engine=False)
        link = engine.redis_link
        assert not link.connected
        assert any(
            e.source == "redis" and e.kind == "unavailable" and e.severity == "warning"
            for e in link.views.events_since(0)  # a client built at start saw every event
        )
        assert link.health(local.health()).connections[-1].state is ConnectionState.DISCONNECTED
        ack = await local.execute(SubmitOrder(request=_market(Side.BUY, "0.01")))
        assert ack.accepted, ack.reason
        with pytest.raises(EngineNotFound):
            await RedisClient(RedisConfig(url=url, key_prefix="x"), attach_timeout=0.3).start()
    finally:
        await engine.stop()


async def test_attach_finds_nothing_under_an_unused_prefix(prefix: str) -> None:
    with pytest.raises(EngineNotFound, match="no engine has written there"):
        await RedisClient(RedisConfig(key_prefix=prefix), attach_timeout=0.3).start()


async def test_redis_config_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"\$\.redis\.heartbeat_ttl: must be more than twice"):
        parse_config({"redis": {"heartbeat_ttl": 0.1, "view_interval": 0.1}})
    with pytest.raises(ConfigError, match=r"\$\.redis\.command_secret_env"):
        parse_config({"redis": {"command_secret_env": "not a name"}})
    with pytest.raises(ConfigError, match=r"\$\.redis\.key_prefix"):
        parse_config({"redis": {"key_prefix": "a*b"}})
