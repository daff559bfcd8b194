"""The Coinbase feed on the docs' own payloads (``fixtures/``), without a socket.

Frames go straight into ``CoinbaseFeed.handle_message``; what the feed would send is captured
through its injectable ``send``.
"""

from __future__ import annotations

import json
import math

import msgspec
import pytest

from desk.core.bus import Bus
from desk.core.enums import Severity, Side
from desk.core.events import BookChanged, SystemEvent, Ticker, Trade
from desk.core.topics import SYSTEM_EVENTS
from desk.feeds.coinbase.config import CoinbaseConfig
from desk.feeds.coinbase.feed import CoinbaseFeed
from desk.feeds.coinbase.wire import encode_subscribe
from desk.feeds.validation import ValidationConfig
from tests.feeds.coinbase.samples import (
    HEARTBEATS,
    HEARTBEATS_LIVE,
    L2_SNAPSHOT,
    L2_TS_NS,
    MARKET_TRADES,
    SUBSCRIBE_REQUESTS,
    SUBSCRIPTIONS,
    TICKER,
    heartbeat,
    l2,
    trades,
)

RECV = L2_TS_NS + 100_000_000  # 100 ms after the docs' l2 timestamp
CHANNELS = ("level2", "market_trades", "ticker")


class Setup:
    def __init__(self, *symbols: str, skew: float = 0.0, **config: object) -> None:
        self.bus = Bus()
        self.events: list[object] = []
        self.system: list[object] = []
        self.sent: list[dict[str, object]] = []
        self.bus.subscribe("market_data:*", self.events.append)
        self.bus.subscribe(SYSTEM_EVENTS, self.system.append)
        cfg = CoinbaseConfig(
            symbols=symbols,
            validation=ValidationConfig(max_clock_skew=skew),
            **config,  # type: ignore[arg-type]
        )
        self.feed = CoinbaseFeed(
            cfg, symbols, CHANNELS, self.bus, send=lambda text: self.sent.append(json.loads(text))
        )

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.system if isinstance(e, SystemEvent)]


def test_level2_snapshot_from_the_docs_builds_the_book() -> None:
    s = Setup("BTC-USD")
    s.feed.handle_message(L2_SNAPSHOT, RECV)
    book = s.feed.books["BTC-USD"]
    assert book.raw_bids() == [("21921.73", "0.06317902"), ("21921.3", "0.02")]
    assert book.raw_asks() == []
    [changed] = s.of(BookChanged)
    assert (changed.venue, changed.symbol, changed.snapshot) == ("coinbase", "BTC-USD", True)
    assert changed.best_bid == 21921.73 and math.isnan(changed.best_ask)
    assert changed.ts_exchange == L2_TS_NS and changed.seq_id == 0
    assert s.feed.keeper.ready.is_set()
    assert s.feed.counters.latencies_ms()[0] == pytest.approx(100.0)
    assert s.feed.counters.decode_errors == 0


def test_offer_is_the_ask_side_and_quantities_are_absolute() -> None:
    s = Setup("BTC-USD")
    s.feed.handle_message(L2_SNAPSHOT, RECV)
    update = l2(
        1, levels=[("offer", "21923.1", "1.5"), ("bid", "21921.3", "0"), ("ask", "21924", "2")]
    )
    s.feed.handle_message(update, RECV)
    book = s.feed.books["BTC-USD"]
    assert book.raw_asks() == [("21923.1", "1.5"), ("21924", "2")]
    assert book.raw_bids() == [("21921.73", "0.06317902")]
    s.feed.handle_message(l2(2, levels=[("offer", "21923.1", "0.25")]), RECV)
    assert book.raw_asks()[0] == ("21923.1", "0.25")
    assert s.feed.counters.gaps == 0 and s.feed.counters.resyncs == 0


