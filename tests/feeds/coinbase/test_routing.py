"""Messages reach their channel's handler by their first bytes, whatever their layout; trade ids
published lately are remembered per product."""

from __future__ import annotations

import pytest

from desk.core.events import Trade
from desk.feeds.coinbase.routing import HEAD_LEN, channel_heads
from desk.feeds.coinbase.trade_ids import RecentTradeIds
from tests.feeds.coinbase.samples import HEARTBEATS, HEARTBEATS_LIVE, MARKET_TRADES, trades
from tests.feeds.coinbase.test_parsing import RECV, Setup


def _noop(raw: bytes, recv_ns: int) -> None:
    return None


def test_a_key_per_channel_and_key_that_may_follow_it_holds_the_whole_name() -> None:
    heads = channel_heads({"ticker": _noop, "market_trades": _noop, "subscriptions": _noop})
    assert all(len(key) == HEAD_LEN for key in heads)
    for message in (MARKET_TRADES, trades(0, []), HEARTBEATS, HEARTBEATS_LIVE):
        name = message.split(b'"')[3]
        assert (message[:HEAD_LEN] in heads) is (name != b"heartbeats")
    assert b'{"channel":"ticker_batch","timestamp"'[:HEAD_LEN] not in heads


@pytest.mark.parametrize("layout", ["docs", "live", "timestamp first", "text"])
def test_a_trade_message_in_any_layout_is_published(layout: str) -> None:
    s = Setup("ETH-USD")
    message = {
        "docs": MARKET_TRADES,
        "live": MARKET_TRADES.replace(b'"client_id":"",', b""),
        "timestamp first": MARKET_TRADES.replace(b'{"channel":"market_trades",', b"{").replace(
            b'"events"', b'"channel":"market_trades","events"'
        ),
        "text": MARKET_TRADES.decode(),
    }[layout]
    s.feed.handle_message(message, RECV)
    assert [t.trade_id for t in s.of(Trade)] == ["000000000"]
    assert s.feed.counters.decode_errors == 0


def test_recent_trade_ids_are_seen_and_the_oldest_forgotten_in_bulk() -> None:
    ids = RecentTradeIds(keep=3)
    assert [ids.seen(t) for t in ("1", "2", "1", "3")] == [False, False, True, False]
    for t in ("4", "5", "6"):
        assert not ids.seen(t)
    assert len(ids) == 6  # up to twice ``keep``
    assert not ids.seen("7")  # over: the newest ``keep`` stay
    assert len(ids) == 3
    assert [ids.seen(t) for t in ("5", "6", "7", "1")] == [True, True, True, False]
    with pytest.raises(ValueError):
        RecentTradeIds(keep=0)


def test_trade_ids_are_kept_per_product() -> None:
    s = Setup("BTC-USD", "ETH-USD", skew=300.0)
    t = "2023-02-09T20:32:50.1Z"
    s.feed.handle_message(trades(0, [("7", "100", "1", "BUY", t)]), RECV)
    s.feed.handle_message(trades(1, [("7", "10", "1", "BUY", t)], product="ETH-USD"), RECV)
    s.feed.handle_message(trades(2, [("7", "100", "1", "BUY", t)]), RECV)
    assert [(x.symbol, x.trade_id) for x in s.of(Trade)] == [("BTC-USD", "7"), ("ETH-USD", "7")]
    assert s.feed.counters.duplicate_trades == 1
