"""Many series at once in threads give exactly the numbers of one-at-a-time calls."""

from __future__ import annotations

import numpy as np

from desk.signals import indicators as ind
from desk.signals.batch import indicator_table


def test_threaded_table_equals_sequential_and_the_single_functions() -> None:
    rng = np.random.default_rng(9)
    series = {}
    for key in [("BTC-USDT", "1m"), ("BTC-USDT", "5m"), ("ETH-USDT", "1m"), ("SOL-USDT", "1h")]:
        close = 100 + np.cumsum(rng.normal(0, 1, 300))
        series[key] = {"close": close, "high": close + 0.5, "low": close - 0.5}
    threaded = indicator_table(series, workers=4)
    sequential = indicator_table(series, workers=1)
    assert list(threaded) == list(series)
    for key, values in threaded.items():
        for name, arr in values.items():
            np.testing.assert_array_equal(arr, sequential[key][name], err_msg=f"{key} {name}")
        close = series[key]["close"]
        np.testing.assert_array_equal(values["rsi_14"], ind.rsi(close, 14))
        np.testing.assert_array_equal(values["bb_lower"], ind.bollinger(close, 20, 2.0)[2])
        assert len(values) == 12
