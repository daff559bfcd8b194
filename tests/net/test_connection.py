"""The connection layer against a tiny local WebSocket server: reconnects, keepalive, watchdog.

Every test waits on conditions (``wait_until``) with generous timeouts; the short intervals only
make the tests quick, nothing asserts how long anything took.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from desk.core.bus import Bus
from desk.core.enums import ConnectionState
from desk.core.events import BookChanged
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed
from desk.net.config import ReconnectConfig
from desk.net.connection import Backoff, WsConnection
from tests.waiting import wait_until

FAST = ReconnectConfig(initial_delay=0.01, max_delay=1.0, multiplier=2.0, jitter=0.0)


class Server:
    """A local WebSocket server whose behaviour each test sets; it records what it receives."""

    def __init__(self) -> None:
        self.sessions: list[list[str]] = []
        self.close_codes: list[int | None] = []
        self.answer_pings = True
        self.close_first: int = 0  # close this many connections right after they open
        self.close_code = 4004
        self.greeting: str | None = None
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        received: list[str] = []
        self.sessions.append(received)
        try:
            if len(self.sessions) <= self.close_first:
                await ws.close(self.close_code, "no data in 30s")
                return
            if self.greeting is not None:
                await ws.send(self.greeting)
            async for message in ws:
                assert isinstance(message, str)
                received.append(message)
                if message == "ping" and self.answer_pings:
                    await ws.send("pong")
        except ConnectionClosed:
            pass
        finally:
            self.close_codes.append(ws.close_code)

    def pings(self, session: int = 0) -> int:
        if session >= len(self.sessions):
            return 0
        return self.sessions[session].count("ping")


@asynccontextmanager
async def running(server: Server) -> AsyncIterator[Server]:
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        server.url = f"ws://127.0.0.1:{port}"
        yield server


class Recorder:
    """Collects what a connection reports."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes | str, int]] = []
        self.states: list[tuple[ConnectionState, str]] = []
        self.delays: list[float] = []
        self.conn: WsConnection | None = None

    def on_message(self, raw: bytes | str, recv_ns: int) -> None:
        self.messages.append((raw, recv_ns))

    def on_state(self, state: ConnectionState, reason: str) -> None:
        self.states.append((state, reason))
        if state is ConnectionState.DISCONNECTED and self.conn is not None:
            self.delays.append(self.conn.last_delay)

    def reasons(self, state: ConnectionState = ConnectionState.DISCONNECTED) -> list[str]:
        return [reason for s, reason in self.states if s is state]


def connection(url: str, recorder: Recorder, **kwargs: object) -> WsConnection:
    options: dict[str, object] = {
        "ping_interval": 5.0,
        "pong_timeout": 5.0,
        "watchdog_timeout": 10.0,
        "reconnect": FAST,
        "healthy_after": 60.0,
        "rng": random.Random(1),
        "proxy": None,
    }
    options.update(kwargs)
    conn = WsConnection(
        url,
        recorder.on_message,
        on_state=recorder.on_state,
        **options,  # type: ignore[arg-type]
    )
    recorder.conn = conn
    return conn


# --- backoff ---------------------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(ReconnectConfig(initial_delay=0.5, max_delay=4.0, jitter=0.0))
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_backoff_jitter_is_seeded_and_never_exceeds_the_delay() -> None:
    config = ReconnectConfig(initial_delay=1.0, max_delay=8.0, jitter=0.25)
    first = [Backoff(config, random.Random(7)).next() for _ in range(3)]
    a, b = Backoff(config, random.Random(7)), Backoff(config, random.Random(7))
    delays = [a.next() for _ in range(6)]
    assert delays == [b.next() for _ in range(6)], "same seed, same delays"
    for delay, base in zip(delays, [1.0, 2.0, 4.0, 8.0, 8.0, 8.0], strict=True):
        assert 0.75 * base <= delay <= base
    assert len(set(first)) == 1


# --- connection life -----------------------------------------------------------------------------


async def test_reconnects_with_growing_backoff_while_the_server_keeps_closing() -> None:
    async with running(Server()) as server:
        server.close_first = 3
        recorder = Recorder()
        conn = connection(server.url, recorder)
        await conn.start()
        try:
            await wait_until(lambda: conn.connects == 4 and conn.connected, what="4th connect")
            assert recorder.delays == [0.01, 0.02, 0.04]
            assert all("code 4004" in r for r in recorder.reasons()), recorder.reasons()
            assert conn.last_close_code == 4004
        finally:
            await conn.stop()


