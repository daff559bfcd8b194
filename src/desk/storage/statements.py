"""Every statement the SQLite writer runs, with the table it fills and the checks on its values.

The writer checks a row before it is written (:meth:`Statement.problem`), so a NaN, an
infinity, a negative size or a value of the wrong type never reaches a table: the row goes to
``dead_letters`` with the reason instead. The checks mirror the schema (a test holds the columns
and their NOT NULLs to it) and add what SQLite cannot say: finite numbers, positive prices,
non-negative sizes, a candle's low below its high.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from desk.storage import schema

Check = Callable[[Any], str]
"""A column's check: "" when the value may be stored, else why not."""


INT64_MIN, INT64_END = -(2**63), 2**63
INF = math.inf

# Each check answers the common case (the right type, a sane value) with one comparison and
# only then works out the reason: the writer checks every row on the event loop.


class Checked(tuple[Any, ...]):
    """Row parameters whose builder already held them to their statement's checks, while the
    values were still typed (a Decimal is checked as a Decimal, before it became text): the
    writer does not check them again. The builders of the order path use it
    (``storage/sqlite.py``); a builder that finds a doubtful value hands over a plain tuple
    instead, and the writer's checks say what is wrong with it."""

    __slots__ = ()


def _type_name(value: Any) -> str:
    return type(value).__name__


def text(value: Any) -> str:
    return "" if type(value) is str else f"expected text, got {_type_name(value)}"


def json_text(value: Any) -> str:
    if type(value) is not str:
        return f"expected JSON text, got {_type_name(value)}"
    try:
        msgspec.json.decode(value)
    except msgspec.DecodeError:
        return "not valid JSON"
    return ""


def integer(value: Any) -> str:
    if type(value) is int and INT64_MIN <= value < INT64_END:
        return ""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected an integer, got {_type_name(value)}"
    if not INT64_MIN <= value < INT64_END:
        return f"integer out of range: {value}"
    return ""


def non_negative_integer(value: Any) -> str:
    if type(value) is int and 0 <= value < INT64_END:
        return ""
    return integer(value) or f"must be >= 0, got {value}"


def flag(value: Any) -> str:
    if value == 0 or value == 1:
        return integer(value)
    return integer(value) or f"must be 0 or 1, got {value}"


def real(value: Any) -> str:
    kind = type(value)
    if (kind is float and -INF < value < INF) or kind is int:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"expected a number, got {_type_name(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"not a finite number ({value})"
    return ""


def positive_real(value: Any) -> str:
    if type(value) is float and 0 < value < INF:
        return ""
    return real(value) or ("" if value > 0 else f"must be > 0, got {value}")


def non_negative_real(value: Any) -> str:
    if type(value) is float and 0 <= value < INF:
        return ""
    return real(value) or ("" if value >= 0 else f"must be >= 0, got {value}")


def _decimal(value: Any) -> Decimal | str:
    if not isinstance(value, str):
        return f"expected a decimal string, got {_type_name(value)}"
    try:
        number = Decimal(value)
    except InvalidOperation:
        return f"not a decimal number: {value[:40]!r}"
    return number if number.is_finite() else f"not a finite number ({value})"


def decimal(value: Any) -> str:
    number = _decimal(value)
    return number if isinstance(number, str) else ""


def positive_decimal(value: Any) -> str:
    number = _decimal(value)
    if isinstance(number, str):
        return number
    return "" if number > 0 else f"must be > 0, got {value}"


def non_negative_decimal(value: Any) -> str:
    number = _decimal(value)
    if isinstance(number, str):
        return number
    return "" if number >= 0 else f"must be >= 0, got {value}"


def optional(check: Check) -> Check:
    """A nullable column: None, or a value that passes ``check``."""

    def nullable(value: Any) -> str:
        return "" if value is None else check(value)

    nullable.nullable = True  # type: ignore[attr-defined]
    return nullable


def is_nullable(check: Check) -> bool:
    return bool(getattr(check, "nullable", False))


@dataclass(frozen=True, slots=True, eq=False)
class Statement:
    """One statement, the table it writes and a check per bound value (in order).

    ``row_check`` looks at the whole row once every column passed (e.g. a candle's low <= high);
    it reads values by column name through :meth:`value`. Compared by identity: the writer
    groups the rows of one statement. ``latest_by``: the statement stores a row's latest state
    (an upsert whose every change is the new row, keyed by this column), so within one batch
    only the last row per key needs writing.
    """

    table: str
    sql: str
    columns: tuple[tuple[str, Check], ...]
    row_check: Callable[[Statement, tuple[Any, ...]], str] | None = None
    latest_by: int | None = None
    _plan: tuple[tuple[str, Check, bool], ...] = field(init=False, repr=False)
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        plan = tuple((name, check, is_nullable(check)) for name, check in self.columns)
        object.__setattr__(self, "_plan", plan)
        object.__setattr__(self, "_index", {name: i for i, (name, _) in enumerate(self.columns)})

    def value(self, params: tuple[Any, ...], name: str) -> Any:
        return params[self._index[name]]

    def problem(self, params: tuple[Any, ...]) -> str:
        """Why ``params`` may not be written ("" when they may)."""
        if len(params) != len(self._plan):
            return f"expected {len(self._plan)} values, got {len(params)}"
        for (name, check, nullable), value in zip(self._plan, params, strict=False):
            if value is None:
                if nullable:
                    continue
                return f"{name}: missing (NOT NULL)"
            reason = check(value)
            if reason:
                return f"{name}: {reason}"
        if self.row_check is not None:
            return self.row_check(self, params)
        return ""

    def as_dict(self, params: tuple[Any, ...]) -> dict[str, Any]:
        """Column name -> value; values past the known columns are kept under their index."""
        named = {name: value for (name, _), value in zip(self.columns, params, strict=False)}
        for index in range(len(self.columns), len(params)):
            named[f"#{index}"] = params[index]
        return named


