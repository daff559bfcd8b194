"""The gateway of a real engine on the simulator, used by a real ``websockets`` client.

Each route streams messages of the documented schema (decoded with the gateway's own Structs);
the token is required when set; a client that never reads is cut off while a fast one keeps
receiving and the engine keeps processing its feed; the gateway refuses to listen beyond
loopback without a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import aiohttp
import msgspec
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from desk.engine.engine import Engine
from desk.gateway.auth import GatewayRefused
from desk.gateway.messages import (
    AnyMessage,
    BotStatus,
    Health,
    Market,
    Portfolio,
    SystemEvents,
    message_schema,
)
from tests.gateway.support import (
    TIMEOUT,
    allowed,
    gateway_config,
    of,
    receive_until,
    running,
    ws_url,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio

TOKEN = "gateway-test-token-0123456789abcdef"


async def test_every_route_streams_its_documented_messages(tmp_path: Path) -> None:
    async with running(gateway_config(tmp_path / "desk.sqlite", {"market_hz": 20})) as engine:
        async with websockets.connect(ws_url(engine, "/ws/market/BTC-USDT?depth=5")) as ws:
            got = await receive_until(
                ws,
                lambda ms: (
                    sum(len(m.trades) for m in of(Market, ms)) >= 3
                    and any(m.book and m.book.bids for m in of(Market, ms))
                ),
                "market messages with trades and a book",
            )
        allowed("/ws/market/{symbol}", got)
        assert got[0].route == "/ws/market/BTC-USDT" and got[0].rate_hz == 20
        markets = of(Market, got)
        assert {(m.symbol, m.venue) for m in markets} == {("BTC-USDT", "okx")}
        book = next(m.book for m in reversed(markets) if m.book and m.book.bids and m.book.asks)
        assert len(book.bids) <= 5 and len(book.asks) <= 5
        assert book.bids[0].price < book.asks[0].price
        assert [b.price for b in book.bids] == sorted((b.price for b in book.bids), reverse=True)
        trades = [t for m in markets for t in m.trades]
        assert all(t.side in ("buy", "sell") and t.size > 0 for t in trades)
        ids = [t.trade_id for t in trades]
        assert len(ids) == len(set(ids))  # batched, never sent twice

        async with websockets.connect(ws_url(engine, "/ws/bot/fast/status")) as ws:
            got = await receive_until(
                ws,
                lambda ms: any(m.signals for m in of(BotStatus, ms)),
                "a bot status with a signal",
            )
        allowed("/ws/bot/{bot_id}/status", got)
        status = of(BotStatus, got)[-1]
        assert (status.bot.bot_id, status.bot.state, status.bot.mode) == ("fast", "running", "auto")
        signal = next(s for m in of(BotStatus, got) for s in m.signals)
        assert signal.direction and signal.fate

        async with websockets.connect(ws_url(engine, "/ws/portfolio/all")) as ws:
            got = await receive_until(
                ws,
                lambda ms: any(m.fills for m in of(Portfolio, ms)),
                "a portfolio message with a fill",
            )
        allowed("/ws/portfolio/all", got)
        portfolio = of(Portfolio, got)[-1]
        assert portfolio.scope == "all" and portfolio.pnl.equity is not None
        fill = next(f for m in of(Portfolio, got) for f in m.fills)
        assert fill.bot_id == "fast" and fill.symbol == "BTC-USDT"

        async with websockets.connect(ws_url(engine, "/ws/portfolio/fast")) as ws:
            got = await receive_until(ws, lambda ms: len(of(Portfolio, ms)) >= 1, "a portfolio")
        allowed("/ws/portfolio/{bot_id}", got)
        mine = of(Portfolio, got)[0]
        assert mine.scope == "fast" and mine.pnl.equity is None
        assert {p.bot_id for p in mine.positions} <= {"fast"}

        async with websockets.connect(ws_url(engine, "/ws/system")) as ws:
            got = await receive_until(
                ws, lambda ms: len(of(Health, ms)) >= 2, "two health messages"
            )
        allowed("/ws/system", got)
        health = of(Health, got)[-1]
        assert health.mode == "sim"
        assert health.connections and {c.state for c in health.connections} == {"connected"}
        events = [e for m in of(SystemEvents, got) for e in m.events]
        assert ("gateway", "started") in {(e.source, e.kind) for e in events}

        for route in (
            "/ws/market/DOGE-USDT",
            "/ws/market/BTC-USDT?venue=kraken",
            "/ws/market/BTC-USDT?venue=binance",  # not enabled in this desk
            "/ws/bot/ghost/status",
            "/ws/portfolio/ghost",
        ):
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(ws_url(engine, route))
            assert refused.value.response.status_code == 404
        for depth in ("0", "401", "ten"):
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(ws_url(engine, f"/ws/market/BTC-USDT?depth={depth}"))
            assert refused.value.response.status_code == 400
        async with (
            aiohttp.ClientSession() as session,
            session.get(engine.gateway.url + "/schema") as response,
        ):
            assert await response.json() == msgspec.json.decode(
                msgspec.json.encode(message_schema())
            )


async def test_each_venue_has_its_own_market_stream(tmp_path: Path) -> None:
    """With Binance beside OKX, ``?venue=binance`` streams Binance's book and trades only, and
    the default stream keeps OKX's alone (both venues publish BTC-USDT on the same topic)."""
    config = gateway_config(tmp_path / "desk.sqlite", {"market_hz": 20}, bots=False)
    config = msgspec.structs.replace(
        config,
        exchanges=msgspec.structs.replace(
            config.exchanges,
            binance=msgspec.structs.replace(config.exchanges.binance, enabled=True),
        ),
    )
    streams: dict[str, list[Market]] = {}
    async with running(config) as engine:
        for venue, query in (("binance", "?venue=binance&depth=5"), ("okx", "?depth=5")):
            async with websockets.connect(ws_url(engine, f"/ws/market/BTC-USDT{query}")) as ws:
                got = await receive_until(
                    ws,
                    lambda ms: (
                        sum(len(m.trades) for m in of(Market, ms)) >= 3
                        and any(m.book and m.book.bids for m in of(Market, ms))
                    ),
                    f"{venue} market messages with trades and a book",
                )
            streams[venue] = of(Market, got)
    for venue, markets in streams.items():
        assert {m.venue for m in markets} == {venue}
    ids = {v: {t.trade_id for m in ms for t in m.trades} for v, ms in streams.items()}
    assert ids["binance"] and ids["okx"] and not ids["binance"] & ids["okx"]
    tops = {
        v: next(m.book for m in reversed(ms) if m.book and m.book.bids) for v, ms in streams.items()
    }
    assert tops["binance"].bids[0].price != tops["okx"].bids[0].price  # two books, not one


