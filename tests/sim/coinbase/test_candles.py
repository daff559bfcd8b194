"""``GET .../market/products/{id}/candles`` of the simulated Coinbase: Coinbase's shape, its
350-candle limit and errors, bars of the venue's own market, and desk's client."""

from __future__ import annotations

import time
from decimal import Decimal
from itertools import pairwise
from typing import Any

import aiohttp
import pytest

from desk.feeds.coinbase.rest import CoinbaseApiError, CoinbaseRestClient
from desk.sim.coinbase.candles import GRANULARITIES
from desk.sim.coinbase.simulator import CoinbaseSimulator
from desk.sim.okx.simulator import OkxSimulator
from tests.sim.coinbase.client import BTC, ETH, config, products

PATH = "/api/v3/brokerage/market/products/{}/candles"


async def candles(sim: CoinbaseSimulator, product: str, **params: str) -> tuple[int, Any]:
    url = sim.rest_url + PATH.format(product)
    async with aiohttp.ClientSession() as http, http.get(url, params=params) as reply:
        return reply.status, await reply.json()


def window(count: int, seconds: int = 60, now_s: int | None = None) -> dict[str, str]:
    """The latest ``count`` bars of ``seconds`` at ``now_s`` (now), the forming one included."""
    end = ((int(time.time()) if now_s is None else now_s) // seconds + 1) * seconds
    return {"start": str(end - count * seconds), "end": str(end)}


async def test_candles_are_coinbases_newest_first_with_the_forming_bar(
    coinbase: CoinbaseSimulator,
) -> None:
    now_s = coinbase.now_ms() // 1000
    status, body = await candles(coinbase, BTC, granularity="ONE_MINUTE", **window(350, 60, now_s))
    assert status == 200
    rows = body["candles"]
    assert len(rows) == 350, "24 h of simulated past: the whole range"
    for row in rows:
        assert set(row) == {"start", "low", "high", "open", "close", "volume"}
        assert all(isinstance(v, str) for v in row.values())
        o, c = Decimal(row["open"]), Decimal(row["close"])
        assert Decimal(row["low"]) <= min(o, c) <= max(o, c) <= Decimal(row["high"])
    starts = [int(r["start"]) for r in rows]
    assert all(a - b == 60 for a, b in pairwise(starts)), "newest first, no hole"
    assert starts[0] == now_s // 60 * 60, "the first is the bar forming when asked"


@pytest.mark.parametrize("granularity", list(GRANULARITIES))
async def test_every_granularity_is_served_on_utc_boundaries(
    coinbase: CoinbaseSimulator, granularity: str
) -> None:
    seconds = GRANULARITIES[granularity][1]
    status, body = await candles(coinbase, ETH, granularity=granularity, **window(3, seconds))
    assert status == 200 and 1 <= len(body["candles"]) <= 3
    assert all(int(r["start"]) % seconds == 0 for r in body["candles"])


async def test_the_range_and_limit_select_the_bars(coinbase: CoinbaseSimulator) -> None:
    latest = window(10)
    _, body = await candles(coinbase, BTC, granularity="ONE_MINUTE", **latest)
    starts = [int(r["start"]) for r in body["candles"]]
    assert starts == list(range(int(latest["end"]) - 60, int(latest["start"]) - 1, -60))
    _, body = await candles(coinbase, BTC, granularity="ONE_MINUTE", limit="3", **latest)
    assert [int(r["start"]) for r in body["candles"]] == starts[:3], "the newest of the range"
    older = {"start": str(int(latest["start"]) - 600), "end": latest["start"]}
    _, body = await candles(coinbase, BTC, granularity="ONE_MINUTE", **older)
    assert int(body["candles"][0]["start"]) == starts[-1] - 60, "pages join"


@pytest.mark.parametrize(
    ("product", "params", "status"),
    [
        ("DOGE-USD", {"granularity": "ONE_MINUTE", **window(5)}, 404),
        (BTC, {"granularity": "ONE_MINUTE", **window(351)}, 400),
        (BTC, {"granularity": "TWO_MINUTE", **window(5)}, 400),
        (BTC, {"granularity": "ONE_MINUTE"}, 400),
        (BTC, {"granularity": "ONE_MINUTE", "start": "20", "end": "10"}, 400),
        (BTC, {"granularity": "ONE_MINUTE", "limit": "351", **window(5)}, 400),
    ],
)
async def test_bad_requests_get_coinbase_errors(
    coinbase: CoinbaseSimulator, product: str, params: dict[str, str], status: int
) -> None:
    got, body = await candles(coinbase, product, **params)
    assert got == status
    assert body["error"] == ("NOT_FOUND" if status == 404 else "INVALID_ARGUMENT")
    if params.get("start") and int(params["end"]) - int(params["start"]) > 350 * 60:
        assert "350" in body["message"], "the error names the limit"


async def test_live_bars_are_the_venues_own_trades(paused: CoinbaseSimulator) -> None:
    for _ in range(200):
        paused.step_market(20)
        paused.publish()
        if paused.published_trades(BTC):
            break
    last = paused.published_trades(BTC)[-1]
    _, body = await candles(paused, BTC, granularity="ONE_MINUTE", **window(1))
    assert body["candles"][0]["close"] == last["price"], "closes at the last trade published"


async def test_history_follows_okxs_past_with_the_venues_own_deviation() -> None:
    async with (
        OkxSimulator(config()) as okx,
        CoinbaseSimulator(config(), products=products("BTC-USDT")) as coinbase,
    ):
        url = okx.rest_url + "/api/v5/market/candles"
        params = {"instId": "BTC-USDT", "bar": "1H", "limit": "24"}
        async with aiohttp.ClientSession() as http, http.get(url, params=params) as reply:
            okx_rows = {int(r[0]) // 1000: Decimal(r[4]) for r in (await reply.json())["data"]}
        _, body = await candles(coinbase, "BTC-USDT", granularity="ONE_HOUR", **window(24, 3600))
    ours = {int(r["start"]): Decimal(r["close"]) for r in body["candles"]}
    common = sorted(set(ours) & set(okx_rows))
    assert len(common) >= 20
    gaps = [abs(ours[t] / okx_rows[t] - 1) for t in common]
    assert max(gaps) < Decimal("0.003"), "the same past, a few basis points apart"
    assert any(g > Decimal("0.00001") for g in gaps), "not a copy: Coinbase deviates its own way"


async def test_desks_client_decodes_candles_and_raises_coinbase_errors(
    coinbase: CoinbaseSimulator,
) -> None:
    client = CoinbaseRestClient(coinbase.rest_url)
    try:
        latest = window(5, 300)
        start, end = int(latest["start"]), int(latest["end"])
        bars = await client.get_candles(BTC, "FIVE_MINUTE", start, end)
        assert [b.start_s for b in bars] == list(range(end - 300, start - 1, -300))
        assert Decimal(bars[0].high) >= Decimal(bars[0].low) and Decimal(bars[1].volume) >= 0
        with pytest.raises(CoinbaseApiError) as bad:
            await client.get_candles("DOGE-USD", "ONE_MINUTE", start, end)
        assert bad.value.status == 404
        with pytest.raises(ValueError, match="350"):
            await client.get_candles(BTC, "ONE_MINUTE", end - 351 * 60, end)
        with pytest.raises(ValueError, match="granularity"):
            await client.get_candles(BTC, "TWO_MINUTE", start, end)
    finally:
        await client.close()
