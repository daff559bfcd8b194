"""Redis as a trust boundary: attacks by a Redis client without the secret, each refused.

A real engine (in-process simulator, RedisLink) and a real attached UI (RedisClient) meet on
the suite's Redis, as in ``test_redis_attach.py``; the attacker is a plain redis client that
can read and write every key but does not hold ``$DESK_COMMAND_SECRET``. Where an attack races
the engine (a marker planted, a receipt forged between a command and its answer), the engine's
command receiver is paused for the attacker's move and started again: the order of events is
then fixed, not left to timing. Split-role readers (the bots' candles from pub/sub, the
executor's books from the feed's views) are attacked against their real producers' seals.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from desk.bridge import codec
from desk.bridge.commands_stream import (
    CommandEnvelope,
    CommandReceipt,
    CommandSender,
    LeaseRequest,
    sign,
)
from desk.bridge.keys import RedisKeys
from desk.bridge.ledger import LedgerEntry
from desk.bridge.redis_publisher import RedisPublisher, make_client
from desk.bridge.redis_state import RedisStateWriter
from desk.bridge.redis_views import InstrumentsView, ViewKeys
from desk.bridge.security import RefusalReporter
from desk.bridge.signing import Keyring, strip_unverified
from desk.bridge.views import BookView, InstrumentView, LevelView
from desk.clients.redis import EngineNotFound, RedisClient
from desk.config import DeskConfig, parse_config
from desk.core import topics
from desk.core.bus import Bus
from desk.core.commands import PauseBot, ResumeBot
from desk.core.enums import Severity
from desk.core.events import Candle
from desk.engine.engine import Engine
from desk.engine.remote_market import RedisBooks, RedisMarketIn
from tests.bridge import redis_fixtures
from tests.bridge.redis_fixtures import wait_until_async
from tests.waiting import wait_until

SECRET = "attack-test-secret-0123456789"
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
    name = f"desktest-attack-{uuid.uuid4().hex[:10]}"
    yield name
    doomed = [key async for key in redis_client.scan_iter(match=f"{name}:*")]
    if doomed:
        await redis_client.delete(*doomed)


def _config(db: Path, prefix: str, **redis: Any) -> DeskConfig:
    return parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "trading": {
                "symbols": ["BTC-USDT"],
                "timeframes": ["1s"],
                "channels": ["trades", "books"],
            },
            "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 5, "steps_per_second": 200},
            "redis": {
                "enabled": True,
                "url": redis_fixtures.shared_url(),
                "key_prefix": prefix,
                "ack_timeout": 30,
                **redis,
            },
            "bots": [BOT],
        }
    )


class Desk:
    """An engine, a UI attached to it, and an attacker's plain Redis client."""

    def __init__(self, engine: Engine, client: RedisClient, attacker: aioredis.Redis) -> None:
        self.engine = engine
        self.client = client
        self.attacker = attacker
        self.keys = client.keys

    @property
    def receiver(self) -> Any:
        return self.engine.redis_link.receiver

    def ui_events(self, kind: str) -> list[Any]:
        """Events of ``kind`` in the UI's event log (the engine's and its own)."""
        return [e for e in self.client.events_since(0, limit=1000) if e.kind == kind]

    def engine_events(self, kind: str) -> list[Any]:
        return [e for e in self.engine.redis_link.views.events_since(0, 1000) if e.kind == kind]

    async def next_command(self, name: str) -> CommandEnvelope:
        """What the attacker sees on the stream: the UI's latest command of type ``name``."""
        found: list[CommandEnvelope] = []

        async def seen() -> bool:
            for _id, fields in await self.attacker.xrange(self.keys.commands_stream):
                if b"body" not in fields:
                    continue
                envelope = codec.decode_as(fields[b"body"], CommandEnvelope)
                if type(envelope.command).__name__ == name and envelope.sender_id.startswith("ui:"):
                    found[:] = [envelope]
            return bool(found)

        await wait_until_async(seen, 30, f"the UI's {name} on the stream")
        return found[0]