async def test_the_token_is_required_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_TEST_GATEWAY_TOKEN", TOKEN)
    config = gateway_config(
        tmp_path / "desk.sqlite", {"token_env": "DESK_TEST_GATEWAY_TOKEN", "max_clients": 1}
    )
    async with running(config) as engine:
        url = ws_url(engine, "/ws/system")
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789abc"}):
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(url, additional_headers=headers)
            assert refused.value.response.status_code == 401
        good = {"Authorization": f"Bearer {TOKEN}"}
        async with websockets.connect(url, additional_headers=good) as ws:
            got = await receive_until(ws, lambda ms: len(ms) >= 2, "hello and health")
            allowed("/ws/system", got)
            with pytest.raises(InvalidStatus) as full:  # max_clients: 1
                await websockets.connect(url, additional_headers=good)
            assert full.value.response.status_code == 503
        async with aiohttp.ClientSession() as session:
            async with session.get(engine.gateway.url + "/metrics") as response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
            async with session.get(engine.gateway.url + "/metrics", headers=good) as response:
                assert response.status == 200
                assert "desk_feed_messages_total" in await response.text()
        assert engine.gateway.stats.refused["unauthorized"] == 3
        assert engine.gateway.stats.refused["full"] == 1


async def test_a_client_that_never_reads_is_cut_off_and_nothing_else_slows(
    tmp_path: Path,
) -> None:
    config = gateway_config(
        tmp_path / "desk.sqlite", {"market_hz": 50, "client_queue": 8}, bots=False
    )
    async with running(config) as engine:
        gateway = engine.gateway
        fast_got = 0

        async def read_fast(ws: ClientConnection) -> None:
            nonlocal fast_got
            async for frame in ws:
                msgspec.json.decode(frame, type=AnyMessage)
                fast_got += 1

        async with websockets.connect(ws_url(engine, "/ws/market/BTC-USDT")) as fast:
            reader = asyncio.create_task(read_fast(fast))
            # The slow client: a tiny receive buffer, one message of queue, and never reads.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", gateway.port))
            slow = await websockets.connect(
                ws_url(engine, "/ws/market/BTC-USDT?depth=400"), sock=sock, max_queue=1
            )
            try:
                await wait_until(lambda: len(gateway.clients) == 2, TIMEOUT, "both clients")
                await wait_until(
                    lambda: gateway.stats.closed["slow"] == 1, TIMEOUT, "the slow client cut off"
                )
                await wait_until(  # its connection closed (code 4008, or cut after a grace)
                    lambda: len(gateway.clients) == 1, TIMEOUT, "the slow client's connection gone"
                )
                counters = engine.feeds.feeds[0].counters
                fast_before, feed_before = fast_got, counters.messages
                await wait_until(
                    lambda: fast_got >= fast_before + 20, TIMEOUT, "the fast client to go on"
                )
                await wait_until(
                    lambda: counters.messages >= feed_before + 200,
                    TIMEOUT,
                    "the engine to go on reading its feed",
                )
                assert engine.loop_lag.percentile_ms(0.99) < 2000  # sanity, not a timing test
                assert not reader.done()
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                slow.transport.abort()


async def test_it_will_not_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    engine = Engine(gateway_config(tmp_path / "desk.sqlite", {"host": "0.0.0.0"}))
    with pytest.raises(GatewayRefused, match=r"\$\.gateway\.host: .*DESK_TEST_NO_TOKEN"):
        await engine.start()
    assert engine.simulator is None and engine.feeds is None  # refused before anything ran


async def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        engine = Engine(gateway_config(tmp_path / "desk.sqlite", {"port": port}))
        with pytest.raises(GatewayRefused, match=rf"\$\.gateway\.port: cannot listen .*{port}"):
            await engine.start()
        assert engine.simulator is None
