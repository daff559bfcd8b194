"""Grid parsing, constraints, refusals and random search."""

from __future__ import annotations

import pytest

from desk.backtest.config import BacktestError
from desk.backtest.grid import Grid, parse_axis, parse_constraint
from desk.backtest.run import make_strategy, parse_params


def test_ranges_lists_and_decimal_steps() -> None:
    assert parse_axis("fast=5:50:5") == ("fast", [5, 10, 15, 20, 25, 30, 35, 40, 45, 50])
    assert parse_axis("n=3:5") == ("n", [3, 4, 5])
    assert parse_axis("full_gap=0.1:0.3:0.1") == ("full_gap", [0.1, 0.2, 0.3])
    assert parse_axis("kind=sma,ema") == ("kind", ["sma", "ema"])
    assert parse_axis("zero_filter=true,false") == ("zero_filter", [True, False])


def test_the_issue_grid_with_its_constraint() -> None:
    grid = Grid.parse(["fast=5:50:5", "slow=20:200:10", "fast<slow"])
    assert grid.total == 10 * 19
    kept = grid.indices("ma_crossover")
    combos = [grid.params(int(i)) for i in kept]
    assert all(c["fast"] < c["slow"] for c in combos)
    # every (fast, slow) with fast < slow: fast=20..50 lose the slows at or below them
    assert len(kept) == sum(1 for f in range(5, 51, 5) for s in range(20, 201, 10) if f < s)
    assert grid.params(0) == {"fast": 5, "slow": 20}
    assert grid.params(19) == {"fast": 10, "slow": 20}


def test_constraints_from_the_option_and_numbers() -> None:
    grid = Grid.parse(["fast=5:10 slow=8:12"], ["fast<slow", "slow!=10", "fast>=6"])
    for i in grid.indices("ma_crossover"):
        p = grid.params(int(i))
        assert 6 <= p["fast"] < p["slow"] and p["slow"] != 10
    assert str(parse_constraint("a <= 3")) == "a<=3"


@pytest.mark.parametrize(
    ("entries", "constraints", "message"),
    [
        (["fast=5:50:5 slow=20:200:10"], [], r"combination \{'fast': 20, 'slow': 20\} is refused"),
        (["fast=50:60 slow=20:30", "fast<slow"], [], "no combination that meets the constraints"),
        (["fast=10:5"], [], "is empty"),
        (["speed=1:3"], [], "ma_crossover has no parameter 'speed'"),
        (["fast=5:6"], ["fast<<slow"], "bad constraint"),
        (["fast=5:6"], ["fast<wrong"], "has no parameter 'wrong'"),
        ([], [], "names no parameter"),
        (["fast=5:6", "fast=7"], [], "given twice"),
        (["fast="], [], "bad grid entry"),
    ],
)
def test_bad_grids_are_refused(entries, constraints, message) -> None:
    with pytest.raises(BacktestError, match=message):
        Grid.parse(entries, constraints).indices("ma_crossover")


def test_random_search_is_seeded_and_within_the_grid() -> None:
    grid = Grid.parse(["fast=2:40 slow=10:100 fast<slow"])
    a = grid.indices("ma_crossover", sample=25, seed=4)
    b = grid.indices("ma_crossover", sample=25, seed=4)
    c = grid.indices("ma_crossover", sample=25, seed=5)
    assert len(a) == 25 and a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert set(a.tolist()) <= set(grid.indices("ma_crossover").tolist())
    assert len(grid.indices("ma_crossover", sample=10**6)) == len(grid.indices("ma_crossover"))


def test_unknown_strategy_and_parameter_messages() -> None:
    with pytest.raises(BacktestError, match=r"unknown strategy 'nope'; known: .*ma_crossover"):
        make_strategy("nope", {})
    with pytest.raises(BacktestError, match=r"has no parameter 'speed'; it takes: fast, slow"):
        make_strategy("ma_crossover", {"speed": 3})
    with pytest.raises(BacktestError, match="`fast` must be shorter"):
        make_strategy("ma_crossover", {"fast": 30, "slow": 10})
    assert parse_params("fast=10,slow=30,kind=ema") == {"fast": 10, "slow": 30, "kind": "ema"}
    assert parse_params('{"fast": 3}') == {"fast": 3}
    with pytest.raises(BacktestError, match="name=value"):
        parse_params("fast")
