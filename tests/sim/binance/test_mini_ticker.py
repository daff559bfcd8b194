"""``<symbol>@miniTicker`` of the simulated Binance: the rolling 24 h figures every second.

Binance's shape (``{"e":"24hrMiniTicker","E":...,"s":...,"c","o","h","l","v","q"}``), figures
that agree with the venue's own trades and klines, and the stream accepted wherever the others
are (``SUBSCRIBE``, ``/stream?streams=``, ``/ws/``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp

from desk.sim.binance.simulator import MINI_TICKER_S, BinanceSimulator, Cadence
from desk.sim.binance.streams import STREAM_KINDS
from tests.sim.binance.client import (
    BTC,
    config,
    event,
    is_wire_decimal,
    on,
    open_ws,
    recv_json,
    recv_until,
    request,
)

DAY_MS = 86_400_000
FIELDS = ["e", "E", "s", "c", "o", "h", "l", "v", "q"]


def prices(data: dict[str, Any]) -> tuple[Decimal, ...]:
    return tuple(Decimal(data[k]) for k in ("o", "h", "l", "c"))


async def test_mini_tickers_come_every_second_with_24h_figures_around_the_live_price(
    sim: BinanceSimulator,
) -> None:
    url = f"{sim.ws_url}/stream?streams=btcusdt@trade/btcusdt@miniTicker"
    async with open_ws(url) as ws:
        pushes: list[dict[str, Any]] = []
        last_trade: Decimal | None = None
        while len(pushes) < 3:
            msg = await recv_json(ws)
            if msg["stream"] == "btcusdt@trade":
                last_trade = Decimal(msg["data"]["p"])
                continue
            data = msg["data"]
            assert list(data) == FIELDS and (data["e"], data["s"]) == ("24hrMiniTicker", BTC)
            assert all(is_wire_decimal(data[k]) for k in FIELDS[3:])
            o, h, lo, c = prices(data)
            assert lo <= min(o, c) and max(o, c) <= h, "the range holds the open and last"
            assert h / lo < Decimal("1.5"), "a day of this market, not a crash"
            if last_trade is not None:
                assert c == last_trade, "the last price is the last trade published"
            volume, quote = Decimal(data["v"]), Decimal(data["q"])
            assert volume > 0 and lo <= quote / volume <= h, "the average price lies in range"
            pushes.append(data)
    times = [p["E"] for p in pushes]
    assert times == sorted(set(times)), "one push at a time, in order"

    # the open is the first one-second bar of the 24 h window, as the klines have it
    start = pushes[-1]["E"] - DAY_MS
    params = {"symbol": BTC, "interval": "1s", "startTime": str(start), "limit": "1"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(sim.rest_url + "/api/v3/klines", params=params) as reply,
    ):
        (first_bar,) = await reply.json()
    assert start <= first_bar[0] < start + 1000
    assert first_bar[1] == pushes[-1]["o"]


async def test_the_volume_grows_by_each_trade() -> None:
    """With no simulated past the window is everything since start: the volume of a market
    order is added to it exactly, and nothing else moves it."""
    async with BinanceSimulator(config(update_interval=3600, history_hours=0)) as sim:
        sim.pause()
        async with open_ws(f"{sim.ws_url}/ws/btcusdt@miniTicker") as ws:
            sim.publish(mini=True)
            first = await recv_until(ws, event("24hrMiniTicker"))
            sim.synthetic_take(BTC, "buy", "0.5")
            sim.publish(mini=True)
            volume = Decimal(first["v"])
            while volume == Decimal(first["v"]):
                data = await recv_until(ws, event("24hrMiniTicker"))
                assert Decimal(data["v"]) >= volume, "the volume never shrinks"
                volume = Decimal(data["v"])
            assert volume == Decimal(first["v"]) + Decimal("0.5")
            o, h, lo, c = prices(data)
            assert o == Decimal(first["o"]) and h >= c >= lo, "the take moved the last price"
            assert Decimal(data["q"]) > Decimal(first["q"])


async def test_mini_tickers_are_subscribed_and_unsubscribed_like_any_stream(
    paused: BinanceSimulator,
) -> None:
    assert "miniTicker" in STREAM_KINDS
    async with open_ws(f"{paused.ws_url}/stream?streams=btcusdt@trade") as ws:
        reply = await request(ws, "SUBSCRIBE", ["ethusdt@miniTicker"], 1)
        assert reply == {"result": None, "id": 1}
        listed = await request(ws, "LIST_SUBSCRIPTIONS", None, 2)
        assert listed["result"] == ["btcusdt@trade", "ethusdt@miniTicker"]
        paused.publish(mini=True)
        pushed = await recv_until(ws, on("ethusdt@miniTicker"))
        assert pushed["data"]["s"] == "ETHUSDT"
        reply = await request(ws, "UNSUBSCRIBE", ["ethusdt@miniTicker"], 3)
        assert reply == {"result": None, "id": 3}
        assert not paused.hub.has("ethusdt@miniTicker")
        bad = await request(ws, "SUBSCRIBE", ["ethusdt@miniticker"], 4)
        assert bad["code"] == 2, "stream names are case-sensitive, as on Binance"


async def test_one_payload_is_encoded_once_for_every_subscriber(paused: BinanceSimulator) -> None:
    async with (
        open_ws(f"{paused.ws_url}/ws/btcusdt@miniTicker") as raw,
        open_ws(f"{paused.ws_url}/stream?streams=btcusdt@miniTicker") as combined,
    ):
        paused.publish(mini=True)
        bare = await recv_until(raw, event("24hrMiniTicker"))
        wrapped = await recv_until(combined, on("btcusdt@miniTicker"))
        assert wrapped["data"] == bare
        assert paused.stats()["pushes"]["miniTicker"] >= 1


def test_the_push_is_due_every_second_and_a_stall_brings_no_burst() -> None:
    cadence = Cadence(100.0, MINI_TICKER_S)
    assert [cadence.due(t) for t in (100.5, 101.0, 101.01, 101.99, 102.003)] == [
        False,
        True,
        False,
        False,
        True,
    ], "on the grid of whole seconds from the start, late pushes do not shift it"
    assert cadence.due(105.5), "after a stall, one push"
    assert not cadence.due(105.6) and not cadence.due(106.0)
    assert cadence.due(106.5), "and the next a second later"


async def test_a_history_that_cannot_be_read_leaves_the_statistics_since_start(
    paused: BinanceSimulator,
) -> None:
    def unreadable(now_ms: int) -> Any:
        raise ValueError("cannot convert float NaN to integer")

    paused.streams[BTC].day_window = unreadable
    async with open_ws(
        f"{paused.ws_url}/stream?streams=btcusdt@miniTicker/ethusdt@miniTicker"
    ) as ws:
        paused.publish(mini=True)
        btc = (await recv_until(ws, on("btcusdt@miniTicker")))["data"]
        stats = paused.streams[BTC].market.stats
        listing = paused.streams[BTC].listing
        assert (btc["o"], btc["h"], btc["l"]) == tuple(
            listing.price(p) for p in (stats.open, stats.high, stats.low)
        )
        eth = await recv_until(ws, on("ethusdt@miniTicker"))
        assert eth["data"]["s"] == "ETHUSDT", "the other symbols' pushes go on"
