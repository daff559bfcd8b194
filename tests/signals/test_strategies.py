"""The built-in strategies on price series whose crossings are known by hand, and the API."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest

from desk.signals import indicators as ind
from desk.signals.signal import Direction, Signal
from desk.signals.strategies import (
    STRATEGIES,
    BollingerBreakout,
    Combination,
    MacdTrend,
    MaCrossover,
    RsiMeanReversion,
    create_strategy,
)
from desk.signals.strategy import (
    EXIT_ANY,
    EXIT_LONG,
    EXIT_SHORT,
    LONG,
    NONE,
    SHORT,
    clamp01,
    transition,
)

L, S, F = Direction.LONG, Direction.SHORT, Direction.FLAT


def frame(close: list[float] | np.ndarray) -> pd.DataFrame:
    c = np.asarray(close, dtype=np.float64)
    n = len(c)
    return pd.DataFrame(
        {"end": np.arange(n) * 10, "open": c, "high": c, "low": c, "close": c, "volume": np.ones(n)}
    )


def events(signals: list[Signal]) -> list[tuple[int, Direction]]:
    """(row, direction) pairs; rows are recovered from ``end`` = row * 10."""
    return [(s.ts // 10, s.direction) for s in signals]


# ---- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("ma_crossover", {"fastt": 3}, "fastt"),
        ("ma_crossover", {"fast": "3"}, r"\$\.fast"),
        ("ma_crossover", {"fast": 0}, r"\$\.fast"),
        ("ma_crossover", {"fast": 5, "slow": 5}, "`fast` must be shorter"),
        ("ma_crossover", {"kind": "wma"}, r"\$\.kind"),
        ("ma_crossover", {"full_gap": 0}, r"\$\.full_gap"),
        ("ma_crossover", {"fast": True}, r"\$\.fast"),
        ("rsi_mean_reversion", {"oversold": 60}, "oversold"),
        ("rsi_mean_reversion", {"overbought": 100}, r"\$\.overbought"),
        ("macd_trend", {"zero_filter": "yes"}, r"\$\.zero_filter"),
        ("macd_trend", {"fast": 26}, "`fast` must be shorter"),
        ("bollinger_breakout", {"n": 1}, r"\$\.n"),
        ("bollinger_breakout", {"k": -1.0}, r"\$\.k"),
        ("combination", {"children": []}, r"\$\.children"),
        ("combination", {"min_agree": 3, "children": [{"name": "macd_trend"}]}, "min_agree"),
        ("combination", {"children": [{"name": "nope"}], "min_agree": 1}, r"children\[0\]"),
        (
            "combination",
            {"children": [{"name": "macd_trend", "params": {"signal": 0}}], "min_agree": 1},
            r"children\[0\].*\$\.signal",
        ),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(
    name: str, params: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        create_strategy(name, params)


def test_defaults_and_typed_frozen_params() -> None:
    s = MaCrossover({"fast": 3, "slow": 7, "full_gap": 1})
    assert (s.params.fast, s.params.slow, s.params.kind, s.params.full_gap) == (3, 7, "sma", 1.0)
    with pytest.raises(AttributeError):
        s.params.fast = 4
    assert RsiMeanReversion().params.exit == 50.0


def test_registry_and_unknown_name() -> None:
    assert set(STRATEGIES) == {
        "ma_crossover",
        "rsi_mean_reversion",
        "macd_trend",
        "bollinger_breakout",
        "combination",
        "lstm",  # the model: tests/signals/test_lstm_strategy.py
        "arbitrage",  # cross-venue legs, no candles: tests/signals/test_arbitrage.py
    }
    assert isinstance(create_strategy("macd_trend", {"zero_filter": True}), MacdTrend)
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        create_strategy("nope", {})


@pytest.mark.parametrize(
    ("state", "code", "new"),
    [
        (0, LONG, 1),
        (1, LONG, None),
        (-1, LONG, 1),
        (1, SHORT, -1),
        (1, EXIT_LONG, 0),
        (-1, EXIT_LONG, None),
        (-1, EXIT_SHORT, 0),
        (0, EXIT_SHORT, None),
        (1, EXIT_ANY, 0),
        (0, EXIT_ANY, None),
        (1, NONE, None),
    ],
)
def test_signals_only_on_state_changes(state: int, code: int, new: int | None) -> None:
    assert transition(state, code) == new


def test_clamp01_is_min_max_with_nan_as_zero() -> None:
    """The comparisons give what ``min(1.0, max(0.0, x))`` gives (NaN 0), -0.0 reading 0.0."""
    rng = np.random.default_rng(3)
    values = [*rng.normal(0.5, 1.0, 5000), *rng.uniform(-1e-300, 1e-300, 100)]
    values += [0.0, -0.0, 1.0, -1.0, 1.0 + 1e-16, np.nextafter(1.0, 0.0), np.inf, -np.inf, np.nan]
    for x in map(float, values):
        expected = 0.0 if np.isnan(x) else min(1.0, max(0.0, x))
        got = clamp01(x)
        assert got == expected and str(got) == str(expected), x


def test_signal_round_trips_through_msgpack() -> None:
    sig = MaCrossover({"fast": 2, "slow": 4}).signals(frame(MA_CLOSE), symbol="X", timeframe="1m")[
        0
    ]
    back = msgspec.msgpack.decode(msgspec.msgpack.encode(sig), type=Signal)
    assert back == sig
    assert (back.symbol, back.timeframe, back.strategy) == ("X", "1m", "ma_crossover")


# ---- hand-built series -----------------------------------------------------------------------

# SMA(2) - SMA(4): 0 at 3-4, +1 at 5 (cross up), 2, 1, 0 at 8, -2 at 9 (cross down), then 0 at
# 12-13 (touching without crossing: no signal).
MA_CLOSE = [10, 10, 10, 10, 10, 14, 14, 14, 14, 6, 6, 6, 6, 6]


def test_ma_crossover_signals_at_the_crossing_bars() -> None:
    s = MaCrossover({"fast": 2, "slow": 4})
    got = s.signals(frame(MA_CLOSE))
    assert events(got) == [(5, L), (9, S)]
    assert got[0].indicators == {"fast": 12.0, "slow": 11.0}
    assert got[0].strength == 1.0  # gap 1/11 is far above the 0.5 % full gap
    assert got[0].reason == "fast SMA 12 crossed above slow SMA 11"
    assert got[1].price == 6.0
    assert set(s.get_indicators()) == {"fast", "slow"}


def test_ma_crossover_strength_is_the_normalised_gap() -> None:
    got = MaCrossover({"fast": 2, "slow": 4, "full_gap": 0.5}).signals(frame(MA_CLOSE))
    assert got[0].strength == pytest.approx((12 - 11) / 11 / 0.5)
    assert got[1].strength == pytest.approx((12 - 10) / 12 / 0.5)


@pytest.mark.parametrize("kind", ["sma", "ema"])
def test_ma_crossover_reason_is_the_six_digit_text(kind: str) -> None:
    """The reason's template gives the text of ``format(x, ".6g")`` for any float, per side."""
    strategy = MaCrossover({"fast": 2, "slow": 4, "kind": kind})
    rng = np.random.default_rng(11)
    pairs = list(zip(rng.lognormal(4.0, 6.0, 3000), rng.lognormal(4.0, 6.0, 3000), strict=True))
    pairs += [(-x, y) for x, y in pairs[:500]]
    odd = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-300, 123456.5, 1234567.0, 5e-5, 60005.0]
    pairs += list(itertools.product(odd, repeat=2))
    word = kind.upper()
    for fast, slow in map(lambda pair: tuple(map(float, pair)), pairs):
        values = {"fast": fast, "slow": slow}
        for direction, side in ((L, "above"), (S, "below"), (F, "below")):
            if slow == 0.0:  # the gap is relative to slow
                with pytest.raises(ZeroDivisionError):
                    strategy._describe(direction, 1.0, values)
                continue
            strength, reason = strategy._describe(direction, 1.0, values)
            assert reason == f"fast {word} {fast:.6g} crossed {side} slow {word} {slow:.6g}"
            assert str(strength) == str(clamp01(abs(fast - slow) / abs(slow) / 0.005))


