"""Decoded ``books`` and ``trades`` pushes, and the market-data events made of them, stay out
of the cyclic collector (``gc=False`` in ``wire.py`` and ``desk.core.events``)."""

from __future__ import annotations

import gc

from desk.core.bus import Bus
from desk.core.events import BookChanged, Candle, Ticker, Trade
from desk.feeds.okx.config import OkxConfig
from desk.feeds.okx.feed import OkxFeed
from desk.feeds.okx.wire import BooksPush, TradesPush, push_decoder

RAW = (
    b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":'
    b'[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],'
    b'"ts":"1597026383085","checksum":0,"prevSeqId":1,"seqId":2}]}'
)


def test_decoded_book_pushes_are_not_tracked_by_the_collector() -> None:
    """``BooksPush``, ``BookData`` and ``BookLevel`` cannot lead back to the push, so the
    collector never tracks (and untracks) them, one message after another."""
    push = push_decoder(BooksPush).decode(RAW)
    data = push.data[0]
    assert (data.asks[0].px, data.bids[0].sz, data.ts) == ("8476.98", "256", 1597026383085)
    assert not any(map(gc.is_tracked, (push, data, data.asks[0], data.bids[0])))


TRADES = (
    b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
    b'"tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy",'
    b'"ts":"1630048897897","count":"3","source":"0","seqId":1234}]}'
)


def test_decoded_trades_pushes_and_the_trades_published_are_not_tracked() -> None:
    push = push_decoder(TradesPush).decode(TRADES)
    assert (push.data[0].tradeId, push.data[0].px, push.data[0].count) == ("130639474", 42219.9, 3)
    assert not any(map(gc.is_tracked, (push, push.arg, push.data[0])))
    bus, published = Bus(), []
    bus.subscribe("market_data:BTC-USDT", published.append)
    feed = OkxFeed(OkxConfig(), ["BTC-USDT"], ["trades"], bus)
    feed.handle_message(TRADES, 1630048897897 * 1_000_000 + 1)
    [trade] = published
    assert type(trade) is Trade and trade.trade_id == "130639474"
    assert not gc.is_tracked(trade)


def test_market_data_events_are_never_tracked() -> None:
    """Numbers, strings and enum members only, and frozen: no event of these can be in a
    cycle, so none is tracked (and a subclass would inherit that)."""
    for event_type in (Trade, Ticker, BookChanged, Candle):
        assert event_type.__struct_config__.gc is False
