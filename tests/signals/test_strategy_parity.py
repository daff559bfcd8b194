"""Backtest and live agree: ``signals(df)`` equals ``on_candle`` fed the same candles one by one.

DESIGN.md section 5 asks for this proof. The batch path uses the numba array kernels and
vectorised event tests, the streaming path the O(1) updaters and scalar tests, so any drift in
either (an off-by-one warm-up, a tie handled differently) shows up here as a different signal.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.core.events import Candle
from desk.signals.signal import Signal
from desk.signals.strategies import STRATEGIES, create_strategy
from desk.signals.strategy import STATE_OF_DIRECTION, BaseStrategy

MINUTE = 60_000_000_000
TOL = 1e-9

CASES: list[tuple[str, dict[str, Any]]] = [
    ("ma_crossover", {}),
    ("ma_crossover", {"fast": 3, "slow": 8, "kind": "ema"}),
    ("rsi_mean_reversion", {}),
    ("rsi_mean_reversion", {"n": 5, "oversold": 25, "overbought": 75, "exit": 55}),
    ("macd_trend", {}),
    ("macd_trend", {"fast": 5, "slow": 13, "signal": 4, "zero_filter": True}),
    ("bollinger_breakout", {}),
    ("bollinger_breakout", {"n": 10, "k": 1.5}),
    (
        "combination",
        {
            "min_agree": 2,
            "children": [
                {"name": "ma_crossover", "params": {"fast": 5, "slow": 20}},
                {"name": "macd_trend"},
                {"name": "bollinger_breakout", "params": {"n": 10}},
            ],
        },
    ),
    (
        "combination",
        {"min_agree": 1, "children": [{"name": "rsi_mean_reversion"}, {"name": "macd_trend"}]},
    ),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def frame(close: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Candles around a close series: wicks and volume from the seed, ends one minute apart."""
    rng = np.random.default_rng(seed)
    n = len(close)
    opens = np.concatenate([[close[0]], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.002, (2, n))) * close
    return pd.DataFrame(
        {
            "end": (np.arange(n, dtype=np.int64) + 1) * MINUTE,
            "open": opens,
            "high": np.maximum(opens, close) + wick[0],
            "low": np.minimum(opens, close) - wick[1],
            "close": close,
            "volume": rng.uniform(0.0, 10.0, n),
        }
    )


def random_walk(seed: int, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return frame(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n))), seed)


def candles(df: pd.DataFrame, symbol: str = "BTC-USDT", timeframe: str = "1m") -> list[Candle]:
    return [
        Candle(
            ts_exchange=int(r.end),
            ts_recv=int(r.end),
            venue="sim",
            symbol=symbol,
            timeframe=timeframe,
            end=int(r.end),
            open=float(r.open),
            high=float(r.high),
            low=float(r.low),
            close=float(r.close),
            volume=float(r.volume),
            quote_volume=float(r.volume * r.close),
            trades=1,
            closed=True,
        )
        for r in df.itertuples()
    ]


def streamed(strategy: BaseStrategy, df: pd.DataFrame) -> list[Signal]:
    out = (strategy.on_candle(c) for c in candles(df))
    return [s for s in out if s is not None]


