"""The lean Redis connection: replies in order, pub/sub pushed at once, failures never hang."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from desk.bridge.keys import RedisKeys
from desk.bridge.redis_publisher import make_client
from desk.bridge.resp import (
    ConnectParams,
    RespConnection,
    first_error,
    pack,
    params_of,
    parse,
    replies,
    stream_entries,
)
from tests.bridge import redis_fixtures
from tests.bridge.redis_fixtures import RedisServer, free_port, shared_url

redis_client = redis_fixtures.redis_client
keys = redis_fixtures.keys


async def open_shared(**kwargs: object) -> RespConnection:
    return await RespConnection.open(*params_of(make_client(shared_url())), **kwargs)  # type: ignore[arg-type]


def test_every_reply_kind_parses_whole_and_waits_when_cut_short() -> None:
    wire = (
        b"+OK\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n-ERR wrong\r\n"
        b"*2\r\n*2\r\n$1\r\na\r\n:1\r\n$0\r\n\r\n"
    )
    values, pos = [], 0
    while pos < len(wire):
        value, pos = parse(wire, pos)
        values.append(value)
    assert values[:5] == [b"OK", 42, b"hello", None, None]
    assert isinstance(values[5], ResponseError) and str(values[5]) == "ERR wrong"
    assert values[6] == [[b"a", 1], b""]
    for cut in range(1, len(wire)):  # every prefix either parses or asks for more, never lies
        try:
            parse(wire[:cut], 0)
        except Exception as exc:
            assert type(exc).__name__ == "_Incomplete"


class _Wire(asyncio.Transport):
    """A transport that keeps what is written (the replies are fed by hand)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


async def test_replies_cut_anywhere_across_reads_come_out_whole_and_as_bytes() -> None:
    replies_wire = (
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*4\r\n$4\r\nbody\r\n"
        b"$5\r\nhe\r\no\r\n$3\r\nsig\r\n$-1\r\n:7\r\n+OK\r\n"
    )
    pushed: list[list[object]] = []
    push = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nabc\r\n"
    for step in (1, 2, 3, 7, len(replies_wire) + len(push)):
        conn = RespConnection(on_push=pushed.append)
        conn.connection_made(_Wire())
        futures = conn.send_many([("XREAD",), ("INCR", "k"), ("PING",)], timeout_s=0)
        cut = replies_wire.index(b":7")
        wire = replies_wire[:cut] + push + replies_wire[cut:]  # a push between two replies
        for at in range(0, len(wire), step):
            conn.data_received(wire[at : at + step])
        entry_reply, count, ok = await replies(futures)
        entries = stream_entries(entry_reply)
        assert entries == [(b"1-0", {b"body": b"he\r\no", b"sig": None})]
        assert all(type(value) is bytes for value in (entries[0][0], ok))
        assert (count, ok) == (7, b"OK")
        assert pushed.pop() == [b"message", b"ch", b"abc"] and not pushed
        assert conn.waiting == 0


def test_commands_pack_as_resp_arrays_of_bulk_strings() -> None:
    assert pack(("SET", b"k", 7, 1.5)) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n7\r\n$3\r\n1.5\r\n"