@pytest.fixture
async def desk(tmp_path: Path, prefix: str) -> AsyncIterator[Desk]:
    config = _config(tmp_path / "d.sqlite", prefix)
    engine = Engine(config)
    await engine.start()
    client = RedisClient(config.redis)
    attacker = aioredis.Redis.from_url(config.redis.url)
    try:
        await client.start()
        assert client.has_control
        yield Desk(engine, client, attacker)
    finally:
        await attacker.aclose()
        await _stops(client.stop(), "the UI")
        await _stops(engine.stop(), "the engine")


async def _stops(stopping: Any, what: str, timeout: float = 60.0) -> None:
    """Stop something, and if it does not end, fail naming what every task was doing."""
    import asyncio
    import io

    task = asyncio.ensure_future(stopping)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        stacks = io.StringIO()
        for other in asyncio.all_tasks():
            other.print_stack(file=stacks)
        pytest.fail(f"{what} did not stop in {timeout}s; tasks:\n{stacks.getvalue()}")
    task.result()


async def test_a_lease_key_written_without_the_secret_does_not_take_control(
    tmp_path: Path, prefix: str, redis_client: aioredis.Redis
) -> None:
    keys = RedisKeys(prefix)
    config = _config(tmp_path / "d.sqlite", prefix)
    # Before any UI asks, the attacker "takes" the lease the old way: SET with a TTL.
    await redis_client.set(keys.control_lease, "attacker", px=60_000)
    engine = Engine(config)
    await engine.start()
    client = RedisClient(config.redis)
    try:
        await client.start()
        assert client.has_control and client.control_status == "CONTROL"
        assert (await client.execute(PauseBot(bot_id="eager"))).accepted

        for forged in (b"attacker", b"\xc1\x01" + b"\x00" * 40):  # a plain id, a fake seal
            await redis_client.set(keys.control_lease, forged, px=60_000)
            await wait_until_async(
                lambda f=forged: _restored(redis_client, keys, f), 20, "the grant restored"
            )
            assert client.control_status == "CONTROL"
            ack = await client.execute(ResumeBot(bot_id="eager"))
            assert ack.accepted, ack.reason
        await redis_client.delete(keys.control_lease)  # deleting it changes nothing either
        assert (await client.execute(PauseBot(bot_id="eager"))).accepted
        assert engine.bots.config("eager").mode == "paused"
        # Nor does asking the engine for the lease without the secret.
        receiver = engine.redis_link.receiver
        bad = receiver.bad_signatures
        ask = LeaseRequest(
            request_id=uuid.uuid4().hex,
            sender_id="ui:attacker",
            holder_id="attacker",
            issued_ns=time.time_ns(),
            action="acquire",
        )
        await redis_client.xadd(keys.commands_stream, {"lease": codec.encode(ask)})
        await wait_until(lambda: receiver.bad_signatures == bad + 1, 20, "the request refused")
        assert not await redis_client.exists(keys.acks_stream("ui:attacker"))
        assert client.control_status == "CONTROL"

        # A UI attaching now sees the real holder, not the attacker.
        watcher = RedisClient(config.redis, auto_control=False)
        await watcher.start()
        try:
            await wait_until(lambda: watcher.control_holder == client.holder_id, 20, "holder")
        finally:
            await watcher.stop()
        assert engine.redis_link.receiver.authority.restored >= 2
        await wait_until(
            lambda: any(e.kind == "tampered_lease" for e in client.events_since(0, 1000)),
            20,
            "the tampering reported",
        )
    finally:
        await client.stop()
        await engine.stop()


async def _restored(redis: aioredis.Redis, keys: RedisKeys, forged: bytes) -> bool:
    value = await redis.get(keys.control_lease)
    return value is not None and value != forged