async def test_backoff_starts_over_after_a_healthy_connection() -> None:
    async with running(Server()) as server:
        server.close_first = 2
        recorder = Recorder()
        conn = connection(server.url, recorder, healthy_after=0.0)
        await conn.start()
        try:
            await wait_until(lambda: conn.connects == 3 and conn.connected, what="3rd connect")
            assert recorder.delays == [0.01, 0.01], "each connection counted as healthy"
        finally:
            await conn.stop()


async def test_on_open_resubscribes_after_every_reconnect() -> None:
    async with running(Server()) as server:
        recorder = Recorder()

        async def subscribe(c: WsConnection) -> None:
            await c.send('{"op":"subscribe"}')

        conn = connection(server.url, recorder, on_open=subscribe)
        await conn.start()
        try:
            await wait_until(lambda: server.sessions and server.sessions[0], what="subscribe")
            conn.request_reconnect("test")
            await wait_until(lambda: len(server.sessions) == 2 and server.sessions[1], what="2nd")
            assert server.sessions[0] == ['{"op":"subscribe"}']
            assert server.sessions[1] == ['{"op":"subscribe"}']
            assert recorder.delays == [0.0], "a requested reconnect does not wait"
        finally:
            await conn.stop()


async def test_messages_arrive_as_bytes_with_a_receive_time() -> None:
    async with running(Server()) as server:
        server.greeting = '{"event":"hello"}'
        recorder = Recorder()
        conn = connection(server.url, recorder)
        await conn.start()
        try:
            await wait_until(lambda: recorder.messages, what="the greeting")
            raw, recv_ns = recorder.messages[0]
            assert raw == b'{"event":"hello"}'
            assert recv_ns > 1_600_000_000 * 10**9
        finally:
            await conn.stop()


async def test_text_ping_is_sent_on_silence_and_pong_keeps_the_connection() -> None:
    async with running(Server()) as server:
        recorder = Recorder()
        conn = connection(server.url, recorder, ping_interval=0.05, pong_timeout=5.0)
        await conn.start()
        try:
            await wait_until(lambda: server.pings() >= 3, what="three pings")
            assert conn.connects == 1 and conn.drops == 0
            assert set(server.sessions[0]) == {"ping"}, "the bare text ping, nothing else"
            assert b"pong" in [raw for raw, _ in recorder.messages]
        finally:
            await conn.stop()


async def test_missing_pong_drops_the_connection_and_reconnects() -> None:
    async with running(Server()) as server:
        server.answer_pings = False
        recorder = Recorder()
        conn = connection(server.url, recorder, ping_interval=0.05, pong_timeout=0.1)
        await conn.start()
        try:
            await wait_until(lambda: conn.connects >= 2, what="a reconnect")
            assert "no pong" in recorder.reasons()[0]
        finally:
            await conn.stop()


async def test_watchdog_reconnects_after_silence() -> None:
    async with running(Server()) as server:
        recorder = Recorder()
        conn = connection(server.url, recorder, ping_interval=5.0, watchdog_timeout=0.1)
        await conn.start()
        try:
            await wait_until(lambda: conn.connects >= 2, what="a watchdog reconnect")
            assert "watchdog" in recorder.reasons()[0]
            assert server.pings() == 0
        finally:
            await conn.stop()


async def test_stop_closes_with_1000_and_ends_stopped() -> None:
    async with running(Server()) as server:
        recorder = Recorder()
        conn = connection(server.url, recorder)
        await conn.start()
        await conn.wait_connected(20)
        await conn.stop()
        await wait_until(lambda: server.close_codes, what="the server to see the close")
        assert server.close_codes == [1000]
        assert conn.state is ConnectionState.STOPPED
        assert recorder.states[-1][0] is ConnectionState.STOPPED
        assert conn.drops == 0


async def test_connect_failures_are_reported_and_retried() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    recorder = Recorder()
    conn = connection(f"ws://127.0.0.1:{port}", recorder)
    await conn.start()
    try:
        await wait_until(lambda: conn.drops >= 2, what="two failed attempts")
        assert "connect failed" in recorder.reasons()[0]
        assert recorder.delays[:2] == [0.01, 0.02]
    finally:
        await conn.stop()
    assert conn.state is ConnectionState.STOPPED


# --- the OKX feed over a socket ------------------------------------------------------------------