def test_market_trades_from_the_docs_give_the_aggressor_side() -> None:
    s = Setup("ETH-USD")
    s.feed.handle_message(MARKET_TRADES, RECV)
    [trade] = s.of(Trade)
    assert (trade.venue, trade.symbol, trade.trade_id) == ("coinbase", "ETH-USD", "000000000")
    assert (trade.price, trade.size) == (1260.01, 0.3)
    assert trade.side is Side.SELL  # the maker bought: the aggressor sold
    assert trade.ts_exchange == 1_565_815_347_265_000_000  # 2019: a snapshot may be old


def test_replayed_trades_are_dropped() -> None:
    s = Setup("ETH-USD")
    s.feed.handle_message(MARKET_TRADES, RECV)
    replay = MARKET_TRADES.replace(b'"sequence_num":0', b'"sequence_num":1')
    s.feed.handle_message(replay, RECV)
    assert len(s.of(Trade)) == 1
    assert s.feed.counters.duplicate_trades == 1


def test_trades_of_one_message_go_out_oldest_first() -> None:
    s = Setup("BTC-USD", skew=300.0)
    t = "2023-02-09T20:32:50.%sZ"
    msg = trades(0, [("12", "100.5", "1", "SELL", t % "3"), ("11", "100.4", "2", "BUY", t % "1")])
    s.feed.handle_message(msg, RECV)
    assert [(x.trade_id, x.side) for x in s.of(Trade)] == [("11", Side.SELL), ("12", Side.BUY)]


def test_ticker_from_the_docs() -> None:
    s = Setup("BTC-USD")
    s.feed.handle_message(TICKER, RECV)
    [ticker] = s.of(Ticker)
    assert (ticker.venue, ticker.symbol, ticker.last) == ("coinbase", "BTC-USD", 21932.98)
    assert (ticker.bid, ticker.bid_size) == (21931.98, 8000.21)
    assert (ticker.ask, ticker.ask_size) == (21933.98, 8038.07770938)
    assert (ticker.high_24h, ticker.low_24h, ticker.volume_24h) == (
        23011.18,
        21835.29,
        16038.28770938,
    )
    assert ticker.open_24h == pytest.approx(21932.98 / (1 - 0.0415775596190603))
    assert math.isnan(ticker.last_size) and math.isnan(ticker.volume_quote_24h)


def test_heartbeats_in_both_documented_shapes_and_a_lost_beat() -> None:
    s = Setup("BTC-USD")
    s.feed.handle_message(HEARTBEATS, RECV)  # "client_id":"", "heartbeat_counter":"3049"
    s.feed.handle_message(HEARTBEATS_LIVE, RECV)  # no client_id, 3050 as an int
    assert (s.feed.heartbeats, s.feed.heartbeat_gaps) == (2, 0)
    s.feed.handle_message(heartbeat(2, 3052), RECV)
    assert s.feed.heartbeat_gaps == 1
    assert "heartbeat_gap" in s.kinds()
    assert s.feed.counters.decode_errors == 0


def test_subscriptions_ack_is_recorded() -> None:
    s = Setup("BTC-USD")
    s.feed.handle_message(SUBSCRIPTIONS, RECV)
    assert s.feed.subscriptions == {"level2": ["BTC-USD"]}


def test_subscribe_requests_have_the_documented_shape() -> None:
    docs_level2, docs_heartbeats = (json.loads(line) for line in SUBSCRIBE_REQUESTS)
    ours = json.loads(encode_subscribe("subscribe", "level2", ["ETH-USD", "BTC-USD"]))
    assert ours == {k: v for k, v in docs_level2.items() if k != "jwt"}
    assert json.loads(encode_subscribe("subscribe", "heartbeats")) == {
        k: v for k, v in docs_heartbeats.items() if k != "jwt"
    }


async def test_a_connection_subscribes_one_channel_per_message() -> None:
    s = Setup("BTC-USD", "ETH-USDT")

    class Conn:
        def __init__(self) -> None:
            self.sent: list[dict[str, object]] = []

        async def send(self, text: str) -> None:
            self.sent.append(json.loads(text))

    conn = Conn()
    await s.feed._on_open(conn)  # type: ignore[arg-type]
    assert conn.sent == [
        {"type": "subscribe", "channel": c, "product_ids": ["BTC-USD", "ETH-USDT"]}
        for c in CHANNELS
    ] + [{"type": "subscribe", "channel": "heartbeats"}]