@pytest.mark.parametrize("state", ["applying", "done"])
async def test_a_planted_applied_marker_does_not_stop_a_command(desk: Desk, state: str) -> None:
    await desk.receiver.stop()  # the attacker moves between the command and the engine
    pending = _execute_later(desk.client, PauseBot(bot_id="eager"))
    envelope = await desk.next_command("PauseBot")
    forged_receipt = CommandReceipt(command_id=envelope.command_id, accepted=True)
    marker = LedgerEntry(
        state=state, consumer="ghost", receipt=forged_receipt if state == "done" else None
    )
    key = desk.keys.applied_command(envelope.command_id)
    await desk.attacker.set(key, codec.encode(marker))

    desk.receiver.start()
    ack = await pending
    assert ack.accepted, ack.reason  # applied, not refused as "interrupted"
    assert desk.engine.bots.config("eager").mode == "paused"
    assert desk.receiver.planted == 1
    await wait_until(lambda: desk.ui_events("planted_marker"), 20, "the planting reported")
    assert desk.client.holder_id in desk.ui_events("planted_marker")[0].message


def _execute_later(client: RedisClient, command: Any) -> Any:
    import asyncio

    return asyncio.get_running_loop().create_task(client.execute(command))


async def test_a_forged_receipt_is_refused_and_the_engine_s_answer_awaited(desk: Desk) -> None:
    await desk.receiver.stop()
    pending = _execute_later(desk.client, PauseBot(bot_id="nobody"))  # the engine refuses it
    envelope = await desk.next_command("PauseBot")
    ack_stream = desk.keys.acks_stream(f"ui:{desk.client.holder_id}")
    lie = codec.encode(CommandReceipt(command_id=envelope.command_id, accepted=True))
    await desk.attacker.xadd(ack_stream, {"receipt": lie})
    wrong_key = Keyring(b"the-attacker-s-own-key-0123456789", desk.keys.prefix).receipt
    await desk.attacker.xadd(ack_stream, {"receipt": wrong_key.seal(ack_stream, lie)})
    sender = desk.client._sender
    assert sender is not None
    await wait_until(lambda: sender.forged_receipts == 2, 20, "both lies read and refused")
    assert not pending.done()

    desk.receiver.start()
    ack = await pending
    assert not ack.accepted and "unknown bot" in ack.reason  # the engine's real answer
    refusals = desk.ui_events("forged_receipt")
    assert refusals and refusals[0].source == "security"
    assert refusals[0].severity == Severity.WARNING


async def test_forged_commands_create_no_ack_streams_and_their_flood_is_rate_limited(
    desk: Desk,
) -> None:
    body = codec.encode(
        CommandEnvelope(
            command_id="x",
            sender_id="victim",
            holder_id=desk.client.holder_id,
            issued_ns=time.time_ns(),
            command=PauseBot(bot_id="eager"),
        )
    )
    pipe = desk.attacker.pipeline(transaction=False)
    for n in range(300):
        envelope = CommandEnvelope(
            command_id=f"forged-{n}",
            sender_id=f"victim-{n}",
            holder_id=desk.client.holder_id,
            issued_ns=time.time_ns(),
            command=PauseBot(bot_id="eager"),
        )
        pipe.xadd(desk.keys.commands_stream, {"body": codec.encode(envelope), "sig": "00" * 32})
    pipe.xadd(desk.keys.commands_stream, {"body": body})  # unsigned
    pipe.xadd(desk.keys.commands_stream, {"body": b"\x92\x01garbage"})  # malformed
    pipe.xadd(desk.keys.commands_stream, {"nothing": b"here"})
    await pipe.execute()

    await wait_until(lambda: desk.receiver.bad_signatures == 301, 60, "every forgery refused")
    await wait_until(lambda: desk.receiver.malformed == 2, 20, "the malformed entries")
    assert desk.engine.bots.config("eager").mode == "auto"
    ack_streams = [
        k async for k in desk.attacker.scan_iter(match=f"{desk.keys.prefix}:stream:acks:*")
    ]
    assert ack_streams == [desk.keys.acks_stream(f"ui:{desk.client.holder_id}").encode()]
    # The flood is reported, but capped: a window's worth of events, not 303.
    await wait_until(lambda: desk.engine_events("bad_signature"), 20, "refusals reported")
    events = desk.engine.redis_link.views.events_since(0, 1000)
    security = [e for e in events if e.source == "security"]
    assert 1 <= len(security) <= 33  # one window's budget, and a summary per kind at most
    assert (await desk.client.execute(ResumeBot(bot_id="eager"))).accepted  # still in control