# Wilder RSI(2): nan nan 0 50 58.3 75 88.6 95.4 98.1 99.2 99.3 84.2 52.4 20.9 11.0 3.4 1.2
# 40.6 15.6 6.3 21.8
RSI_CLOSE = [10, 9, 8, 9, 9.2, 9.6, 10.2, 11, 12, 13, 13.2, 13.1, 12.9, 12.5, 12.2, 11.5, 10.5]
RSI_CLOSE += [11, 10, 8.8, 9]


def test_rsi_mean_reversion_entries_and_exits() -> None:
    got = RsiMeanReversion({"n": 2}).signals(frame(RSI_CLOSE))
    # 3: 0 -> 50 up through 30 (not through 50: it must go above); 4: 50 -> 58 up through 50
    # while long; 12: 84 -> 52 down through 70; 13: 52 -> 21 down through 50 while short;
    # 17: 1.2 -> 40.6 up through 30.
    assert events(got) == [(3, L), (4, F), (12, S), (13, F), (17, L)]
    assert got[0].indicators == {"rsi": 50.0}
    assert got[0].strength == 0.0  # entered right at the exit level: no room left
    assert got[1].strength == 1.0
    assert got[2].strength == pytest.approx((got[2].indicators["rsi"] - 50) / 20)
    assert got[2].reason.startswith("RSI 52.43 crossed down through overbought 70")


