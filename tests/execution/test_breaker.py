"""The circuit breaker: open after N venue failures, probe after a timeout, close on success."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, TestClock
from desk.core.enums import Side
from desk.core.events import SystemEvent
from desk.core.orders import OrderRequest, OrderType
from desk.core.topics import SYSTEM_EVENTS
from desk.execution.breaker import (
    BreakerConfig,
    BreakerOpenError,
    BreakerState,
    CircuitBreaker,
    GuardedVenue,
)
from desk.execution.venue import VenueError, VenueOrder, VenueReport


class FlakyVenue:
    """A venue whose submit/cancel fail while ``failing`` is set."""

    name = "flaky"

    def __init__(self) -> None:
        self.failing = False
        self.submitted: list[OrderRequest] = []
        self.canceled: list[str] = []

    def set_report_handler(self, handler: Callable[[VenueReport], None]) -> None:
        self.handler = handler

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def submit(self, request: OrderRequest) -> None:
        if self.failing:
            raise VenueError("503 service unavailable")
        self.submitted.append(request)

    async def cancel(self, client_order_id: str, symbol: str) -> None:
        if self.failing:
            raise VenueError("timeout")
        self.canceled.append(client_order_id)

    async def open_orders(self) -> list[VenueOrder]:
        return []

    async def balances(self) -> dict[str, Decimal]:
        return {"USDT": Decimal(1)}


def order(n: int = 1) -> OrderRequest:
    return OrderRequest(
        symbol="BTC-USDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        size=Decimal("0.01"),
        price=Decimal(50_000),
        client_order_id=f"c{n}",
    )


def make(
    threshold: int = 3, timeout_s: float = 10.0
) -> tuple[TestClock, CircuitBreaker, FlakyVenue, GuardedVenue, list[SystemEvent]]:
    clock = TestClock(1_000 * NS_PER_S)
    bus = Bus()
    events: list[SystemEvent] = []
    bus.subscribe(SYSTEM_EVENTS, events.append)
    config = BreakerConfig(failure_threshold=threshold, open_timeout_s=timeout_s)
    breaker = CircuitBreaker(clock, config, name="okx", bus=bus)
    venue = FlakyVenue()
    return clock, breaker, venue, GuardedVenue(venue, breaker), events


async def fail_times(guarded: GuardedVenue, n: int) -> None:
    for i in range(n):
        with pytest.raises(VenueError):
            await guarded.submit(order(i))


async def test_opens_after_n_consecutive_failures_and_stops_sending() -> None:
    _, breaker, venue, guarded, events = make(threshold=3)
    venue.failing = True
    await fail_times(guarded, 2)
    assert breaker.state is BreakerState.CLOSED
    await fail_times(guarded, 1)
    assert breaker.state is BreakerState.OPEN

    venue.failing = False  # the venue is back, but the breaker does not know yet
    with pytest.raises(BreakerOpenError, match=r"okx circuit open after 3 consecutive failures"):
        await guarded.submit(order(9))
    with pytest.raises(BreakerOpenError):
        await guarded.cancel("c1", "BTC-USDT")
    assert venue.submitted == [] and venue.canceled == []
    assert breaker.rejected_calls == 2
    assert [e.kind for e in events] == ["breaker_open"]
    assert events[0].source == "breaker" and "503 service unavailable" in events[0].message


async def test_a_success_resets_the_count() -> None:
    _, breaker, venue, guarded, _ = make(threshold=3)
    venue.failing = True
    await fail_times(guarded, 2)
    venue.failing = False
    await guarded.submit(order(5))
    venue.failing = True
    await fail_times(guarded, 2)
    assert breaker.state is BreakerState.CLOSED


async def test_half_open_after_the_timeout_lets_one_probe_and_success_closes() -> None:
    clock, breaker, venue, guarded, events = make(threshold=1, timeout_s=10.0)
    venue.failing = True
    await fail_times(guarded, 1)
    clock.advance_ns(9 * NS_PER_S)
    assert breaker.state is BreakerState.OPEN
    clock.advance_ns(1 * NS_PER_S)
    assert breaker.state is BreakerState.HALF_OPEN

    breaker.before_call()  # a probe is in flight ...
    with pytest.raises(BreakerOpenError, match="probe is already in flight"):
        await guarded.submit(order(2))  # ... so no second call goes out
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED

    venue.failing = False
    await guarded.submit(order(3))
    assert [o.client_order_id for o in venue.submitted] == ["c3"]
    assert [e.kind for e in events] == ["breaker_open", "breaker_half_open", "breaker_closed"]


async def test_probe_through_the_venue_closes_on_success() -> None:
    clock, breaker, venue, guarded, _ = make(threshold=2, timeout_s=5.0)
    venue.failing = True
    await fail_times(guarded, 2)
    clock.advance_ns(5 * NS_PER_S)
    venue.failing = False
    await guarded.submit(order(7))
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


async def test_failed_probe_reopens_for_another_timeout() -> None:
    clock, breaker, venue, guarded, events = make(threshold=2, timeout_s=5.0)
    venue.failing = True
    await fail_times(guarded, 2)
    clock.advance_ns(5 * NS_PER_S)
    with pytest.raises(VenueError, match="timeout"):
        await guarded.cancel("c1", "BTC-USDT")  # the probe reaches the venue and fails
    assert breaker.state is BreakerState.OPEN
    clock.advance_ns(4 * NS_PER_S)
    with pytest.raises(BreakerOpenError, match=r"next try in 1\.0s"):
        await guarded.submit(order(8))
    clock.advance_ns(1 * NS_PER_S)
    assert breaker.state is BreakerState.HALF_OPEN
    assert [e.kind for e in events] == [
        "breaker_open",
        "breaker_half_open",
        "breaker_open",
        "breaker_half_open",
    ]


async def test_errors_that_are_not_venue_errors_do_not_count_but_free_the_probe() -> None:
    clock, breaker, _, _, _ = make(threshold=1, timeout_s=1.0)
    breaker.record_failure(VenueError("down"))
    clock.advance_ns(NS_PER_S)

    async def bug() -> None:
        raise KeyError("ours")

    with pytest.raises(KeyError):
        await breaker.call(bug)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # the probe slot is free again


async def test_guarded_venue_passes_everything_else_through() -> None:
    _, _, venue, guarded, _ = make()
    reports: list[VenueReport] = []
    guarded.set_report_handler(reports.append)
    assert venue.handler == reports.append
    assert guarded.name == "flaky"
    assert await guarded.balances() == {"USDT": Decimal(1)}
    assert await guarded.open_orders() == []


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="@failure_threshold"):
        BreakerConfig(failure_threshold=0)
    with pytest.raises(ValueError, match="@open_timeout_s"):
        BreakerConfig(open_timeout_s=0)