async def test_a_replayed_command_is_not_applied_again(desk: Desk) -> None:
    assert (await desk.client.execute(PauseBot(bot_id="eager"))).accepted
    entries = await desk.attacker.xrange(desk.keys.commands_stream)
    pause = next(
        fields
        for _id, fields in entries
        if b"body" in fields
        and isinstance(codec.decode_as(fields[b"body"], CommandEnvelope).command, PauseBot)
    )
    assert (await desk.client.execute(ResumeBot(bot_id="eager"))).accepted
    command_id = codec.decode_as(pause[b"body"], CommandEnvelope).command_id

    await desk.attacker.xadd(desk.keys.commands_stream, pause)  # the same signed entry again
    await wait_until(lambda: desk.receiver.replays == 1, 20, "the replay refused")
    await desk.attacker.delete(desk.keys.applied_command(command_id))  # and without its ledger
    await desk.attacker.xadd(desk.keys.commands_stream, pause)
    await wait_until(lambda: desk.receiver.replays == 2, 20, "the second replay refused")

    assert desk.engine.bots.config("eager").mode == "auto"
    assert desk.receiver.applied == 2
    await wait_until(lambda: desk.ui_events("replay"), 20, "the replay reported")


async def test_expired_commands_and_lease_violations_are_refused_and_reported(
    desk: Desk,
) -> None:
    intruder = CommandSender(
        desk.attacker, desk.keys, "ui:intruder", SECRET.encode(), holder_id="intruder"
    )  # holds the secret, not the lease
    refused = await intruder.request(PauseBot(bot_id="eager"), timeout_s=30)
    assert not refused.accepted and desk.client.holder_id in refused.reason
    old = codec.encode(
        CommandEnvelope(
            command_id=uuid.uuid4().hex,
            sender_id="ui:intruder",
            holder_id=desk.client.holder_id,
            issued_ns=time.time_ns() - 3600 * 10**9,
            command=PauseBot(bot_id="eager"),
        )
    )
    await desk.attacker.xadd(
        desk.keys.commands_stream, {"body": old, "sig": sign(SECRET.encode(), old)}
    )
    receipt = await intruder.wait_ack(codec.decode_as(old, CommandEnvelope).command_id, 30)
    assert not receipt.accepted and receipt.reason.startswith("expired")
    assert desk.engine.bots.config("eager").mode == "auto"
    for kind in ("lease_violation", "expired"):
        await wait_until(lambda k=kind: desk.ui_events(k), 20, f"{kind} reported")
        assert "'ui:intruder'" in desk.ui_events(kind)[0].message


async def test_views_written_without_the_secret_are_not_shown(desk: Desk) -> None:
    client, keys = desk.client, ViewKeys(desk.keys)
    await wait_until(lambda: bool(client.instruments()), 20, "the instruments view")
    genuine = client.instruments()
    fake = InstrumentView(
        symbol="SCAM-USDT",
        base="SCAM",
        quote="USDT",
        tick_size="1",
        lot_size="1",
        min_size="1",
        state="live",
    )
    forged = InstrumentsView(version=99, instruments=[fake])
    await desk.attacker.set(keys.instruments, codec.encode(forged))
    await wait_until(lambda: client.forged_views >= 1, 20, "the forged view refused")
    assert client.instruments() == genuine

    # An older genuine view put back (a replay) is refused too.
    old_bots = await desk.attacker.get(keys.bots)
    assert (await client.execute(PauseBot(bot_id="eager"))).accepted
    await wait_until(lambda: client.bots().bots[0].mode == "paused", 20, "the pause shown")
    await desk.engine.redis_link.stop()  # no newer view from here: the replay stays in place
    await desk.attacker.set(keys.bots, old_bots)
    await wait_until(lambda: client.forged_views >= 2, 20, "the replayed view refused")
    assert client.bots().bots[0].mode == "paused"
    kinds = {e.kind for e in client.events_since(0, 1000) if e.source == "security"}
    assert {"forged_data", "replay"} <= kinds


