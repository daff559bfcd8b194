"""Frames reach their stream's handler by their first bytes, whatever their layout."""

from __future__ import annotations

from desk.feeds.binance.routing import FrameRoutes, header
from tests.feeds.binance.fakes import RECV_NS, make_feed
from tests.feeds.binance.samples import TRADE, combined


def _noop(raw: bytes, recv_ns: int) -> None:
    return None


def test_every_stream_gets_a_key_holding_its_whole_name() -> None:
    names = ["btcusdt@trade", "btcusdt@depth@100ms", "ethusdt@bookTicker"]
    routes = FrameRoutes({name: _noop for name in names})
    assert routes.length == len(header("btcusdt@trade"))
    for name in names:
        key = header(name)[: routes.length]
        assert routes.heads[key] is _noop
        assert key.startswith(b'{"stream":"' + name.encode() + b'"')
    assert set(routes.by_name) == {name.encode() for name in names}


def test_a_name_too_long_for_a_key_is_left_to_the_lookup_by_name() -> None:
    long_name = "a" * 30 + "usdt@bookTicker"
    routes = FrameRoutes({"btcusdt@trade": _noop, long_name: _noop})
    assert len(routes.heads) == 1
    assert long_name.encode() in routes.by_name


def test_a_compact_frame_and_one_with_spaces_are_both_published() -> None:
    feed, seen = make_feed("BNB-BTC")
    compact = combined("bnbbtc@trade", TRADE)
    assert compact[: feed._head_len] in feed._heads
    spaced = compact.replace(b'"data":', b'"data": ').replace(b'"t":12345', b'"t":12346')
    assert spaced[: feed._head_len] not in feed._heads
    feed.handle_message(compact, RECV_NS)
    feed.handle_message(spaced, RECV_NS)
    feed.handle_message(spaced.decode(), RECV_NS)  # text: a replay of the same trade
    assert [t.trade_id for t in seen.trades] == ["12345", "12346"]
    assert feed.counters.duplicate_trades == 1 and feed.counters.decode_errors == 0


def test_a_stream_that_only_starts_like_a_subscribed_one_is_not_taken_for_it() -> None:
    feed, seen = make_feed("BNB-BTC")
    feed.handle_message(combined("bnbbtc@trade2", TRADE), RECV_NS)
    assert seen.trades == []
    assert feed.counters.unknown_channels == 1


def test_the_stream_names_the_symbol_on_the_fast_path() -> None:
    """The frame structs leave ``s`` out: the stream says whose trade it is."""
    feed, seen = make_feed("BNB-BTC", "ETH-BTC")
    feed.handle_message(combined("ethbtc@trade", TRADE), RECV_NS)
    assert [(t.symbol, t.trade_id) for t in seen.trades] == [("ETH-BTC", "12345")]