def _candle_shape(statement: Statement, params: tuple[Any, ...]) -> str:
    low, high = statement.value(params, "low"), statement.value(params, "high")
    if low > high:
        return f"low {low} > high {high}"
    for name in ("open", "close"):
        value = statement.value(params, name)
        if not low <= value <= high:
            return f"{name} {value} outside low..high ({low}..{high})"
    return ""


def _order_values(statement: Statement, params: tuple[Any, ...]) -> str:
    """A refused order is stored as it was asked (its size may be what was wrong with it);
    any other order has a positive size and, if priced, a positive price."""
    if statement.value(params, "status") == "rejected":
        return ""
    for name, check in (("size", positive_decimal), ("price", optional(positive_decimal))):
        reason = check(statement.value(params, name))
        if reason:
            return f"{name}: {reason}"
    return ""


CANDLE = Statement(
    "candles",
    schema.UPSERT_CANDLE,
    (
        ("venue", text),
        ("symbol", text),
        ("timeframe", text),
        ("end_ns", non_negative_integer),
        ("open", positive_real),
        ("high", positive_real),
        ("low", positive_real),
        ("close", positive_real),
        ("volume", non_negative_real),
        ("quote_volume", non_negative_real),
        ("trades", non_negative_integer),
    ),
    _candle_shape,
)

SYSTEM_EVENT = Statement(
    "system_events",
    schema.INSERT_SYSTEM_EVENT,
    (
        ("ts_ns", integer),
        ("source", text),
        ("kind", text),
        ("severity", text),
        ("symbol", text),
        ("message", text),
    ),
)

INSTRUMENT = Statement(
    "instruments",
    schema.UPSERT_INSTRUMENT,
    (
        ("venue", text),
        ("symbol", text),
        ("base", text),
        ("quote", text),
        ("tick_size", positive_decimal),
        ("lot_size", positive_decimal),
        ("min_size", non_negative_decimal),
        ("state", text),
        ("updated_ns", integer),
    ),
)

BOT_SIGNAL = Statement(
    "bot_signals",
    schema.INSERT_BOT_SIGNAL,
    (
        ("ts_ns", integer),
        ("recorded_ns", integer),
        ("bot_id", text),
        ("symbol", text),
        ("timeframe", text),
        ("strategy", text),
        ("direction", text),
        ("strength", real),
        ("price", non_negative_real),
        ("indicators", json_text),
        ("reason", text),
        ("fate", text),
        ("order_id", text),
    ),
)

BOT_EVENT = Statement(
    "bot_events",
    schema.INSERT_BOT_EVENT,
    (
        ("ts_ns", integer),
        ("bot_id", text),
        ("kind", text),
        ("detail", json_text),
        ("actor", text),
    ),
)

BOT = Statement(
    "bots",
    schema.UPSERT_BOT,
    (
        ("bot_id", text),
        ("config", json_text),
        ("state", text),
        ("mode", text),
        ("updated_ns", integer),
    ),
)

ORDER = Statement(
    "orders",
    schema.UPSERT_ORDER,
    (
        ("client_order_id", text),
        ("venue_order_id", text),
        ("venue", text),
        ("bot_id", text),
        ("symbol", text),
        ("side", text),
        ("order_type", text),
        ("price", optional(text)),
        ("size", text),
        ("filled", non_negative_decimal),
        ("avg_price", non_negative_decimal),
        ("notional", non_negative_decimal),
        ("fee", decimal),
        ("fee_ccy", text),
        ("status", text),
        ("reason", text),
        ("reduce_only", flag),
        ("created_ns", integer),
        ("updated_ns", integer),
    ),
    _order_values,
    latest_by=0,  # client_order_id: the upsert sets every column that changes; the rest never do
)

ORDER_EVENT = Statement(
    "order_events",
    schema.INSERT_ORDER_EVENT,
    (
        ("ts_ns", integer),
        ("client_order_id", text),
        ("status", text),
        ("filled", non_negative_decimal),
        ("reason", text),
    ),
)

FILL = Statement(
    "fills",
    schema.INSERT_FILL,
    (
        ("ts_exchange", integer),
        ("ts_recv", integer),
        ("venue", text),
        ("client_order_id", text),
        ("trade_id", text),
        ("venue_order_id", text),
        ("bot_id", text),
        ("symbol", text),
        ("side", text),
        ("price", positive_decimal),
        ("size", positive_decimal),
        ("fee", decimal),
        ("fee_ccy", text),
        ("liquidity", text),
    ),
)

RISK_STATE = Statement(
    "risk_state",
    schema.UPSERT_RISK_STATE,
    (
        ("component", text),
        ("state", text),
        ("reason", text),
        ("actor", text),
        ("since_ns", integer),
        ("detail", json_text),
    ),
)

DEAD_LETTER = Statement(
    "dead_letters",
    schema.INSERT_DEAD_LETTER,
    (
        ("ts_ns", integer),
        ("table_name", text),
        ("row", json_text),
        ("error", text),
    ),
)

ALL = (
    CANDLE,
    SYSTEM_EVENT,
    INSTRUMENT,
    BOT_SIGNAL,
    BOT_EVENT,
    BOT,
    ORDER,
    ORDER_EVENT,
    FILL,
    RISK_STATE,
    DEAD_LETTER,
)