def _now_ms() -> str:
    """An exchange time of now: the feed refuses times far from its clock."""
    return str(time.time_ns() // 1_000_000)


def _snapshot(symbol: str, seq: int) -> str:
    data = {
        "asks": [["101", "1", "0", "1"]],
        "bids": [["100", "1", "0", "1"]],
        "ts": _now_ms(),
        "checksum": 0,
        "prevSeqId": -1,
        "seqId": seq,
    }
    arg = {"channel": "books", "instId": symbol}
    return json.dumps({"arg": arg, "action": "snapshot", "data": [data]})


def _update(symbol: str, prev: int, seq: int) -> str:
    data = {"asks": [], "bids": [["99", "2", "0", "1"]], "ts": _now_ms(), "checksum": 0}
    arg = {"channel": "books", "instId": symbol}
    data |= {"prevSeqId": prev, "seqId": seq}
    return json.dumps({"arg": arg, "action": "update", "data": [data]})


class OkxServer:
    """Just enough of OKX /ws/v5/public: acks, a books snapshot per subscribe, pong."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, object]]] = []
        self.snapshots = 0
        self.after_subscribe: list[str] = []  # frames sent once, after the first subscribe
        self.close_first = False

    async def handler(self, ws: ServerConnection) -> None:
        session: list[dict[str, object]] = []
        self.requests.append(session)
        async for message in ws:
            if message == "ping":
                await ws.send("pong")
                continue
            request = json.loads(message)
            session.append(request)
            for arg in request["args"]:
                await ws.send(json.dumps({"event": request["op"], "arg": arg, "connId": "c1"}))
                if request["op"] == "subscribe" and arg["channel"] == "books":
                    self.snapshots += 1
                    await ws.send(_snapshot(arg["instId"], 10 * self.snapshots))
            for frame in self.after_subscribe:
                await ws.send(frame)
            self.after_subscribe = []
            if self.close_first and len(self.requests) == 1:
                await ws.close(1012, "restart")


@asynccontextmanager
async def okx_feed(server: OkxServer) -> AsyncIterator[tuple[OkxFeed, list[BookChanged]]]:
    async with serve(server.handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        config = OkxConfig(ws_public_url=f"ws://127.0.0.1:{port}", reconnect=FAST)
        bus = Bus()
        changes: list[BookChanged] = []
        bus.subscribe("market_data:*", lambda e: changes.append(e) if type(e) is BookChanged else 0)
        feed = OkxFeed(config, ("BTC-USDT", "ETH-USDT"), ("books",), bus, rng=random.Random(2))
        feed.connection._connect_kwargs["proxy"] = None
        await feed.start()
        try:
            yield feed, changes
        finally:
            await feed.stop()


async def test_okx_feed_resubscribes_and_rebuilds_books_after_a_reconnect() -> None:
    server = OkxServer()
    server.close_first = True
    async with okx_feed(server) as (feed, changes):
        await wait_until(lambda: feed.counters.reconnects == 1, what="a reconnect")
        await feed.wait_ready(20)
        assert [len(s) for s in server.requests] == [1, 1], "one subscribe per connection"
        assert {(a["channel"], a["instId"]) for a in server.requests[1][0]["args"]} == {
            ("books", "BTC-USDT"),
            ("books", "ETH-USDT"),
        }
        assert {feed.books[s].seq_id for s in ("BTC-USDT", "ETH-USDT")} == {30, 40}
        assert feed.state is ConnectionState.CONNECTED
        assert sum(1 for c in changes if c.snapshot) == 4


async def test_okx_feed_gap_resubscribes_one_book_on_the_same_connection() -> None:
    server = OkxServer()
    server.after_subscribe = [_update("BTC-USDT", 999, 1000)]
    async with okx_feed(server) as (feed, _):
        await wait_until(lambda: feed.counters.gaps == 1, what="the gap")
        await wait_until(lambda: len(server.requests[0]) == 3, what="unsubscribe + subscribe")
        ops = [(r["op"], [a["instId"] for a in r["args"]]) for r in server.requests[0]]
        assert ops[1:] == [("unsubscribe", ["BTC-USDT"]), ("subscribe", ["BTC-USDT"])]
        await feed.wait_ready(20)
        assert feed.books["BTC-USDT"].seq_id == 30, "fresh snapshot after the resync"
        assert feed.books["ETH-USDT"].seq_id == 20, "ETH untouched"
        assert feed.counters.reconnects == 0 and len(server.requests) == 1