def test_rsi_jump_through_entry_and_exit_takes_no_position() -> None:
    # RSI(2): nan nan 0 50 75 87.5 93.75 46.9 23.4 11.7 55.9: 93.75 -> 46.9 crosses 70 and 50
    # in one bar, 11.7 -> 55.9 crosses 30 and 50: the reversion is over, no entry.
    got = RsiMeanReversion({"n": 2}).signals(frame([10, 9, 8, 9, 10, 11, 12, 11, 10, 9, 10]))
    assert events(got) == [(3, L), (4, F)]


def test_rsi_exit_needs_a_position() -> None:
    # RSI(2): nan nan 50 75 87.5 - crosses up through 50 at 3 with no position: no signal.
    got = RsiMeanReversion({"n": 2}).signals(frame([10, 10.5, 10, 10.5, 11]))
    assert events(got) == []


# Bollinger(4, 1): see the table in the test.
BB_CLOSE = [10, 10, 10, 10, 13, 13, 13, 12, 11, 10, 9, 8, 8, 9, 10, 10.5]


def test_bollinger_breakout_signals() -> None:
    got = BollingerBreakout({"n": 4, "k": 1.0}).signals(frame(BB_CLOSE))
    # 4: 13 > upper 12.05 from 10 <= 10; 7: 12 < lower 12.32 from 13 >= 10.95 (also below
    # the middle: the entry wins); 8-11 stay below the lower band: no new cross;
    # 13: 9 > middle 8.5 from 8 <= 8.75 while short, and 9 is not above upper 9.0: FLAT;
    # 14: 10 > upper 9.58 from 9 <= 9.0.
    assert events(got) == [(4, L), (7, S), (13, F), (14, L)]
    upper, middle, _ = ind.bollinger(np.asarray(BB_CLOSE, float), 4, 1.0)
    assert got[0].indicators["upper"] == upper[4]
    assert got[0].strength == pytest.approx((13 - middle[4]) / (2 * (upper[4] - middle[4])))
    assert got[2].strength == 1.0


def _sine(n: int = 300, period: int = 50) -> np.ndarray:
    return 100.0 + 10.0 * np.sin(2 * np.pi * np.arange(n) / period)


