"""The synthetic market: seeded, realistic-looking books and trades; exact formatting."""

from __future__ import annotations

import statistics

import pytest

from desk.core.enums import Side
from desk.sim.instruments import DEFAULT_INSTRUMENTS, InstrumentSpec, Step, format_scaled
from desk.sim.market import FlowParams, SyntheticMarket

BTC = "BTC-USDT"


def snapshot(market: SyntheticMarket) -> dict[str, object]:
    return {
        inst: (
            market.engine(inst).depth(Side.BUY),
            market.engine(inst).depth(Side.SELL),
            market.fair_price(inst),
        )
        for inst in market.inst_ids
    }


def run(market: SyntheticMarket, steps: int) -> list[object]:
    trades: list[object] = []
    for i in range(steps):
        market.step(ts_ms=i)
        for inst in market.inst_ids:
            trades += market.drain_trades(inst)
    return trades


@pytest.fixture(scope="module")
def warmed() -> tuple[SyntheticMarket, list[object], list[dict[str, float]]]:
    """3,000 steps of the default market, sampled every 20 steps."""
    market = SyntheticMarket(seed=5)
    samples: list[dict[str, float]] = []
    trades: list[object] = []
    for i in range(3000):
        market.step(ts_ms=i)
        trades += market.drain_trades(BTC)
        if i % 20 == 0:
            e = market.engine(BTC)
            samples.append(
                {
                    "bids": len(e.bids.prices),
                    "asks": len(e.asks.prices),
                    "spread": e.best_ask() - e.best_bid(),
                    "orders_per_level": len(e.orders) / (len(e.bids.prices) + len(e.asks.prices)),
                }
            )
    return market, trades, samples


def test_same_seed_and_steps_give_identical_books_and_trades() -> None:
    a, b = SyntheticMarket(seed=42), SyntheticMarket(seed=42)
    assert run(a, 400) == run(b, 400)
    assert snapshot(a) == snapshot(b)


def test_different_seeds_differ() -> None:
    a, b = SyntheticMarket(seed=1), SyntheticMarket(seed=2)
    run(a, 50)
    run(b, 50)
    assert snapshot(a) != snapshot(b)


def test_default_instruments_start_near_their_prices() -> None:
    market = SyntheticMarket()
    assert market.inst_ids == ("BTC-USDT", "ETH-USDT", "SOL-USDT")
    for spec, approx in zip(DEFAULT_INSTRUMENTS, (60000, 3000, 150), strict=True):
        bid = market.engine(spec.inst_id).best_bid()
        assert bid is not None
        assert abs(spec.tick.to_float(bid) - approx) / approx < 0.001


def test_book_depth_spread_and_queue_look_like_a_real_book(warmed) -> None:
    _, _, samples = warmed
    assert max(max(s["bids"], s["asks"]) for s in samples) <= 150
    assert 50 <= statistics.median(s["bids"] for s in samples) <= 150
    assert 50 <= statistics.median(s["asks"] for s in samples) <= 150
    assert min(s["spread"] for s in samples) >= 1, "the book must never cross"
    assert statistics.median(s["spread"] for s in samples) <= 10
    assert statistics.mean(s["orders_per_level"] for s in samples) > 1.3


def test_sizes_grow_away_from_the_touch(warmed) -> None:
    market, _, _ = warmed
    bids = market.engine(BTC).depth(Side.BUY)
    near = statistics.mean(z / n for _, z, n in bids[:10])
    far = statistics.mean(z / n for _, z, n in bids[-10:])
    assert far > 2 * near


def test_takers_trade_with_heavy_tailed_sizes_that_walk_the_book(warmed) -> None:
    _, trades, _ = warmed
    assert len(trades) > 100
    sizes = sorted(t.size for t in trades)
    assert sizes[-1] > 10 * statistics.median(sizes)
    ids = [t.trade_id for t in trades]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    walked = {}
    for t in trades:
        walked.setdefault((t.ts_ms, t.side), set()).add(t.price)
    assert max(len(prices) for prices in walked.values()) >= 2
    for t in trades:
        assert t.count == len(t.fills) and t.size == sum(sz for _, sz in t.fills)
        assert t.trade_id == t.fills[-1][0]


