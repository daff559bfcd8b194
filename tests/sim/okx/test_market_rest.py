"""The simulator's market history: candles and trades over REST, candle channels from the bar's
start, and the simulated hours before start (seeded, ending where the live market starts)."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any

import aiohttp
import numpy as np
from websockets.asyncio.client import connect

from desk.sim.instruments import DEFAULT_INSTRUMENTS
from desk.sim.market import FlowParams
from desk.sim.okx.history import MAX_SECONDS, TRIM_CHUNK, BarHistory, generate_past
from desk.sim.okx.simulator import OkxSimulator
from tests.sim.okx.client import BTC, recv_until, subscribe

D = Decimal


async def get(sim: OkxSimulator, path: str, **params: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(sim.rest_url + path, params=params) as r:
        return await r.json()  # type: ignore[no-any-return]


async def test_candles_newest_first_with_history_before_start(paused: OkxSimulator) -> None:
    reply = await get(paused, "/api/v5/market/candles", instId=BTC, bar="1m", limit="300")
    rows = reply["data"]
    assert reply["code"] == "0" and len(rows) == 300, "24 h of simulated past: 1440 minutes"
    starts = [int(r[0]) for r in rows]
    assert starts == sorted(starts, reverse=True)
    assert all(b - a == -60_000 for a, b in pairwise(starts))
    assert [r[8] for r in rows[1:]] == ["1"] * 299 and rows[0][8] == "0"
    for row in rows:
        assert len(row) == 9 and all(isinstance(x, str) for x in row)
        o, h, lo, c = (D(x) for x in row[1:5])
        assert lo <= min(o, c) <= max(o, c) <= h and D(row[5]) >= 0
    last_close = D(rows[0][4])
    assert last_close == D(paused.market.spec(BTC).price), "the past ends at the live start"


async def test_history_candles_page_back_and_bars_aggregate(paused: OkxSimulator) -> None:
    first = (await get(paused, "/api/v5/market/candles", instId=BTC, bar="1m", limit="10"))["data"]
    oldest = first[-1][0]
    older = await get(
        paused, "/api/v5/market/history-candles", instId=BTC, bar="1m", after=oldest, limit="100"
    )
    rows = older["data"]
    assert len(rows) == 100 and int(rows[0][0]) == int(oldest) - 60_000
    newer = await get(
        paused, "/api/v5/market/history-candles", instId=BTC, bar="1m", before=rows[5][0]
    )
    assert [r[0] for r in newer["data"]][-5:] == [r[0] for r in rows[:5]]
    # a 5m bar is exactly its five 1m bars
    five = await get(
        paused, "/api/v5/market/history-candles", instId=BTC, bar="5m", after=oldest, limit="3"
    )
    bar = five["data"][1]
    start = int(bar[0])
    minutes = (
        await get(
            paused,
            "/api/v5/market/history-candles",
            instId=BTC,
            bar="1m",
            after=str(start + 300_000),
            limit="5",
        )
    )["data"][::-1]
    assert [int(m[0]) for m in minutes] == [start + 60_000 * i for i in range(5)]
    assert bar[1] == minutes[0][1] and bar[4] == minutes[-1][4]
    assert D(bar[2]) == max(D(m[2]) for m in minutes)
    assert D(bar[3]) == min(D(m[3]) for m in minutes)
    assert D(bar[5]) == sum(D(m[5]) for m in minutes)
    day = await get(paused, "/api/v5/market/candles", instId=BTC, bar="1Dutc")
    assert int(day["data"][0][0]) % 86_400_000 == 0, "1Dutc bars start at UTC midnight"


async def test_candle_requests_refused_as_okx_does(paused: OkxSimulator) -> None:
    bad_bar = await get(paused, "/api/v5/market/candles", instId=BTC, bar="1s")
    assert bad_bar["code"] == "51000" and "bar" in bad_bar["msg"]
    too_many = await get(paused, "/api/v5/market/history-candles", instId=BTC, limit="301")
    assert too_many["code"] == "51000" and "limit" in too_many["msg"]
    unknown = await get(paused, "/api/v5/market/candles", instId="NOPE-USDT")
    assert unknown["code"] == "51001"
    assert (await get(paused, "/api/v5/market/candles"))["code"] == "50014"


async def test_trades_history_trades_and_tickers(paused: OkxSimulator) -> None:
    for side in ("buy", "sell", "buy"):
        paused.synthetic_take(BTC, side, "0.01")
    paused.publish()
    published = paused.published_trades(BTC)
    recent = (await get(paused, "/api/v5/market/trades", instId=BTC, limit="2"))["data"]
    assert [t["tradeId"] for t in recent] == [t["tradeId"] for t in published[::-1][:2]]
    assert set(recent[0]) == {"instId", "side", "sz", "px", "source", "tradeId", "ts"}
    older = await get(
        paused, "/api/v5/market/history-trades", instId=BTC, after=recent[-1]["tradeId"]
    )
    ids = [int(t["tradeId"]) for t in older["data"]]
    assert ids and max(ids) < int(recent[-1]["tradeId"]) and ids == sorted(ids, reverse=True)
    tickers = (await get(paused, "/api/v5/market/tickers", instType="SPOT"))["data"]
    assert {t["instId"] for t in tickers} == {"BTC-USDT", "ETH-USDT", "SOL-USDT"}
    assert (await get(paused, "/api/v5/market/tickers", instType="SWAP"))["data"] == []
    assert (await get(paused, "/api/v5/market/tickers"))["code"] == "50014"


async def test_candle_channel_starts_with_the_whole_current_bar(paused: OkxSimulator) -> None:
    """The first push is the bar since its start (trades already in it), as REST reports it."""
    for _ in range(3):  # a minute may roll between the two reads: try again then
        paused.synthetic_take(BTC, "buy", "0.5")
        paused.publish()
        async with connect(paused.ws_business_url) as ws:
            await subscribe(ws, ("candle1m", BTC))
            pushed = (
                await recv_until(ws, lambda m: m.get("arg", {}).get("channel") == "candle1m")
            )["data"][0]
        rest = (await get(paused, "/api/v5/market/candles", instId=BTC, bar="1m", limit="1"))[
            "data"
        ][0]
        if pushed[0] == rest[0]:
            break
    assert pushed[:8] == rest[:8]
    assert D(pushed[5]) >= D("0.5"), "the trades already in the bar are in its volume"


def test_past_is_seeded_and_ends_at_the_start_price() -> None:
    spec = DEFAULT_INSTRUMENTS[0]
    one = generate_past(spec, 7, FlowParams(), 200.0, 3600, 600_000)
    two = generate_past(spec, 7, FlowParams(), 200.0, 3600, 600_000)
    other = generate_past(spec, 8, FlowParams(), 200.0, 3600, 600_000)
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    assert not np.array_equal(one[3], other[3])
    opens, highs, lows, closes, volumes, _ = one
    assert closes[-1] == 600_000 and np.all(opens[1:] == closes[:-1])
    assert np.all(lows <= np.minimum(opens, closes)) and np.all(highs >= np.maximum(opens, closes))
    assert np.all(volumes >= 0) and volumes.sum() > 0


def test_live_bars_fold_trades_and_stay_bounded() -> None:
    spec = DEFAULT_INSTRUMENTS[0]
    history = BarHistory(spec, 7, FlowParams(), 200.0, 1_000_000, 0.0, 600_000)
    history.add(1_000_500, 600_010, 3)
    history.add(1_000_900, 599_990, 2)
    history.add(1_003_100, 600_005, 1)  # two quiet seconds in between: flat at the last close
    assert history.bar(1_000_000, 1_001_000) == (
        600_010,
        600_010,
        599_990,
        599_990,
        5,
        3_000_010,
    )
    assert history.bar(1_001_000, 1_003_000) == (599_990, 599_990, 599_990, 599_990, 0, 0)
    far = 1_000_000 + (MAX_SECONDS + TRIM_CHUNK + 10) * 1000
    history.add(far, 600_100, 1)
    assert len(history.c) <= MAX_SECONDS + TRIM_CHUNK and history.c[-1] == 600_100
    assert history.bar(far, far + 1000) == (600_100, 600_100, 600_100, 600_100, 1, 600_100)
