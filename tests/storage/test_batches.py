"""A batch leaves the queue as the rows it was: folded per order (the last state in the place of
the first), checked unless checked already, grouped per statement in their order; the queue
hands out and drops its rows in order across its compactions; and the writer does not chase a
steady trickle of rows with a commit each (they wait for a full batch or the next wake)."""

from __future__ import annotations

import asyncio
import math
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec

from desk.core.enums import Severity
from desk.core.events import SystemEvent
from desk.storage import statements, write_behind
from desk.storage.config import StorageConfig
from desk.storage.row_queue import RowQueue
from desk.storage.sqlite import SqliteStore
from desk.storage.statements import Statement
from desk.storage.writer import prepare


def _reference(
    rows: list[tuple[Statement, tuple[Any, ...], bool]],
) -> tuple[dict[Statement, list[tuple[Any, ...]]], list[tuple[Statement, tuple[Any, ...]]]]:
    """The rule written plainly: fold (last row of a key in the first one's place), check what
    was not checked, group per statement."""
    folded: list[tuple[Statement, tuple[Any, ...], bool] | None] = []
    where: dict[tuple[Statement, Any], int] = {}
    for statement, params, checked in rows:
        key = statement.latest_by
        if key is not None and len(params) > key:
            if (statement, params[key]) in where:
                folded[where[statement, params[key]]] = (statement, params, checked)
                continue
            where[statement, params[key]] = len(folded)
        folded.append((statement, params, checked))
    groups: dict[Statement, list[tuple[Any, ...]]] = {}
    dead = []
    for statement, params, checked in filter(None, folded):
        if not checked and statement.problem(params):
            dead.append((statement, params))
        else:
            groups.setdefault(statement, []).append(params)
    return groups, dead


def _order_row(cid: str, status: str, filled: str, size: str) -> tuple[Any, ...]:
    return (
        cid, "", "okx", "b1", "BTC-USDT", "buy", "limit", "100", size, filled, "0", "0", "0",
        "", status, "", 0, 1, 2,
    )  # fmt: skip


def _random_rows(rng: random.Random, count: int) -> list[tuple[Statement, tuple[Any, ...], bool]]:
    rows: list[tuple[Statement, tuple[Any, ...], bool]] = []
    if rng.random() < 0.3:  # a batch of checked rows only (the one-pass way)
        for i in range(count):
            cid = f"c{rng.randrange(12)}"
            if rng.random() < 0.5:
                rows.append((statements.ORDER, _order_row(cid, "live", str(i), "1"), True))
            else:
                rows.append((statements.ORDER_EVENT, (i, cid, "live", "0", ""), True))
        return rows
    for i in range(count):
        cid = f"c{rng.randrange(12)}"
        pick = rng.random()
        if pick < 0.5:
            size = rng.choice(["1", "1", "1", "-1"])  # some refused by the checks
            row = _order_row(cid, rng.choice(["live", "filled"]), str(i), size)
            rows.append((statements.ORDER, row, size == "1" and rng.random() < 0.5))
        elif pick < 0.8:
            event = (i, cid, "live", rng.choice(["0", "-2"]), "")
            rows.append((statements.ORDER_EVENT, event, False))
        else:
            row = (i, "src", "kind", "info", "", f"m{i}")
            rows.append((statements.SYSTEM_EVENT, row, rng.random() < 0.5))
    return rows


def test_a_batch_is_folded_checked_and_grouped_as_the_rule_says() -> None:
    rng = random.Random(5)
    for _ in range(200):
        rows = _random_rows(rng, rng.randrange(1, 60))
        columns = ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
        groups, dead = prepare(columns)
        want_groups, want_dead = _reference(rows)
        assert groups == want_groups
        assert list(groups) == list(want_groups)  # statements in the order they first came
        assert [(d.statement, d.params) for d in dead] == want_dead


def test_the_queue_keeps_its_order_across_drops_and_compactions() -> None:
    rng = random.Random(11)
    queue = RowQueue(compact_at=16)
    expected: list[int] = []
    number = 0
    for _ in range(300):
        for _ in range(rng.randrange(0, 20)):
            queue.append(statements.ORDER_EVENT, (number, "c", "live", "0", ""), number % 2 == 0)
            expected.append(number)
            number += 1
        assert len(queue) == len(expected)
        take = rng.randrange(0, len(expected) + 1)
        got, params, checked = queue.columns(take)
        assert [p[0] for p in params] == expected[:take]
        assert checked == [n % 2 == 0 for n in expected[:take]]
        assert got == [statements.ORDER_EVENT] * take
        queue.drop(take)
        del expected[:take]
    assert [p[0] for _, p in queue.take_all()] == expected
    assert not queue


