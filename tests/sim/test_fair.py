"""The shared fair price: venues' markets move together, a little apart, deterministically."""

from __future__ import annotations

from desk.sim.binance.listings import default_listings, venue_seed
from desk.sim.config import SimulatorConfig
from desk.sim.fair import FairParams, SharedFair
from desk.sim.instruments import DEFAULT_INSTRUMENTS
from desk.sim.market import SyntheticMarket
from desk.sim.server import SimServer


def test_the_path_depends_on_seed_and_step_only_not_on_who_asks_first() -> None:
    walked, direct = SharedFair(7), SharedFair(7)
    path = [walked.factor("BTC", n) for n in range(500)]
    assert direct.factor("BTC", 499) == path[-1]
    assert direct.factor("BTC", 10) == path[10]
    assert SharedFair(8).factor("BTC", 499) != path[-1]
    assert SharedFair(7).factor("ETH", 499) != path[-1]  # one path per base asset


def test_old_steps_beyond_the_window_read_the_oldest_kept() -> None:
    fair = SharedFair(3, window=100)
    last = fair.factor("SOL", 1000)
    assert fair.factor("SOL", 1000) == last
    assert fair.factor("SOL", 0) == fair.factor("SOL", 800)  # trimmed: the oldest kept


def _markets(params: FairParams) -> tuple[SyntheticMarket, SyntheticMarket]:
    shared = SharedFair(7, params)
    okx = SyntheticMarket(DEFAULT_INSTRUMENTS[:1], seed=7, shared=shared)
    binance_spec = default_listings()[0].spec  # BTC-USDT, 2 bps above, a 0.01 tick
    binance = SyntheticMarket([binance_spec], seed=venue_seed(7), shared=shared)
    return okx, binance


def test_two_venues_follow_one_fair_price_apart_and_their_order_flips() -> None:
    okx, binance = _markets(FairParams(deviation_bps=3.0, reversion=0.01))
    o, b = okx.markets["BTC-USDT"], binance.markets["BTC-USDT"]
    signs = set()
    for _ in range(2000):
        okx.step()
        binance.step()
        okx_price = o.spec.tick.to_float(1) * o.fair
        binance_price = b.spec.tick.to_float(1) * b.fair
        gap_bps = (binance_price / okx_price - 1) * 1e4
        assert abs(gap_bps) < 25, "the venues drifted apart"
        signs.add(gap_bps > 0)
    assert signs == {True, False}, "one venue was always above the other"
    assert abs(o.spec.tick.to_float(1) * o.fair / 60_000 - 1) > 1e-5  # and the price moved


def test_the_same_seed_gives_the_same_markets() -> None:
    first, second = _markets(FairParams()), _markets(FairParams())
    for _ in range(300):
        for market in (*first, *second):
            market.step()
    assert [m.fair_price("BTC-USDT") for m in first] == [m.fair_price("BTC-USDT") for m in second]
    assert first[0].engine("BTC-USDT").best_bid() == second[0].engine("BTC-USDT").best_bid()


def test_the_sim_server_shares_the_fair_price_only_across_venues() -> None:
    config = SimulatorConfig(port=0, seed=5)
    alone = SimServer(config)
    assert alone.okx.market.shared is None  # OKX alone walks as it always did
    three = SimServer(config, venues=("okx", "binance", "coinbase"))
    shared = three.okx.market.shared
    assert shared is not None
    assert three.binance.market.shared is shared and three.coinbase.market.shared is shared
    assert list(three.simulators) == ["okx", "binance", "coinbase"]