async def test_a_ui_with_another_secret_or_a_forged_engine_is_told_so(desk: Desk) -> None:
    config = desk.client.config
    stranger = RedisClient(config, environ={"DESK_COMMAND_SECRET": "another-secret-0123456789"})
    with pytest.raises(EngineNotFound, match=r"not sealed with this UI's \$DESK_COMMAND_SECRET"):
        stranger.describe()
    stranger = RedisClient(
        config, environ={"DESK_COMMAND_SECRET": "another-secret-0123456789"}, attach_timeout=0.5
    )
    with pytest.raises(EngineNotFound, match="secret differs from the engine's"):
        await stranger.start()
    meta = ViewKeys(desk.keys).meta
    genuine = await desk.attacker.get(meta)
    assert genuine is not None
    await desk.attacker.set(meta, strip_unverified(genuine))  # the same, without the seal
    with pytest.raises(EngineNotFound, match="not sealed"):
        RedisClient(config).describe()


# -- split roles: what the bots and the executor act on -------------------------------------


def _candle(symbol: str, n: int) -> Candle:
    t = 1_700_000_000_000_000_000 + n * 1_000_000_000
    return Candle(
        ts_exchange=t, ts_recv=t, venue="okx", symbol=symbol, timeframe="1s", end=t,
        open=100.0, high=101.0, low=99.0, close=100.5, volume=1.0, quote_volume=100.0,
        trades=3, closed=True,
    )  # fmt: skip


def _book(mid: float, version: int) -> BookView:
    return BookView(
        version=version, symbol="BTC-USDT",
        bids=[LevelView(price=mid - 0.5, size=1.0)], asks=[LevelView(price=mid + 0.5, size=1.0)],
        seq_id=version, ts_exchange=0, ts_recv=time.time_ns(), age_ms=0.0, stale=False,
    )  # fmt: skip


async def test_the_bots_take_only_candles_the_feed_sealed(prefix: str, tmp_path: Path) -> None:
    config = _config(tmp_path / "d.sqlite", prefix)
    keys = RedisKeys(prefix)
    keyring = Keyring(SECRET.encode(), prefix)
    events: list[tuple[str, str, str, Severity]] = []
    feed_bus, bots_bus = Bus(), Bus()
    feed = RedisPublisher(feed_bus, keys, lambda: make_client(config.redis.url),
                          sealer=keyring.data)  # fmt: skip
    market_in = RedisMarketIn(
        bots_bus, config, (Candle,), keyring, RefusalReporter(lambda *e: events.append(e))
    )
    got: list[Candle] = []
    bots_bus.subscribe(topics.market_data("*"), got.append)
    attacker = aioredis.Redis.from_url(config.redis.url)
    spy = attacker.pubsub(ignore_subscribe_messages=True)
    channel = keys.channel(topics.market_data("BTC-USDT"))
    try:
        await spy.subscribe(channel, keys.channel(topics.market_data("ETH-USDT")))
        feed.start()
        await market_in.start()
        n = 0

        async def first_arrives() -> bool:  # the subscription is in place once one arrives
            nonlocal n
            n += 1
            feed_bus.publish(topics.market_data("BTC-USDT"), _candle("BTC-USDT", n))
            return bool(got)

        await wait_until_async(first_arrives, 30, "a genuine candle through Redis")
        captured = await _message_on(spy, channel)
        feed_bus.publish(topics.market_data("ETH-USDT"), _candle("ETH-USDT", 1))
        eth = await _message_on(spy, keys.channel(topics.market_data("ETH-USDT")))
        await wait_until(lambda: got[-1].symbol == "ETH-USDT", 20, "the ETH candle")
        before, refused = len(got), market_in.refused

        fake = codec.encode(msgspec.structs.replace(_candle("BTC-USDT", 999), close=1.0))
        await attacker.publish(channel, fake)  # unsigned
        other = Keyring(b"not-the-desk-s-secret-0123456789", prefix).data
        await attacker.publish(channel, other.seal(channel, fake))  # sealed with another key
        await attacker.publish(channel, captured)  # a genuine message, replayed
        await attacker.publish(channel, eth)  # a genuine ETH message on the BTC channel
        feed_bus.publish(topics.market_data("BTC-USDT"), _candle("BTC-USDT", 1000))
        await wait_until(lambda: got[-1].end == _candle("BTC-USDT", 1000).end, 20, "the next")

        assert got[before:] == [_candle("BTC-USDT", 1000)]  # only the genuine one
        assert all(c.close == 100.5 for c in got)
        assert market_in.refused == refused + 4
        assert {kind for _, kind, _, _ in events} == {"forged_data", "replay"}
    finally:
        await market_in.stop()
        await feed.stop()
        await spy.aclose()
        await attacker.aclose()


