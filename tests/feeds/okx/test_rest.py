"""The OKX REST client against a local HTTP server serving recorded replies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from desk.feeds.okx.rest import OkxApiError, OkxRestClient
from tests.feeds.okx.samples import INSTRUMENTS, REST_BOOK


@asynccontextmanager
async def rest_server(routes: dict[str, tuple[int, bytes]]) -> AsyncIterator[tuple[str, list]]:
    seen: list[tuple[str, dict[str, str]]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.path, dict(request.query)))
        status, body = routes[request.path]
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_rest_book_snapshot_carries_its_seq_id() -> None:
    async with rest_server({"/api/v5/market/books": (200, REST_BOOK)}) as (url, seen):
        client = OkxRestClient(url)
        try:
            book = await client.get_book("BTC-USDT", 400)
        finally:
            await client.close()
    assert book.seq_id == 3008233640 and book.ts_ms == 1629966436396
    assert book.asks == [["41006.8", "0.60038921", "0", "1"]]
    assert book.bids == [["41006.3", "0.30178218", "0", "2"]]
    assert seen == [("/api/v5/market/books", {"instId": "BTC-USDT", "sz": "400"})]


async def test_rest_errors_raise_with_the_venue_code() -> None:
    error = b'{"code":"51001","msg":"Instrument ID does not exist","data":[]}'
    routes = {"/api/v5/market/books": (200, error), "/api/v5/public/time": (502, b"<html>")}
    async with rest_server(routes) as (url, _):
        client = OkxRestClient(url)
        try:
            with pytest.raises(OkxApiError) as caught:
                await client.get_book("NOPE-USDT")
            assert (caught.value.code, caught.value.msg) == (
                "51001",
                "Instrument ID does not exist",
            )
            with pytest.raises(OkxApiError, match="http-502"):
                await client.get_time()
        finally:
            await client.close()


async def test_rest_server_time() -> None:
    body = b'{"code":"0","msg":"","data":[{"ts":"1597026383085"}]}'
    async with rest_server({"/api/v5/public/time": (200, body)}) as (url, _):
        client = OkxRestClient(url)
        try:
            assert await client.get_time() == 1597026383085
        finally:
            await client.close()


async def test_rest_instruments_become_instrument_rules() -> None:
    routes = {"/api/v5/public/instruments": (200, INSTRUMENTS)}
    async with rest_server(routes) as (url, seen):
        client = OkxRestClient(url)
        try:
            (btc,) = await client.get_instruments("SPOT")
        finally:
            await client.close()
    assert (btc.venue, btc.symbol, btc.base, btc.quote) == ("okx", "BTC-USDT", "BTC", "USDT")
    assert (btc.tick_size, btc.lot_size, btc.min_size, btc.state) == (
        "0.1",
        "0.00000001",
        "0.00001",
        "live",
    )
    assert seen == [("/api/v5/public/instruments", {"instType": "SPOT"})]
