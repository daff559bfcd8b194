"""``desk redis-acl``: a least-privilege Redis user per role, loaded into a real redis-server.

The ACL file is what ``desk redis-acl --aclfile`` prints; a private redis-server starts with it
(``--aclfile``). Each role then connects as its own user: a viewer cannot write, no role can
touch another role's keys (nor another desk's), and desk still works under those users: an
engine with an attached UI and a watching viewer, and a split desk (feed, bots, executor).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from desk.bridge.redis_publisher import PASSWORD_ENV
from desk.cli import main
from desk.clients.redis import RedisClient
from desk.config import DeskConfig, parse_config
from desk.core.commands import PauseBot, SubmitOrder
from desk.core.enums import Side
from desk.core.orders import OrderRequest, OrderType
from desk.engine.engine import Engine
from desk.engine.redis_acl import ROLES, password_env, username
from desk.engine.roles import RoleEngine
from tests.bridge.redis_fixtures import RedisServer
from tests.waiting import wait_until

PREFIX = "acltest"
SECRET = "acl-test-secret-0123456789"


class AclDesk:
    def __init__(self, server: RedisServer, passwords: dict[str, str]) -> None:
        self.server = server
        self.passwords = passwords

    def url(self, role: str) -> str:
        return (
            f"redis://{username(PREFIX, role)}:{self.passwords[role]}"
            f"@127.0.0.1:{self.server.port}/0"
        )

    def client(self, role: str) -> redis.Redis:
        return redis.Redis.from_url(self.url(role), socket_timeout=5)


@pytest.fixture
def acl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[AclDesk]:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setenv("DESK_COMMAND_SECRET", SECRET)
    passwords = {role: f"{role}-{uuid.uuid4().hex}" for role in ROLES}
    for role, password in passwords.items():
        monkeypatch.setenv(password_env(role), password)
    config = tmp_path / "desk.yaml"
    config.write_text(yaml.safe_dump({"redis": {"key_prefix": PREFIX}}))
    assert main(["redis-acl", "--config", str(config), "--aclfile"]) == 0
    printed = capsys.readouterr().out
    assert all(password not in printed for password in passwords.values())  # hashes only
    users = [line for line in printed.splitlines() if line.startswith("user ")]
    assert len(users) == len(ROLES)
    aclfile = tmp_path / "users.acl"
    aclfile.write_text("\n".join(["user default on nopass ~* &* +@all", *users]) + "\n")
    server = RedisServer(tmp_path, extra_args=["--aclfile", str(aclfile)])
    server.start()
    yield AclDesk(server, passwords)
    server.kill()


def _refused(call: Callable[[], Any]) -> bool:
    try:
        call()
    except redis.exceptions.NoPermissionError:
        return True
    return False


def test_a_viewer_cannot_write_and_no_role_touches_another_role_s_keys(acl: AclDesk) -> None:
    p = PREFIX
    viewer, feed, bots = acl.client("viewer"), acl.client("feed"), acl.client("bots")
    executor, ui = acl.client("executor"), acl.client("ui")
    admin = redis.Redis(port=acl.server.port)
    admin.set(f"{p}:view:meta", b"x")
    try:
        assert viewer.get(f"{p}:view:meta") == b"x"  # a viewer reads the views...
        for write in (
            lambda: viewer.set(f"{p}:view:meta", b"forged"),
            lambda: viewer.delete(f"{p}:view:meta"),
            lambda: viewer.set(f"{p}:lease:control", b"viewer"),
            lambda: viewer.xadd(f"{p}:stream:commands", {"body": b"x"}),
            lambda: viewer.publish(f"{p}:bus:market_data:BTC-USDT", b"x"),
            lambda: viewer.flushall(),
        ):
            assert _refused(write)  # ...and writes nothing
        assert admin.get(f"{p}:view:meta") == b"x"

        # Each role writes its own views, and nothing of another's.
        feed.set(f"{p}:view:book:BTC-USDT", b"book")
        feed.set(f"{p}:view:book:BTC-USDT:binance", b"book")  # another venue's book
        feed.set(f"{p}:view:crossvenue", b"tops")  # one refused key fails the feed's round
        assert executor.get(f"{p}:view:book:BTC-USDT:binance") == b"book"
        bots.set(f"{p}:view:bots", b"bots")
        executor.set(f"{p}:view:trading", b"trading")
        for write in (
            lambda: feed.set(f"{p}:view:trading", b"x"),
            lambda: feed.set(f"{p}:view:bots", b"x"),
            lambda: feed.xadd(f"{p}:stream:commands", {"body": b"x"}),
            lambda: feed.set(f"{p}:lease:control", b"feed"),
            lambda: feed.publish(f"{p}:bus:trade_updates:b1", b"x"),
            lambda: feed.set("other:view:book:BTC-USDT", b"x"),  # another desk's prefix
            lambda: bots.set(f"{p}:view:book:BTC-USDT", b"x"),
            lambda: bots.set(f"{p}:view:trading", b"x"),
            lambda: bots.set(f"{p}:cmd:applied:engine:c1", b"x"),  # the executor's ledger
            lambda: bots.set(f"{p}:lease:control", b"bots"),
            lambda: bots.xadd(f"{p}:stream:trade_updates", {"event": b"x"}),
            lambda: executor.set(f"{p}:view:bots", b"x"),
            lambda: executor.set(f"{p}:view:book:BTC-USDT", b"x"),
            lambda: executor.set(f"{p}:heartbeat:feed", b"x"),
            lambda: executor.set(f"{p}:cmd:applied:bots:c1", b"x"),
            lambda: ui.set(f"{p}:view:meta", b"x"),
            lambda: ui.xadd(f"{p}:stream:acks:ui:someone", {"receipt": b"forged"}),
            lambda: ui.xreadgroup("engine", "thief", {f"{p}:stream:commands": ">"}),
            lambda: ui.xread({f"{p}:stream:acks:bots:host:1": "0"}),
        ):
            assert _refused(write)
        assert admin.get(f"{p}:view:book:BTC-USDT") == b"book"
        assert admin.get(f"{p}:view:trading") == b"trading"
        assert _refused(lambda: feed.get(f"{p}:view:trading"))  # nor reads what it needs not
    finally:
        for client in (viewer, feed, bots, executor, ui, admin):
            client.close()


def _config(acl: AclDesk, role: str, tmp: Path, **sections: Any) -> DeskConfig:
    trading = {"symbols": ["BTC-USDT"], "timeframes": ["1s"], "channels": ["trades", "books"]}
    redis_ = {"enabled": True, "url": acl.url(role), "key_prefix": PREFIX, "ack_timeout": 30}
    return parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "trading": trading,
            "storage": {"sqlite_path": str(tmp / f"{role}.sqlite"), "flush_interval": 0.05},
            "redis": redis_,
            **sections,
        }
    )


BOT = {
    "bot_id": "eager",
    "strategy": "ma_crossover",
    "symbol": "BTC-USDT",
    "timeframe": "1s",
    "size": 0.01,
    "params": {"fast": 2, "slow": 3},
}
SIM = {"enabled": True, "port": 0, "seed": 5, "steps_per_second": 400}


def _market(size: str) -> OrderRequest:
    return OrderRequest(
        symbol="BTC-USDT", side=Side.BUY, order_type=OrderType.MARKET, size=Decimal(size)
    )


@pytest.fixture
async def stoppers() -> AsyncIterator[list[Any]]:
    started: list[Any] = []
    yield started
    for thing in reversed(started):
        await thing.stop()


async def test_an_engine_and_its_uis_work_under_their_users(
    acl: AclDesk, tmp_path: Path, stoppers: list[Any]
) -> None:
    engine = Engine(_config(acl, "engine", tmp_path, simulator=SIM, bots=[BOT]))
    await engine.start()
    stoppers.append(engine)
    ui = RedisClient(_config(acl, "ui", tmp_path).redis)
    await ui.start()
    stoppers.append(ui)
    viewer = RedisClient(_config(acl, "viewer", tmp_path).redis, auto_control=False)
    await viewer.start()
    stoppers.append(viewer)

    assert ui.has_control and ui.connected
    await wait_until(lambda: bool(viewer.book("BTC-USDT").bids), 30, "the viewer sees a book")
    ack = await ui.execute(PauseBot(bot_id="eager"))
    assert ack.accepted, ack.reason
    await wait_until(lambda: viewer.bots().bots[0].mode == "paused", 20, "the viewer sees it")
    assert not (await viewer.execute(PauseBot(bot_id="eager"))).accepted  # read-only
    assert not await viewer.acquire_control()  # its user may not even ask
    assert engine.redis_link.errors == 0 and engine.redis_link.publisher.errors == 0


async def test_a_split_desk_works_under_its_users(
    acl: AclDesk, tmp_path: Path, stoppers: list[Any]
) -> None:
    feed = RoleEngine(_config(acl, "feed", tmp_path, simulator=SIM), "feed")
    await feed.start()
    stoppers.append(feed)
    sim = feed.simulator
    okx = {
        "ws_public_url": sim.ws_public_url,
        "ws_business_url": sim.ws_business_url,
        "ws_private_url": sim.ws_private_url,
        "rest_url": sim.rest_url,
    }
    executor = RoleEngine(_config(acl, "executor", tmp_path, exchanges={"okx": okx}), "executor")
    await executor.start()
    stoppers.append(executor)
    bots = RoleEngine(_config(acl, "bots", tmp_path, exchanges={"okx": okx}, bots=[BOT]), "bots")
    await bots.start()
    stoppers.append(bots)
    ui = RedisClient(_config(acl, "ui", tmp_path).redis)
    await ui.start()
    stoppers.append(ui)

    assert ui.has_control  # granted by the executor
    execution = executor.execution
    assert execution is not None, executor.execution_error
    await wait_until(lambda: execution.mid("BTC-USDT") is not None, 30, "the feed's books")
    oms = execution.oms
    await wait_until(
        lambda: any(o.bot_id == "eager" and o.status == "filled" for o in oms.orders(100)),
        60,
        "a bot's order filled (candles from the feed, the order to the executor)",
    )
    ack = await ui.execute(SubmitOrder(request=_market("0.01")))
    assert ack.accepted, ack.reason
    ack = await ui.execute(PauseBot(bot_id="eager"))  # answered by the bots process
    assert ack.accepted, ack.reason
    for role in (feed, executor, bots):
        link = role.redis_link
        assert link.errors == 0 and link.publisher.errors == 0, (
            link.last_error,
            link.publisher.last_error,
        )
        assert link.receiver is None or link.receiver.errors == 0, link.receiver.last_error