def test_drained_changes_rebuild_the_engine_book() -> None:
    market = SyntheticMarket(seed=9)
    inst = market.markets[BTC]
    replica = {(s, p): (z, n) for s in Side for p, z, n in inst.engine.depth(s)}
    for _ in range(300):
        market.step()
        for key, value in market.drain_changes(BTC).items():
            if value[0]:
                replica[key] = value
            else:
                replica.pop(key, None)
    engine = market.engine(BTC)
    assert replica == {(s, p): (z, n) for s in Side for p, z, n in engine.depth(s)}


def test_stats_follow_the_trades(warmed) -> None:
    market, trades, _ = warmed
    stats = market.stats(BTC)
    assert stats.low <= stats.last <= stats.high
    assert stats.low <= stats.open <= stats.high
    assert stats.volume == sum(t.size for t in trades)
    assert stats.last == trades[-1].price and stats.last_size == trades[-1].size


def test_volatility_regimes_switch_and_prices_jump() -> None:
    params = FlowParams(regime_switch_prob=0.05, jump_prob=0.05)
    market = SyntheticMarket([DEFAULT_INSTRUMENTS[2]], seed=3, params=params)
    inst = market.markets["SOL-USDT"]
    regimes = set()
    for _ in range(300):
        market.step()
        regimes.add(inst.regime)
    assert len(regimes) >= 2


def test_custom_instruments_are_supported() -> None:
    spec = InstrumentSpec("DOGE-USDC", "0.00001", "1", "10", "0.15", 42, order_notional=500)
    market = SyntheticMarket([spec], seed=1)
    run(market, 200)
    engine = market.engine("DOGE-USDC")
    assert engine.best_bid() is not None and engine.best_ask() is not None
    assert all(z >= 10 for _, z, _ in engine.depth(Side.BUY))
    assert spec.base_ccy == "DOGE" and spec.quote_ccy == "USDC"


def test_bad_instrument_definitions_are_refused() -> None:
    with pytest.raises(ValueError):
        InstrumentSpec("BTCUSDT", "0.1", "0.001", "0.001", "100", 1)
    with pytest.raises(ValueError):
        InstrumentSpec("BTC-USDT", "0.1", "0.001", "0.0015", "100", 1)
    with pytest.raises(ValueError):
        SyntheticMarket([DEFAULT_INSTRUMENTS[0], DEFAULT_INSTRUMENTS[0]])
    with pytest.raises(ValueError):
        SyntheticMarket([])


@pytest.mark.parametrize(
    ("step", "units", "text"),
    [
        ("0.1", 600123, "60012.3"),
        ("0.1", 600120, "60012"),
        ("0.00000001", 1234567, "0.01234567"),
        ("0.00000001", 12060306, "0.12060306"),
        ("0.01", 847700, "8477"),
        ("0.001", 1, "0.001"),
        ("0.5", 3, "1.5"),
        ("5", 3, "15"),
        ("10", 2, "20"),
        ("1", 0, "0"),
    ],
)
def test_steps_format_exact_minimal_decimals(step: str, units: int, text: str) -> None:
    parsed = Step.parse(step)
    assert parsed.format(units) == text
    assert parsed.units(text) == units


def test_units_refuse_values_off_the_step() -> None:
    with pytest.raises(ValueError):
        Step.parse("0.1").units("1.05")
    with pytest.raises(ValueError):
        Step.parse("0")


def test_format_scaled_handles_signs_and_padding() -> None:
    assert format_scaled(5, 3) == "0.005"
    assert format_scaled(-1250, 2) == "-12.5"
    assert format_scaled(42, 0) == "42"
    spec = DEFAULT_INSTRUMENTS[0]
    assert spec.notional_str(600000 * 100000000) == "60000"