async def test_pipelined_commands_get_their_own_replies_in_order(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    conn = await open_shared()
    key = f"{keys.prefix}:n"
    try:
        futures = conn.send_many([("INCR", key)] * 50 + [("GET", key), ("HGET", key, "x")])
        results = await replies(futures)
        assert results[:50] == list(range(1, 51)) and results[50] == b"50"
        assert isinstance(results[51], ResponseError)  # WRONGTYPE, returned in its place
        assert first_error(results) is results[51]
        with pytest.raises(ResponseError):
            await conn.call("HGET", key, "x")
        assert await conn.call("PING") == b"PONG"  # still in step after the errors
    finally:
        conn.close()


async def test_a_multi_is_one_write_and_an_error_inside_its_exec_is_found(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    conn = await open_shared()
    key = f"{keys.prefix}:m"
    try:
        batch = [("MULTI",), ("SET", key, "v"), ("HGET", key, "x"), ("EXEC",)]
        results = await replies(conn.send_many(batch))
        assert results[:3] == [b"OK", b"QUEUED", b"QUEUED"]
        assert results[3][0] == b"OK" and isinstance(first_error(results), ResponseError)
        assert await redis_client.get(key) == b"v"
    finally:
        conn.close()


async def test_pubsub_messages_reach_the_callback_as_they_are_parsed(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    pushed: list[list[object]] = []
    arrived = asyncio.Event()

    def on_push(message: list[object]) -> None:
        pushed.append(message)
        arrived.set()

    conn = await open_shared(on_push=on_push)
    try:
        await conn.call("PSUBSCRIBE", f"{keys.prefix}:bus:*")
        await redis_client.publish(f"{keys.prefix}:bus:a", b"\x00payload")
        await asyncio.wait_for(arrived.wait(), 5)
        assert pushed == [
            [b"pmessage", f"{keys.prefix}:bus:*".encode(), f"{keys.prefix}:bus:a".encode(),
             b"\x00payload"]
        ]  # fmt: skip
    finally:
        conn.close()


async def test_a_blocking_read_is_answered_the_moment_an_entry_is_added(
    redis_client: aioredis.Redis, keys: RedisKeys
) -> None:
    conn = await open_shared()
    stream = f"{keys.prefix}:s"
    try:
        read = conn.send("XREAD", "BLOCK", 5000, "STREAMS", stream, "$", timeout_s=10)
        assert read is not None
        await asyncio.sleep(0.05)
        assert not read.done()  # parked on the server
        entry_id = await redis_client.xadd(stream, {"f": b"v"})
        assert stream_entries(await asyncio.wait_for(read, 5)) == [(entry_id, {b"f": b"v"})]
    finally:
        conn.close()


async def test_nobody_listening_is_a_redis_connection_error() -> None:
    with pytest.raises(RedisConnectionError):
        await RespConnection.open(ConnectParams(port=free_port(), connect_timeout_s=1.0))


async def test_a_lost_connection_fails_every_waiting_reply_and_says_it_closed(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        conn = await RespConnection.open(*params_of(make_client(server.url)))
        waiting = conn.send("BLPOP", "nothing", 10, timeout_s=20)
        server.kill()
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(waiting, 10)  # type: ignore[arg-type]
        await asyncio.wait_for(conn.closed, 5)
        assert not conn.connected
        with pytest.raises(RedisConnectionError):
            conn.send("PING")
    finally:
        server.kill()


async def test_a_reply_later_than_its_deadline_closes_the_connection(keys: RedisKeys) -> None:
    conn = await open_shared()
    try:
        late = conn.send("BLPOP", f"{keys.prefix}:never", 5, timeout_s=0.1)
        behind = conn.send("PING")
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(late, 5)  # type: ignore[arg-type]
        with pytest.raises(RedisTimeoutError):  # replies after it can no longer be matched
            await asyncio.wait_for(behind, 5)  # type: ignore[arg-type]
        assert not conn.connected
    finally:
        conn.close()


async def test_a_password_and_database_from_the_url_are_used(tmp_path: Path) -> None:
    aclfile = tmp_path / "users.acl"
    aclfile.write_text(
        "user default on nopass ~* &* +@all\nuser desk on >s3cret-pass ~* &* +@all\n"
    )
    server = RedisServer(tmp_path, extra_args=["--aclfile", str(aclfile)])
    server.start()
    try:
        url = f"redis://desk:s3cret-pass@127.0.0.1:{server.port}/3"
        conn = await RespConnection.open(*params_of(make_client(url)))
        await conn.call("SET", "k", "in-db-3")
        conn.close()
        check = aioredis.Redis.from_url(url)
        assert await check.get("k") == b"in-db-3"
        await check.aclose()
        with pytest.raises(ResponseError):
            wrong = f"redis://desk:wrong@127.0.0.1:{server.port}/0"
            await RespConnection.open(*params_of(make_client(wrong)))
    finally:
        server.kill()
