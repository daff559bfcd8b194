"""The risk state and the circuit breaker survive a restart: stored on every change, restored at
start, and a restored HALTED or REDUCING ends only with an operator's resume.

The first tests drive RiskEngine and CircuitBreaker alone; the last ones run the execution
service (paper venue) on a real SQLite file, stop it and start another on the same file.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, TestClock
from desk.core.enums import Mode, Side
from desk.core.events import SystemEvent
from desk.core.orders import MANUAL_ACCOUNT, OrderRequest, OrderStatus, OrderType
from desk.core.topics import SYSTEM_EVENTS
from desk.execution.breaker import BreakerConfig, BreakerOpenError, BreakerState, CircuitBreaker
from desk.execution.config import ExecutionConfig
from desk.execution.risk import MONITOR, RiskRecord
from desk.execution.risk_rules import RiskConfig, RiskState
from desk.execution.service import ExecutionService
from desk.execution.venue import VenueError
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore
from tests.execution.test_risk import SYMBOL, Desk, instrument, req

D = Decimal
T0 = 1_700_000_000 * NS_PER_S


def stored(desk: Desk) -> list[RiskRecord]:
    records: list[RiskRecord] = []
    desk.risk.persist = records.append
    return records


def test_every_change_of_risk_state_is_handed_over_with_who_and_when() -> None:
    desk = Desk()
    records = stored(desk)
    desk.risk.halt("lunch", actor="ana")
    desk.clock.advance_ns(5 * NS_PER_S)
    desk.risk.resume(actor="bob")
    assert records == [
        RiskRecord(state=RiskState.HALTED, reason="lunch", actor="ana", since_ns=T0),
        RiskRecord(
            state=RiskState.ACTIVE, reason="resumed", actor="bob", since_ns=T0 + 5 * NS_PER_S
        ),
    ]


def test_the_monitor_stores_its_changes_as_the_risk_monitor() -> None:
    desk = Desk(RiskConfig(max_gross_exposure_pct=D(10)))
    records = stored(desk)
    desk.portfolio.gross = D(12_500)
    desk.risk.evaluate()
    assert [(r.state, r.actor) for r in records] == [(RiskState.REDUCING, MONITOR)]


def test_a_restored_halt_denies_everything_and_says_it_was_restored() -> None:
    desk = Desk()
    records = stored(desk)
    desk.risk.restore(RiskRecord(state=RiskState.HALTED, reason="lunch", actor="ana", since_ns=T0))
    assert desk.risk.state is RiskState.HALTED and desk.risk.restored
    assert (desk.risk.state_reason, desk.risk.state_actor) == ("lunch", "ana")
    assert desk.risk.check(req()) == "halted: lunch"
    assert desk.risk.check(req(bot=MANUAL_ACCOUNT)) == "halted: lunch"
    assert desk.risk.evaluate() == []
    assert records == []  # restoring stores nothing new
    (event,) = [e for e in desk.events if e.kind == "risk_restored"]
    assert (
        event.message
        == "halted restored from the last run: lunch (set by ana at 2023-11-14 22:13:20 UTC)"
    )
    desk.risk.resume(actor="bob")
    assert desk.risk.state is RiskState.ACTIVE and not desk.risk.restored
    assert records[-1].state is RiskState.ACTIVE and records[-1].actor == "bob"


def test_a_restored_reduce_is_not_lifted_by_the_monitor_only_by_a_resume() -> None:
    desk = Desk(accounts=lambda: [("bot1", SYMBOL)])
    desk.portfolio.positions[("bot1", SYMBOL)] = D("0.1")
    desk.risk.restore(
        RiskRecord(state=RiskState.REDUCING, reason="daily loss", actor=MONITOR, since_ns=T0)
    )
    # The figures look healthy (a restart starts them afresh): still reducing, still trimming.
    trims = desk.risk.evaluate()
    assert desk.risk.state is RiskState.REDUCING
    assert [(o.side, o.reduce_only) for o in trims] == [(Side.SELL, True)]
    refused = desk.risk.check(req(Side.BUY))
    assert isinstance(refused, str) and refused.startswith("reducing")
    assert isinstance(desk.risk.check(req(Side.SELL, size="0.05")), OrderRequest)
    desk.risk.resume(actor="ana")
    assert desk.risk.state is RiskState.ACTIVE
    assert desk.risk.evaluate() == []
    assert desk.risk.state is RiskState.ACTIVE


def test_a_restored_reduce_still_escalates_to_a_halt_on_the_hard_loss() -> None:
    desk = Desk()
    desk.risk.restore(
        RiskRecord(state=RiskState.REDUCING, reason="daily loss", actor=MONITOR, since_ns=T0)
    )
    desk.portfolio.pnl = D(-2_500)
    desk.risk.evaluate()
    assert desk.risk.state is RiskState.HALTED and not desk.risk.restored


def test_active_restores_nothing() -> None:
    desk = Desk()
    desk.risk.restore(RiskRecord(state=RiskState.ACTIVE, reason="", actor="", since_ns=T0))
    assert desk.risk.state is RiskState.ACTIVE and not desk.risk.restored
    assert not [e for e in desk.events if e.kind == "risk_restored"]


def test_a_storage_failure_does_not_stop_a_halt() -> None:
    desk = Desk()

    def broken(record: RiskRecord) -> None:
        raise RuntimeError("database is locked")

    desk.risk.persist = broken
    desk.risk.halt("now")
    assert desk.risk.state is RiskState.HALTED


def _breaker(clock: TestClock, bus: Bus | None = None) -> CircuitBreaker:
    config = BreakerConfig(failure_threshold=2, open_timeout_s=30.0)
    return CircuitBreaker(clock, config, name="okx", bus=bus)


def test_an_open_breaker_is_restored_open_with_its_cool_down() -> None:
    clock = TestClock(T0)
    before = _breaker(clock)
    changes: list[tuple[BreakerState, str, dict[str, object]]] = []
    before.persist = lambda state, why, detail: changes.append((state, why, detail))
    for _ in range(2):
        before.record_failure(VenueError("503"))
    state, _, detail = changes[-1]
    assert state is BreakerState.OPEN
    assert detail == {"opened_at_ns": T0, "consecutive_failures": 2, "last_error": "503"}

    clock.advance_ns(10 * NS_PER_S)  # the restart took 10 s of the 30 s cool-down
    bus = Bus()
    events: list[SystemEvent] = []
    bus.subscribe(SYSTEM_EVENTS, events.append)
    after = _breaker(clock, bus)
    after.restore(str(state), detail)
    assert after.state is BreakerState.OPEN
    assert after.retry_at_ns == T0 + 30 * NS_PER_S
    with pytest.raises(BreakerOpenError, match=r"next try in 20\.0s"):
        after.before_call()
    assert [e.kind for e in events] == ["breaker_restored"]
    clock.advance_ns(20 * NS_PER_S)
    assert after.state is BreakerState.HALF_OPEN
    after.before_call()  # the probe goes through


def test_a_breaker_state_it_cannot_read_restores_open() -> None:
    breaker = _breaker(TestClock(T0))
    breaker.restore("exploded", {})
    assert breaker.state is BreakerState.OPEN


def test_a_closed_breaker_restores_nothing() -> None:
    breaker = _breaker(TestClock(T0))
    breaker.restore("closed", {"consecutive_failures": 1})
    assert breaker.state is BreakerState.CLOSED and breaker.consecutive_failures == 0


# -- through the execution service and a real SQLite file -------------------------------------


class Run:
    """One start of the execution service (paper venue) on ``path``, with its events."""

    def __init__(self, path: Path, clock: TestClock) -> None:
        self.store = SqliteStore(StorageConfig(sqlite_path=str(path), flush_interval=0.05))
        self.bus = Bus()
        self.events: list[SystemEvent] = []
        self.bus.subscribe(SYSTEM_EVENTS, self.events.append)
        self.service = ExecutionService(
            ExecutionConfig(breaker=BreakerConfig(failure_threshold=2, open_timeout_s=60.0)),
            self.bus,
            self.store,
            clock,
            mode=Mode.PAPER,
            symbols=[SYMBOL],
            okx=None,  # type: ignore[arg-type]  # not used by the paper venue
            book=lambda symbol: None,
            instruments={SYMBOL: instrument()},
        )

    async def __aenter__(self) -> Run:
        await self.store.open()
        await self.service.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.service.stop()
        await self.store.close()

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def _manual_buy() -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=D("0.01"),
        price=D("50000"),
        bot_id=MANUAL_ACCOUNT,
    )


async def test_a_halt_survives_a_restart_until_an_operator_resumes(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    clock = TestClock(T0)
    async with Run(path, clock) as first:
        first.service.halt("lunch", actor="ana")
        await first.store.wait_committed()
    clock.advance_ns(60 * NS_PER_S)
    async with Run(path, clock) as second:
        risk = second.service.risk
        assert risk.state is RiskState.HALTED and risk.restored
        assert (risk.state_reason, risk.state_actor, risk.state_since_ns) == ("lunch", "ana", T0)
        assert "risk_restored" in second.kinds()
        order = second.service.submit(_manual_buy())
        assert order.status is OrderStatus.REJECTED and "halted: lunch" in order.reason
        second.service.resume(actor="bob")
        await second.store.wait_committed()
    async with Run(path, clock) as third:
        assert third.service.risk.state is RiskState.ACTIVE
        assert not third.service.risk.restored
        assert third.service.risk.state_actor == ""  # nothing restored: a fresh ACTIVE
        assert "risk_restored" not in third.kinds()


async def test_an_open_breaker_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    clock = TestClock(T0)
    async with Run(path, clock) as first:
        breaker = first.service.breaker
        for _ in range(2):
            breaker.record_failure(VenueError("connection reset"))
        assert breaker.state is BreakerState.OPEN
        await first.store.wait_committed()
    clock.advance_ns(5 * NS_PER_S)
    async with Run(path, clock) as second:
        breaker = second.service.breaker
        assert breaker.state is BreakerState.OPEN
        assert breaker.retry_at_ns == T0 + 60 * NS_PER_S
        assert breaker.last_error == "connection reset"
        assert "breaker_restored" in second.kinds()
        with pytest.raises(BreakerOpenError):
            breaker.before_call()
        clock.advance_ns(60 * NS_PER_S)
        assert breaker.state is BreakerState.HALF_OPEN