def test_venue_error_is_reported() -> None:
    s = Setup("BTC-USD")
    s.feed.handle_message(b'{"type":"error","message":"failure to subscribe"}', RECV)
    assert s.feed.venue_errors == 1
    [event] = [e for e in s.system if isinstance(e, SystemEvent) and e.kind == "error"]
    assert "failure to subscribe" in event.message and event.severity is Severity.ERROR


def test_a_message_in_another_key_order_is_still_applied() -> None:
    s = Setup("BTC-USD")
    reordered = json.dumps(
        {
            "sequence_num": 0,
            "events": json.loads(L2_SNAPSHOT)["events"],
            "channel": "l2_data",
            "timestamp": "2023-02-09T20:32:50.714964855Z",
        }
    )
    s.feed.handle_message(reordered, RECV)  # text works too
    assert len(s.feed.books["BTC-USD"]) == 2


def test_malformed_frames_are_counted_and_change_nothing() -> None:
    s = Setup("BTC-USD")
    s.feed.handle_message(L2_SNAPSHOT, RECV)
    s.feed.handle_message(b'{"channel":"l2_data","timestamp":"x","events":[{type:}', RECV)
    s.feed.handle_message(L2_SNAPSHOT[: len(L2_SNAPSHOT) // 2], RECV)
    s.feed.handle_message(b"\x00garbage", RECV)
    assert s.feed.counters.decode_errors == 3
    assert len(s.feed.books["BTC-USD"]) == 2
    assert s.kinds().count("decode_error") >= 1  # rate-limited: one per second per kind
    assert s.feed.counters.gaps == 0


def test_unknown_channels_are_counted_and_keep_their_number() -> None:
    s = Setup("BTC-USD")
    s.feed.handle_message(L2_SNAPSHOT, RECV)
    candles = {
        "channel": "candles",
        "timestamp": "2023-02-09T20:32:51Z",
        "sequence_num": 1,
        "events": [],
    }
    s.feed.handle_message(msgspec.json.encode(candles), RECV)
    s.feed.handle_message(l2(2, levels=[("bid", "21921.5", "1")]), RECV)
    assert s.feed.counters.unknown_channels == 1
    assert s.feed.counters.gaps == 0
    assert s.feed.books["BTC-USD"].best_bid_px == 21921.73


def test_products_not_followed_are_counted_not_published() -> None:
    s = Setup("BTC-USD")
    s.feed.handle_message(l2(0, "snapshot", [("bid", "5", "1")], product="DOGE-USD"), RECV)
    assert s.feed.counters.unknown_symbols == 1 and s.of(BookChanged) == []


def test_a_trade_outside_the_price_band_is_refused_and_the_others_pass() -> None:
    s = Setup("BTC-USD", skew=300.0)
    s.feed.handle_message(l2(0, "snapshot", [("bid", "21921", "1"), ("offer", "21922", "1")]), RECV)
    t = "2023-02-09T20:32:50.7Z"
    msg = trades(1, [("1", "21921.5", "0.1", "BUY", t), ("2", "9000000", "0.1", "BUY", t)])
    s.feed.handle_message(msg, RECV)
    assert [x.trade_id for x in s.of(Trade)] == ["1"]
    assert s.feed.counters.bad_values == 1 and s.feed.counters.decode_errors == 1


def test_a_message_far_from_the_local_clock_is_refused() -> None:
    s = Setup("BTC-USD", skew=300.0)
    s.feed.handle_message(L2_SNAPSHOT, RECV + 3600 * 10**9)  # an hour late
    assert s.feed.counters.bad_timestamps == 1
    assert not s.feed.books["BTC-USD"]