async def _message_on(pubsub: Any, channel: str) -> bytes:
    found: list[bytes] = []

    async def arrived() -> bool:
        message = await pubsub.get_message(timeout=0.1)
        if message is not None and message["channel"].decode() == channel:
            found.append(message["data"])
        return bool(found)

    await wait_until_async(arrived, 20, f"a message on {channel}")
    return found[-1]


async def test_the_executor_prices_only_on_books_the_feed_sealed(
    prefix: str, tmp_path: Path, redis_client: aioredis.Redis
) -> None:
    config = _config(tmp_path / "d.sqlite", prefix, view_interval=0.05, heartbeat_ttl=2.0)
    keys, view_keys = RedisKeys(prefix), ViewKeys(RedisKeys(prefix))
    keyring = Keyring(SECRET.encode(), prefix)
    book_key = view_keys.book("BTC-USDT")
    feed_state = RedisStateWriter(redis_client, keys, keyring.data, register_components=False)

    async def feed_writes(mid: float, version: int) -> bytes:  # as the feed's RedisLink does
        sealed = keyring.data.seal(book_key, codec.encode(_book(mid, version)))
        await redis_client.set(book_key, sealed)
        await feed_state.heartbeat("feed", 60)
        return sealed

    refusals: list[str] = []
    books = RedisBooks(config, keyring=keyring, report=lambda kind, *_: refusals.append(kind))
    try:
        first = await feed_writes(100.0, 1)
        await books.start()
        assert books.book("BTC-USDT").mid() == 100.0
        await feed_writes(101.0, 2)
        await books.refresh()
        assert books.book("BTC-USDT").mid() == 101.0

        await redis_client.set(book_key, codec.encode(_book(1_000_000.0, 3)))  # unsigned
        await books.refresh()
        assert books.book("BTC-USDT").mid() == 101.0
        await redis_client.set(book_key, first)  # the feed's own older book, put back
        await books.refresh()
        assert books.book("BTC-USDT").mid() == 101.0
        assert refusals == ["forged_data", "replay"]

        # The feed dies; its last heartbeat is kept in place (or faked): no book after the TTL.
        beat = await redis_client.get(keys.heartbeat("feed"))

        async def dead() -> bool:
            await redis_client.set(keys.heartbeat("feed"), beat)
            await books.refresh()
            return books.book("BTC-USDT") is None

        await wait_until_async(dead, 20, "the frozen heartbeat to count as dead")
        await redis_client.set(keys.heartbeat("feed"), b"alive, honest")
        await books.refresh()
        assert books.book("BTC-USDT") is None
        await feed_writes(102.0, 4)  # the feed is back
        await books.refresh()
        assert books.book("BTC-USDT").mid() == 102.0
    finally:
        await books.stop()