def test_macd_trend_crosses_follow_the_histogram_sign() -> None:
    close = _sine()
    got = MacdTrend({"fast": 3, "slow": 8, "signal": 3}).signals(frame(close))
    _, _, hist = ind.macd(close, 3, 8, 3)
    prev = np.concatenate([[np.nan], hist[:-1]])
    ups = np.flatnonzero((prev <= 0) & (hist > 0)).tolist()
    downs = np.flatnonzero((prev >= 0) & (hist < 0)).tolist()
    assert events(got) == sorted([(i, L) for i in ups] + [(i, S) for i in downs])
    dirs = [d for _, d in events(got)]
    assert len(dirs) >= 10
    assert all(a is not b for a, b in itertools.pairwise(dirs))  # they alternate
    # troughs of the sine are at 37.5 + 50k, peaks at 12.5 + 50k: MACD, a lagged slope, turns
    # up within a quarter period of each trough (and down near each peak).
    for i, d in events(got):
        phase = (i - (37.5 if d is L else 12.5)) % 50
        assert min(phase, 50 - phase) < 12.5


def test_macd_zero_filter_keeps_crosses_on_the_trend_side() -> None:
    close = _sine()
    plain = MacdTrend({"fast": 3, "slow": 8, "signal": 3}).signals(frame(close))
    filtered = MacdTrend({"fast": 3, "slow": 8, "signal": 3, "zero_filter": True}).signals(
        frame(close)
    )
    kept = [s for s in plain if (s.indicators["macd"] > 0) == (s.direction is L)]
    assert [(s.ts, s.direction) for s in filtered] == [(s.ts, s.direction) for s in kept]
    assert len(kept) < len(plain)


def test_combination_waits_for_agreement() -> None:
    children = [
        {"name": "ma_crossover", "params": {"fast": 2, "slow": 4}},
        {"name": "bollinger_breakout", "params": {"n": 4, "k": 1.0}},
    ]
    close = MA_CLOSE
    ma = events(MaCrossover({"fast": 2, "slow": 4}).signals(frame(close)))
    bb = events(BollingerBreakout({"n": 4, "k": 1.0}).signals(frame(close)))
    assert ma == [(5, L), (9, S)]
    assert bb == [(5, L), (9, S)]
    both = Combination({"min_agree": 2, "children": children})
    got = both.signals(frame(close))
    assert events(got) == [(5, L), (9, S)]
    assert got[0].reason == "2 of 2 agree long: ma_crossover, bollinger_breakout"
    assert got[0].strength == pytest.approx(
        (
            got[0].indicators["0.ma_crossover.strength"]
            + got[0].indicators["1.bollinger_breakout.strength"]
        )
        / 2
    )
    assert "0.ma_crossover.fast" in both.get_indicators()


def test_combination_goes_flat_when_agreement_is_lost() -> None:
    children = [
        {"name": "ma_crossover", "params": {"fast": 2, "slow": 4}},
        {"name": "rsi_mean_reversion", "params": {"n": 2}},
    ]
    df = frame(RSI_CLOSE)
    assert events(MaCrossover({"fast": 2, "slow": 4}).signals(df)) == [(4, L), (12, S)]
    # RSI: (3, L), (4, F), (12, S), (13, F), (17, L) - see the RSI test.
    two = Combination({"min_agree": 2, "children": children}).signals(df)
    assert events(two) == [(12, S), (13, F)]  # both short at 12; the RSI exits at 13
    values = two[0].indicators
    assert two[0].strength == pytest.approx(
        (values["0.ma_crossover.strength"] + values["1.rsi_mean_reversion.strength"]) / 2
    )
    assert two[1].strength == 1.0
    # min_agree 1: 3 RSI long; 4 MA long, RSI flat: still long, no signal; 12 both short;
    # 13 MA still short; 17 RSI long against MA short: a tie is no agreement -> FLAT.
    one = Combination({"min_agree": 1, "children": children}).signals(df)
    assert events(one) == [(3, L), (12, S), (17, F)]


def test_process_data_and_open_candles() -> None:
    s = MaCrossover({"fast": 2, "slow": 4})
    df = frame(MA_CLOSE)
    assert s.process_data(df.iloc[:6]).direction is L  # type: ignore[union-attr]
    assert s.process_data(df.iloc[:7]) is None
    assert s.process_data(df.iloc[:10]).direction is S  # type: ignore[union-attr]
