"""Slow clients never slow the engine: a client's queue is bounded, and one that falls behind
is closed with code 4008 and counted while the others keep receiving."""

from __future__ import annotations

import asyncio

import pytest

from desk.gateway import clients
from desk.gateway.clients import CLOSE_SLOW, Client, GatewayStats, Stream
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio


class FakeSocket:
    """A WebSocketResponse stand-in: ``blocked`` models a peer that stopped reading."""

    def __init__(self, *, blocked: bool = False, close_hangs: bool = False) -> None:
        self.blocked = blocked
        self.close_hangs = close_hangs
        self.frames: list[bytes] = []
        self.closed_with: tuple[int, bytes] | None = None
        self._never = asyncio.Event()

    async def send_frame(self, frame: bytes, opcode: object) -> None:
        if self.blocked:
            await self._never.wait()
        self.frames.append(frame)

    async def close(self, *, code: int, message: bytes) -> bool:
        self.closed_with = (code, message)
        if self.close_hangs:
            await self._never.wait()
        return True


def _client(ws: FakeSocket, stats: GatewayStats, limit: int = 3) -> tuple[Client, list[bool]]:
    aborted: list[bool] = []
    client = Client(ws, "/ws/test", limit, stats, lambda: aborted.append(True))  # type: ignore[arg-type]
    client.start()
    return client, aborted


async def test_a_client_that_falls_behind_is_closed_with_4008_and_counted() -> None:
    stats = GatewayStats()
    ws = FakeSocket(blocked=True)
    client, aborted = _client(ws, stats, limit=3)
    assert client.offer(b"first")  # taken by the sender, which then waits on the socket
    await wait_until(lambda: client.depth == 0, 10, "the sender to take the first frame")
    assert all(client.offer(b"queued") for _ in range(3))
    assert not client.offer(b"one too many")  # the queue is full: the client is cut off
    assert client.closed_reason == "slow"
    assert stats.closed["slow"] == 1
    assert client.depth == 0  # what was queued for it is dropped at once
    await wait_until(lambda: ws.closed_with is not None, 10, "the close frame")
    assert ws.closed_with[0] == CLOSE_SLOW
    assert b"slow consumer" in ws.closed_with[1]
    assert not client.offer(b"later")  # nothing more is queued for a closed client
    await client.finish()
    assert aborted == [True]  # then cut: its socket may still hold frames it never read


async def test_a_client_that_will_not_take_the_close_is_cut_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clients, "CLOSE_GRACE_S", 0.05)
    stats = GatewayStats()
    ws = FakeSocket(blocked=True, close_hangs=True)
    client, aborted = _client(ws, stats, limit=1)
    client.offer(b"a")
    await wait_until(lambda: client.depth == 0, 10, "the sender to take the first frame")
    client.offer(b"b")
    client.offer(b"c")
    await wait_until(lambda: aborted == [True], 10, "the connection to be aborted")
    await client.finish()


async def test_the_stream_keeps_serving_fast_clients_after_dropping_a_slow_one() -> None:
    stats = GatewayStats()
    stream = Stream()
    fast_ws, slow_ws = FakeSocket(), FakeSocket(blocked=True)
    fast, _ = _client(fast_ws, stats, limit=4)
    slow, _ = _client(slow_ws, stats, limit=4)
    stream.add(fast)
    stream.add(slow)
    for n in range(50):
        stream.broadcast(b"%d" % n)
        await asyncio.sleep(0)  # the loop turns, as it does between two market messages
    assert slow not in stream.clients and fast in stream.clients
    assert stats.closed["slow"] == 1
    await wait_until(lambda: len(fast_ws.frames) == 50, 10, "every frame at the fast client")
    assert fast_ws.frames == [b"%d" % n for n in range(50)]
    for client in (fast, slow):
        stream.remove(client)
        await client.finish()
    assert not stream.active
