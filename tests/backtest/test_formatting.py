"""Metrics read as what they are; a short period annualised does not become a wall of digits."""

from __future__ import annotations

import pytest

from desk.backtest.formatting import fmt_metric


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("total_return", 0.0128, "+1.28%"),
        ("cagr", 0.42, "+42.00%"),
        ("cagr", 7.06e11, "+7.06e+13%"),  # four hours of +1.28%, annualised
        ("max_drawdown", 0.0195, "1.95%"),
        ("calmar", 2.5, "2.500"),
        ("calmar", 70634607581153.2, "7.06e+13"),
        ("sharpe", -1.23456, "-1.235"),
        ("final_equity", 10128.449, "10,128.45"),
        ("trades", 6.0, "6"),
        ("calmar", float("inf"), "inf"),
        ("sharpe", float("nan"), "-"),
    ],
)
def test_each_metric_reads_as_what_it_is(name: str, value: float, shown: str) -> None:
    assert fmt_metric(name, value) == shown