async def test_rows_arriving_during_a_commit_wait_for_a_full_batch(tmp_path: Path) -> None:
    """A steady trickle must not make the writer commit a few rows at every turn of the loop
    (both threads pay for each commit): once the rows queued at its wake are written, rows that
    came meanwhile wait until they make a batch (or catch_up_interval); then they are written
    without a full batch."""
    config = StorageConfig(sqlite_path=str(tmp_path / "t.sqlite"), batch_size=10)
    store = SqliteStore(_slow(config))
    await store.open()
    original = write_behind.write_batch
    batches: list[int] = []

    async def write_and_trickle(db: Any, batch: Any, now_ns: int) -> Any:
        batches.append(len(batch[0]))
        for i in range(3):  # rows that arrive while this batch is being committed
            store.record_system_event(_event(f"late{i}"))
        return await original(db, batch, now_ns)

    write_behind.write_batch = write_and_trickle  # type: ignore[assignment]
    try:
        for i in range(10):  # a full batch wakes the writer
            store.record_system_event(_event(f"m{i}"))
        for _ in range(1000):
            if store.batches_written:
                break
            await asyncio.sleep(0.01)
        for _ in range(5):  # give it turns of the loop to (wrongly) go on writing
            await asyncio.sleep(0)
        assert batches == [10]
        assert store.backlog == 3
        store._wake.set()  # as catch_up_interval's end would (here: an hour)
        for _ in range(1000):
            if store.batches_written == 2:
                break
            await asyncio.sleep(0.01)
        assert batches == [10, 3]
    finally:
        write_behind.write_batch = original  # type: ignore[assignment]
    await store.flush()
    assert store.backlog == 0
    await store.close()


def _slow(config: StorageConfig, catch_up: float = 3600.0) -> StorageConfig:
    """``config`` with a flush interval no test outlives: only a full batch wakes the writer
    (or, if it is short, ``catch_up`` once rows were left over)."""
    return msgspec.structs.replace(config, flush_interval=3600.0, catch_up_interval=catch_up)


def _event(message: str) -> SystemEvent:
    return SystemEvent(
        ts_exchange=0, ts_recv=1, source="t", kind="k", message=message, severity=Severity.INFO
    )


def test_a_signal_row_is_marked_checked_exactly_when_the_writer_would_pass_it() -> None:
    rng = random.Random(3)
    store = SqliteStore(StorageConfig(sqlite_path=":memory:"))

    def pick(good: Any, *bad: Any) -> Any:
        return good if rng.random() < 0.88 else rng.choice(bad)

    outcomes = set()
    for _ in range(600):
        signal = SimpleNamespace(
            ts=pick(1, 2**63, 1.5, True),
            symbol=pick("BTC-USDT", 7),
            timeframe="1m",
            strategy="ma",
            direction="long",
            strength=pick(0.5, -1.0, math.nan, math.inf, 3),
            price=pick(100.0, 0.0, -1.0, math.nan, math.inf),
            indicators={"fast": pick(1.0, math.nan)},
            reason=pick("", None),
        )
        store.record_signal(
            bot_id=pick("b1", 3),
            signal=signal,
            fate="sent",
            recorded_ns=pick(5, 2**64),
            order_id=pick("", None),
        )
        (statement,), (params,), (checked,) = store._pending.columns(1)
        store._pending.drop(1)
        assert checked == (statement.problem(params) == "")
        outcomes.add(checked)
    assert outcomes == {True, False}


async def test_rows_left_over_are_written_within_the_catch_up_interval(tmp_path: Path) -> None:
    config = StorageConfig(sqlite_path=str(tmp_path / "t.sqlite"), batch_size=10)
    store = SqliteStore(_slow(config, catch_up=0.01))
    await store.open()
    original = write_behind.write_batch
    late = 0

    async def write_and_trickle(db: Any, batch: Any, now_ns: int) -> Any:
        nonlocal late
        if not late:
            late = 3
            for i in range(late):
                store.record_system_event(_event(f"late{i}"))
        return await original(db, batch, now_ns)

    write_behind.write_batch = write_and_trickle  # type: ignore[assignment]
    try:
        for i in range(10):
            store.record_system_event(_event(f"m{i}"))
        for _ in range(1000):  # not an hour: catch_up_interval
            if store.rows_written == 13:
                break
            await asyncio.sleep(0.01)
        assert store.rows_written == 13 and store.backlog == 0
    finally:
        write_behind.write_batch = original  # type: ignore[assignment]
    await store.close()
