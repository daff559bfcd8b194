"""The writer's checks mirror the schema and refuse the values the schema cannot."""

from __future__ import annotations

import math
import re
import sqlite3

import pytest

from desk.storage import schema, statements
from desk.storage.statements import Statement, is_nullable
from desk.storage.writer import EventThrottle, is_transient, row_json


def _table_columns() -> dict[str, dict[str, bool]]:
    """table -> column -> NOT NULL, from the real schema in an in-memory database.

    A primary key counts as NOT NULL: SQLite lets a TEXT key be NULL, desk never wants one."""
    db = sqlite3.connect(":memory:")
    db.executescript(schema.SCHEMA)
    tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {
        table: {row[1]: bool(row[3] or row[5]) for row in db.execute(f"PRAGMA table_info({table})")}
        for table in tables
    }


@pytest.mark.parametrize("statement", statements.ALL, ids=lambda s: s.table)
def test_each_statement_checks_the_columns_it_binds_and_their_not_nulls(
    statement: Statement,
) -> None:
    columns = _table_columns()[statement.table]
    bound = re.search(r"\(([^)]*)\)\s*VALUES", statement.sql)
    assert bound is not None
    names = [name.strip() for name in bound.group(1).split(",")]
    assert [name for name, _ in statement.columns] == names
    for name, check in statement.columns:
        assert is_nullable(check) == (not columns[name]), name


def _order(**values: object) -> tuple[object, ...]:
    row: dict[str, object] = {
        "client_order_id": "c1",
        "venue_order_id": "",
        "venue": "okx",
        "bot_id": "b1",
        "symbol": "BTC-USDT",
        "side": "buy",
        "order_type": "limit",
        "price": "50000",
        "size": "0.01",
        "filled": "0",
        "avg_price": "0",
        "notional": "0",
        "fee": "-0.01",
        "fee_ccy": "USDT",
        "status": "pending_new",
        "reason": "",
        "reduce_only": 0,
        "created_ns": 1,
        "updated_ns": 1,
    }
    row.update(values)
    return tuple(row.values())


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({}, ""),
        ({"price": None, "order_type": "market"}, ""),
        ({"size": "-1"}, "size: must be > 0, got -1"),
        ({"size": "NaN"}, "size: not a finite number (NaN)"),
        ({"price": "0"}, "price: must be > 0, got 0"),
        ({"filled": "-0.1"}, "filled: must be >= 0, got -0.1"),
        ({"fee": "abc"}, "fee: not a decimal number: 'abc'"),
        ({"reduce_only": 2}, "reduce_only: must be 0 or 1, got 2"),
        ({"created_ns": 1.5}, "created_ns: expected an integer, got float"),
        # a refused order is kept as it was asked: its bad size is why it was refused
        ({"size": "-1", "status": "rejected"}, ""),
    ],
)
def test_order_rows(values: dict[str, object], problem: str) -> None:
    assert statements.ORDER.problem(_order(**values)) == problem


def test_a_row_of_the_wrong_length_is_refused_and_kept_whole() -> None:
    assert statements.BOT_EVENT.problem((1, "b", "k")) == "expected 5 values, got 3"
    text = row_json(statements.BOT_EVENT, (1, "b", "k", "{}", "op", "extra"))
    assert '"#5":"extra"' in text


def test_rows_as_json_keep_non_finite_numbers_and_odd_types_readable() -> None:
    params = (1, "b", "kind", {"a": math.inf}, b"\x01\x02")
    text = row_json(statements.BOT_EVENT, params)
    assert '"detail":"{\'a\': inf}"' in text and '"actor":"0102"' in text


def test_transient_errors_are_the_databases_not_the_rows() -> None:
    assert is_transient(sqlite3.OperationalError("database is locked"))
    assert is_transient(sqlite3.OperationalError("disk I/O error"))
    assert not is_transient(sqlite3.IntegrityError("NOT NULL constraint failed: candles.low"))
    assert not is_transient(sqlite3.OperationalError("no such table: fills"))
    assert not is_transient(ValueError("bad"))


def test_throttle_reports_the_first_at_once_and_counts_the_rest() -> None:
    throttle = EventThrottle(60.0)
    assert throttle.offer("candles", now=0.0) == 1
    assert [throttle.offer("candles", now=t) for t in (1.0, 2.0, 3.0)] == [0, 0, 0]
    assert throttle.offer("fills", now=3.0) == 1  # another kind has its own allowance
    assert throttle.due(now=30.0) == {}
    assert throttle.due(now=61.0) == {"candles": 3}
    assert throttle.offer("candles", now=62.0) == 0  # the report at 61 s started a new interval
    assert throttle.offer("candles", now=125.0) == 2  # this one and the one held at 62 s
    assert throttle.held() == {}
