"""``GET /api/v3/klines`` of the simulated Binance: Binance's shape, limits and errors, bars of
the venue's own market (its simulated past, then its published trades), and desk's client."""

from __future__ import annotations

import time
from decimal import Decimal
from itertools import pairwise
from typing import Any

import aiohttp
import pytest

from desk.feeds.binance.rest import BinanceApiError, BinanceRestClient
from desk.sim.binance.klines import INTERVALS
from desk.sim.binance.simulator import BinanceSimulator
from desk.sim.okx.simulator import OkxSimulator
from tests.sim.binance.client import BTC, config, is_wire_decimal

MINUTE_MS = 60_000


async def klines(sim: BinanceSimulator, **params: str) -> tuple[int, Any]:
    url = sim.rest_url + "/api/v3/klines"
    async with aiohttp.ClientSession() as http, http.get(url, params=params) as reply:
        return reply.status, await reply.json()


async def test_klines_are_binance_rows_oldest_first_ending_with_the_forming_bar(
    sim: BinanceSimulator,
) -> None:
    before = sim.now_ms()
    status, rows = await klines(sim, symbol=BTC, interval="1m")
    after = sim.now_ms()
    assert status == 200 and len(rows) == 500, "default limit 500; 24 h of simulated past"
    for row in rows:
        assert len(row) == 12
        open_time, o, h, lo, c, vol, close_time, quote, trades, buy, buy_quote, unused = row
        assert open_time % MINUTE_MS == 0 and close_time == open_time + MINUTE_MS - 1
        assert all(is_wire_decimal(x) for x in (o, h, lo, c, vol, quote, buy, buy_quote))
        assert Decimal(lo) <= min(Decimal(o), Decimal(c)) <= max(Decimal(o), Decimal(c))
        assert max(Decimal(o), Decimal(c)) <= Decimal(h)
        assert isinstance(trades, int) and unused == "0"
    assert all(b[0] - a[0] == MINUTE_MS for a, b in pairwise(rows)), "oldest first, no hole"
    assert rows[-1][0] <= after and before <= rows[-1][6], "the last bar is the one forming"
    assert sum(Decimal(r[5]) for r in rows) > 0


@pytest.mark.parametrize("interval", [i for i in INTERVALS if i not in ("3d", "1w", "1M")])
async def test_every_interval_up_to_a_day_is_served_on_utc_boundaries(
    sim: BinanceSimulator, interval: str
) -> None:
    status, rows = await klines(sim, symbol=BTC, interval=interval, limit="3")
    assert status == 200 and 1 <= len(rows) <= 3
    length = rows[0][6] + 1 - rows[0][0]
    assert rows[0][0] % length == 0, "aligned on the epoch (UTC)"


async def test_start_and_end_time_page_through_the_history(sim: BinanceSimulator) -> None:
    _, latest = await klines(sim, symbol=BTC, interval="1m", limit="10")
    end = latest[0][0] - 1
    _, older = await klines(sim, symbol=BTC, interval="1m", limit="5", endTime=str(end))
    assert [r[0] for r in older] == [latest[0][0] - MINUTE_MS * k for k in range(5, 0, -1)]
    start = latest[0][0] - 30 * MINUTE_MS + 1  # not on a boundary: the next bar opens first
    _, forward = await klines(sim, symbol=BTC, interval="1m", limit="3", startTime=str(start))
    assert [r[0] for r in forward] == [latest[0][0] - MINUTE_MS * k for k in (29, 28, 27)]
    _, window = await klines(
        sim, symbol=BTC, interval="1m", startTime=str(start), endTime=str(latest[0][0])
    )
    assert len(window) == 30 and window[-1][0] == latest[0][0], "29 before it, and it"
    status, body = await klines(sim, symbol=BTC, interval="1m", limit="1000")
    assert status == 200 and len(body) == 1000


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"interval": "1m"}, -1102),
        ({"symbol": "DOGEUSDT", "interval": "1m"}, -1121),
        ({"symbol": BTC}, -1102),
        ({"symbol": BTC, "interval": "2m"}, -1120),
        ({"symbol": BTC, "interval": "1m", "limit": "1001"}, -1100),
        ({"symbol": BTC, "interval": "1m", "limit": "0"}, -1100),
        ({"symbol": BTC, "interval": "1m", "startTime": "x"}, -1100),
        ({"symbol": BTC, "interval": "1m", "startTime": "20", "endTime": "10"}, -1023),
    ],
)
async def test_bad_requests_get_binance_errors(
    sim: BinanceSimulator, params: dict[str, str], code: int
) -> None:
    status, body = await klines(sim, **params)
    assert status == 400 and body["code"] == code and body["msg"]