def assert_same(batch: list[Signal], live: list[Signal]) -> None:
    assert [(s.ts, s.direction) for s in batch] == [(s.ts, s.direction) for s in live]
    for b, s in zip(batch, live, strict=True):
        assert abs(b.strength - s.strength) <= TOL
        assert 0.0 <= b.strength <= 1.0
        assert b.price == s.price
        assert b.indicators.keys() == s.indicators.keys()
        for k, v in b.indicators.items():
            assert abs(v - s.indicators[k]) <= TOL * max(1.0, abs(v)), k
        assert (b.symbol, b.timeframe, b.strategy) == (s.symbol, s.timeframe, s.strategy)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_streaming_matches_batch_on_a_random_walk(
    name: str, params: dict[str, Any], seed: int
) -> None:
    df = random_walk(seed)
    batch = create_strategy(name, params).signals(df, symbol="BTC-USDT", timeframe="1m")
    assert len(batch) >= 5, "the series should exercise the strategy"
    assert_same(batch, streamed(create_strategy(name, params), df))


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_streamed_signal_is_the_one_emit_builds(name: str, params: dict[str, Any]) -> None:
    """``on_candle`` builds its Signal itself: field for field (floats bit for bit) what
    ``_emit`` (the batch path's builder) makes of the same bar and values."""
    strategy = create_strategy(name, params)
    found = 0
    for candle in candles(random_walk(4, 1500), symbol="ETH-USDT", timeframe="5m"):
        sig = strategy.on_candle(candle)
        if sig is None:
            continue
        found += 1
        state = STATE_OF_DIRECTION[sig.direction]
        assert strategy.state == state and strategy.strength == sig.strength
        built = strategy._emit(state, candle.end, candle.close, sig.indicators, "ETH-USDT", "5m")
        assert msgspec.msgpack.encode(sig) == msgspec.msgpack.encode(built)
        assert type(sig.direction) is type(built.direction)
    assert found > 0


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_reset_replays_the_same_signals(name: str, params: dict[str, Any]) -> None:
    df = random_walk(7, 600)
    strategy = create_strategy(name, params)
    first = streamed(strategy, df)
    strategy.reset()
    assert streamed(strategy, df) == first


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_process_data_gives_the_last_bars_signal(name: str, params: dict[str, Any]) -> None:
    df = random_walk(4, 800)
    strategy = create_strategy(name, params)
    indexed = strategy.indexed_signals(df)
    row = indexed[len(indexed) // 2][0]
    assert strategy.process_data(df.iloc[: row + 1]) == indexed[len(indexed) // 2][1]
    quiet = next(i for i in range(row + 1, len(df)) if i not in {r for r, _ in indexed})
    assert strategy.process_data(df.iloc[: quiet + 1]) is None


def _closes(draw: st.DrawFn) -> np.ndarray:
    """Log-price walks with flat runs (ties) and jumps, 50 to 400 bars."""
    steps: list[float] = []
    while len(steps) < draw(st.integers(50, 400)):
        kind = draw(st.sampled_from(["walk", "flat", "jump"]))
        if kind == "walk":
            steps += draw(st.lists(st.floats(-0.03, 0.03), min_size=1, max_size=40))
        elif kind == "flat":
            steps += [0.0] * draw(st.integers(1, 30))
        else:
            steps.append(draw(st.floats(-0.5, 0.5)))
    return 100.0 * np.exp(np.cumsum(steps))


@st.composite
def series(draw: st.DrawFn) -> np.ndarray:
    return _closes(draw)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@settings(deadline=None, max_examples=30, derandomize=True)
@given(close=series())
def test_streaming_matches_batch_on_generated_series(
    name: str, params: dict[str, Any], close: np.ndarray
) -> None:
    df = frame(close)
    batch = create_strategy(name, params).signals(df, symbol="BTC-USDT", timeframe="1m")
    assert_same(batch, streamed(create_strategy(name, params), df))


def test_every_registered_strategy_has_a_parity_case() -> None:
    # lstm needs a checkpoint: its batch = live test is in tests/signals/test_lstm_strategy.py
    # arbitrage trades books across venues, not candles: tests/signals/test_arbitrage.py
    assert {name for name, _ in CASES} == set(STRATEGIES) - {"lstm", "arbitrage"}


def test_open_candles_and_ticks_do_not_move_the_strategy() -> None:
    df = random_walk(5, 400)
    bars = candles(df)
    plain = create_strategy("ma_crossover", {"fast": 3, "slow": 8})
    noisy = create_strategy("ma_crossover", {"fast": 3, "slow": 8})
    got_plain, got_noisy = [], []
    for bar in bars:
        got_plain.append(plain.on_candle(bar))
        forming = msgspec.structs.replace(bar, closed=False, close=bar.close * 1.5)
        assert noisy.on_candle(forming) is None
        assert noisy.on_trade(None) is None  # type: ignore[arg-type]
        assert noisy.on_book(None) is None  # type: ignore[arg-type]
        got_noisy.append(noisy.on_candle(bar))
    assert got_noisy == got_plain
    assert any(s is not None for s in got_plain)
