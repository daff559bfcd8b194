"""Cross-venue tops and net spreads: the figures the cross-venue view, the spread watcher and
the arbitrage seeker all read, computed by hand here."""

from __future__ import annotations

import math

import pytest

from desk.core.events import BookChanged, Ticker
from desk.market.cross_venue import CrossVenueTops, VenueTop, net_spread_bps

NAN = math.nan


def _top(venue: str, bid: float, ask: float, ts: int = 0, symbol: str = "BTC-USDT") -> VenueTop:
    return VenueTop(venue=venue, symbol=symbol, bid=bid, ask=ask, ts_ns=ts)


def test_net_spread_is_sell_proceeds_minus_buy_cost_over_cost_after_both_fees() -> None:
    buy, sell = _top("okx", 99.0, 100.0), _top("binance", 101.0, 102.0)
    # cost 100 * 1.001 = 100.1; proceeds 101 * (1 - 0.0005) = 100.9495
    expected = (100.9495 - 100.1) / 100.1 * 1e4
    assert net_spread_bps(buy, sell, 10.0, 5.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(84.8651348, rel=1e-8)


def test_books_that_cross_by_less_than_the_fees_give_a_negative_spread() -> None:
    buy, sell = _top("okx", 99.9, 100.0), _top("binance", 100.1, 100.2)
    # gross +10 bps, fees 2 x 10 bps: cost 100.1, proceeds 100.1 * 0.999 = 100.0
    expected = (100.1 * 0.999 - 100.1) / 100.1 * 1e4
    assert net_spread_bps(buy, sell, 10.0, 10.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(-10.0, rel=1e-12)
    assert net_spread_bps(buy, sell, 0.0, 0.0) == pytest.approx(10.0, rel=1e-9)


@pytest.mark.parametrize(
    ("buy", "sell"),
    [
        (_top("okx", 99.0, NAN), _top("binance", 101.0, 102.0)),  # no ask to buy at
        (_top("okx", 99.0, 100.0), _top("binance", NAN, 102.0)),  # no bid to sell at
        (_top("okx", 99.0, 0.0), _top("binance", 101.0, 102.0)),
    ],
)
def test_a_missing_side_gives_nan_never_a_number(buy: VenueTop, sell: VenueTop) -> None:
    assert math.isnan(net_spread_bps(buy, sell, 10.0, 10.0))


def test_usable_needs_both_sides_and_an_uncrossed_venue_book() -> None:
    assert _top("okx", 99.0, 100.0).usable
    assert not _top("okx", NAN, 100.0).usable
    assert not _top("okx", 101.0, 100.0).usable
    assert _top("okx", 99.0, 100.0, ts=1_000_000_000).age_s(3_500_000_000) == 2.5


def test_matrix_holds_every_ordered_pair_with_each_venues_own_fee() -> None:
    tops = CrossVenueTops({"okx": 8.0, "binance": 10.0}, default_fee_bps=12.0)
    tops.update(_top("okx", 99.0, 100.0))
    tops.update(_top("binance", 101.0, 102.0))
    tops.update(_top("coinbase", 100.5, 100.8))
    matrix = tops.matrix("BTC-USDT")
    assert set(matrix) == {
        ("binance", "coinbase"),
        ("binance", "okx"),
        ("coinbase", "binance"),
        ("coinbase", "okx"),
        ("okx", "binance"),
        ("okx", "coinbase"),
    }
    cost = 100.0 * 1.0008
    assert matrix[("okx", "binance")] == pytest.approx((101.0 * 0.999 - cost) / cost * 1e4)
    assert matrix[("okx", "coinbase")] == pytest.approx((100.5 * 0.9988 - cost) / cost * 1e4)
    cost = 102.0 * 1.001
    assert matrix[("binance", "okx")] == pytest.approx((99.0 * 0.9992 - cost) / cost * 1e4)
    assert tops.fee_bps("kraken") == 12.0
    assert tops.matrix("ETH-USDT") == {}


def test_best_is_the_most_profitable_pair_and_skips_nan_pairs() -> None:
    tops = CrossVenueTops({"okx": 0.0, "binance": 0.0, "coinbase": 0.0})
    tops.update(_top("okx", 99.0, 100.0))
    tops.update(_top("binance", 101.0, 102.0))
    tops.update(_top("coinbase", NAN, NAN))
    buy, sell, bps = tops.best("BTC-USDT")  # type: ignore[misc]
    assert (buy, sell) == ("okx", "binance")
    assert bps == pytest.approx(100.0)
    assert tops.best("ETH-USDT") is None
    only_nan = CrossVenueTops()
    only_nan.update(_top("okx", NAN, NAN))
    only_nan.update(_top("binance", NAN, NAN))
    assert only_nan.best("BTC-USDT") is None


def test_events_feed_the_tops_per_venue_book_changes_and_tickers_alike() -> None:
    tops = CrossVenueTops()
    tops.on_event(
        BookChanged(
            ts_exchange=1, ts_recv=10, venue="okx", symbol="BTC-USDT", seq_id=1,
            snapshot=True, best_bid=99.0, best_ask=NAN,
        )
    )  # fmt: skip
    ticker = Ticker(
        ts_exchange=2, ts_recv=20, venue="binance", symbol="BTC-USDT",
        last=100.0, last_size=0.1, bid=100.5, bid_size=1.0, ask=100.6, ask_size=2.0,
        open_24h=0.0, high_24h=0.0, low_24h=0.0, volume_24h=0.0, volume_quote_24h=0.0,
    )  # fmt: skip
    tops.on_event(ticker)
    got = tops.tops("BTC-USDT")
    assert set(got) == {"okx", "binance"}
    assert got["okx"].bid == 99.0 and math.isnan(got["okx"].ask) and got["okx"].ts_ns == 10
    assert (got["binance"].bid, got["binance"].ask, got["binance"].ask_size) == (100.5, 100.6, 2.0)
    assert tops.symbols() == ["BTC-USDT"]
    tops.on_event(object())  # not a market top: ignored
    assert tops.symbols() == ["BTC-USDT"]