async def test_live_bars_are_the_venues_own_trades(paused: BinanceSimulator) -> None:
    before = len(paused.published_trades(BTC))
    for _ in range(50):
        paused.step_market(20)
        paused.publish()
        if len(paused.published_trades(BTC)) > before:
            break
    paused.synthetic_take(BTC, "buy", "0.5")
    paused.publish()
    last = paused.published_trades(BTC)[-1]
    _, rows = await klines(paused, symbol=BTC, interval="1m", limit="2")
    assert rows[-1][4] == last["p"], "the forming bar closes at the last trade published"
    assert sum(Decimal(r[5]) for r in rows) >= Decimal("0.5"), "the take is in the volume"


async def test_history_follows_okxs_past_with_the_venues_own_deviation() -> None:
    async with OkxSimulator(config()) as okx, BinanceSimulator(config()) as binance:
        url = okx.rest_url + "/api/v5/market/candles"
        params = {"instId": "BTC-USDT", "bar": "1H", "limit": "24"}
        async with aiohttp.ClientSession() as http, http.get(url, params=params) as reply:
            okx_rows = {int(r[0]): Decimal(r[4]) for r in (await reply.json())["data"]}
        _, rows = await klines(binance, symbol=BTC, interval="1h", limit="24")
    ours = {r[0]: Decimal(r[4]) for r in rows}
    common = sorted(set(ours) & set(okx_rows))
    assert len(common) >= 20
    gaps = [abs(ours[t] / okx_rows[t] - 1) for t in common]
    assert max(gaps) < Decimal("0.003"), "the same past, a few basis points apart"
    assert any(g > Decimal("0.00001") for g in gaps), "not a copy: Binance deviates its own way"


async def test_desks_client_decodes_klines_and_raises_binance_errors(sim: BinanceSimulator) -> None:
    client = BinanceRestClient(sim.rest_url)
    try:
        bars = await client.get_klines(BTC, "5m", 4)
        assert len(bars) == 4 and bars[-1].open_time <= time.time_ns() // 1_000_000
        assert bars[0].close_time == bars[0].open_time + 300_000 - 1
        assert Decimal(bars[0].high) >= Decimal(bars[0].low)
        older = await client.get_klines(BTC, "5m", 2, end_ms=bars[0].open_time - 1)
        assert [k.open_time for k in older] == [
            bars[0].open_time - 600_000,
            bars[0].open_time - 300_000,
        ]
        with pytest.raises(BinanceApiError) as bad:
            await client.get_klines("DOGEUSDT", "1m")
        assert (bad.value.code, bad.value.status) == (-1121, 400)
        with pytest.raises(BinanceApiError) as bad:
            await client.get_klines(BTC, "7m")
        assert bad.value.code == -1120
        with pytest.raises(ValueError, match=r"1\.\.1000"):
            await client.get_klines(BTC, "1m", 1001)
    finally:
        await client.close()


async def test_a_firehose_simulator_has_a_past_too() -> None:
    """At a million steps a second the venue's deviation forgets within a second: its past is
    still generated (it once divided by an underflowed power and failed)."""
    async with BinanceSimulator(config(steps_per_second=1_000_000, firehose=True)) as binance:
        status, rows = await klines(binance, symbol=BTC, interval="1h", limit="24")
    assert status == 200 and len(rows) == 24
    assert all(Decimal(r[3]) <= Decimal(r[4]) <= Decimal(r[2]) for r in rows)  # low, close, high
