"""A circuit breaker in front of a venue client: stop hammering a venue that keeps failing.

States::

    CLOSED --N consecutive VenueErrors--> OPEN --open_timeout_s--> HALF_OPEN
       ^                                   ^                          |
       +------------- probe succeeds ------|------------------------- +
                                           +------ probe fails -------+

* CLOSED: calls go through; a success resets the failure count.
* OPEN: calls fail at once with :class:`BreakerOpenError` (a ``VenueError``, so the OMS treats it
  like any other send failure) that says why and when the breaker will try again. Nothing
  reaches the venue.
* HALF_OPEN: exactly one call (the probe) goes through; others fail at once. Its success closes
  the breaker, its failure re-opens it for another ``open_timeout_s``.

Only ``VenueError`` counts as a failure: a venue that answers (even with a rejection report) is
up. Time comes from the injected clock, so tests drive it with ``TestClock``; the OPEN ->
HALF_OPEN move happens lazily, when the state is next looked at.

The state is durable: every change is handed to ``persist`` (the execution service stores it in
SQLite) and :meth:`CircuitBreaker.restore` brings an open breaker back open after a restart,
with the cool-down it had (measured from when it opened, so a long restart may already be past
it and let the first call probe).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

import msgspec

from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, Clock
from desk.core.enums import Severity
from desk.core.events import SystemEvent
from desk.core.orders import OrderRequest
from desk.core.topics import SYSTEM_EVENTS
from desk.execution.venue import ExecutionClient, VenueError, VenueOrder, VenueReport

log = logging.getLogger(__name__)

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpenError(VenueError):
    """Raised instead of calling the venue while the breaker is open (or probing)."""


class BreakerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    failure_threshold: int = 5
    """Consecutive VenueErrors that open the breaker, >= 1."""
    open_timeout_s: float = 30.0
    """How long the breaker stays open before letting one probe through, > 0."""

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"@failure_threshold: must be >= 1, got {self.failure_threshold}")
        if not self.open_timeout_s > 0:
            raise ValueError(f"@open_timeout_s: must be > 0, got {self.open_timeout_s}")


class CircuitBreaker:
    """Counts consecutive venue failures and decides whether a call may go out."""

    def __init__(
        self,
        clock: Clock,
        config: BreakerConfig | None = None,
        *,
        name: str = "venue",
        bus: Bus | None = None,
        persist: Callable[[BreakerState, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.clock = clock
        self.persist = persist
        """Called with the new state, why, and :meth:`detail` after every change of state."""
        self.config = config or BreakerConfig()
        self.name = name
        self.bus = bus
        self.consecutive_failures = 0
        self.last_error = ""
        self.opened_at_ns = 0
        self.rejected_calls = 0
        """Calls refused without reaching the venue (for health)."""
        self._state = BreakerState.CLOSED
        self._probe_in_flight = False

    @property
    def _timeout_ns(self) -> int:
        return int(Decimal(repr(self.config.open_timeout_s)) * NS_PER_S)

    @property
    def retry_at_ns(self) -> int:
        """When an open breaker lets a probe through (0 unless open)."""
        return self.opened_at_ns + self._timeout_ns if self._state is BreakerState.OPEN else 0

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose timeout ran out is now HALF_OPEN."""
        if self._state is BreakerState.OPEN and self.clock.now_ns() >= self.retry_at_ns:
            self._change(BreakerState.HALF_OPEN, "timeout over: letting one probe through")
        return self._state

    # -- the three calls a guarded operation makes --------------------------------------------

    def before_call(self) -> None:
        """Raise :class:`BreakerOpenError` unless a call may go to the venue now."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return
        self.rejected_calls += 1
        if state is BreakerState.HALF_OPEN:
            raise BreakerOpenError(f"{self.name} circuit half-open: a probe is already in flight")
        wait_s = max(0, self.retry_at_ns - self.clock.now_ns()) / NS_PER_S
        raise BreakerOpenError(
            f"{self.name} circuit open after {self.consecutive_failures} consecutive failures "
            f"(last: {self.last_error}); next try in {wait_s:.1f}s"
        )

    def record_success(self) -> None:
        self._probe_in_flight = False
        self.consecutive_failures = 0
        if self._state is not BreakerState.CLOSED:
            self._change(BreakerState.CLOSED, "probe succeeded")

    def record_failure(self, error: BaseException) -> None:
        self._probe_in_flight = False
        self.consecutive_failures += 1
        self.last_error = str(error) or type(error).__name__
        if self._state is BreakerState.HALF_OPEN:
            self._open(f"probe failed: {self.last_error}")
        elif (
            self._state is BreakerState.CLOSED
            and self.consecutive_failures >= self.config.failure_threshold
        ):
            self._open(f"{self.consecutive_failures} consecutive failures: {self.last_error}")

    def release(self) -> None:
        """The call ended without a verdict on the venue (cancelled, or a bug of ours)."""
        self._probe_in_flight = False

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` through the breaker; VenueErrors are counted and re-raised."""
        self.before_call()
        try:
            result = await operation()
        except VenueError as exc:
            self.record_failure(exc)
            raise
        except BaseException:
            self.release()
            raise
        self.record_success()
        return result

    # -- durable state ---------------------------------------------------------------------------

    def detail(self) -> dict[str, Any]:
        """What :meth:`restore` needs besides the state."""
        return {
            "opened_at_ns": self.opened_at_ns,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
        }

    def restore(self, state: str, detail: dict[str, Any]) -> None:
        """Come back as the last run left it: open (with its cool-down) or half-open.

        A closed breaker restores nothing; an unknown state restores as open (fail closed).
        """
        try:
            restored = BreakerState(state)
        except ValueError:
            restored = BreakerState.OPEN
        if restored is BreakerState.CLOSED:
            return
        self._state = restored
        self.opened_at_ns = int(detail.get("opened_at_ns") or self.clock.now_ns())
        self.consecutive_failures = int(detail.get("consecutive_failures") or 0)
        self.last_error = str(detail.get("last_error") or "")
        self._probe_in_flight = False
        wait_s = max(0, self.retry_at_ns - self.clock.now_ns()) / NS_PER_S
        when = f"next try in {wait_s:.1f}s" if restored is BreakerState.OPEN else "probing"
        self._announce(
            "breaker_restored",
            f"{self.name} circuit {restored} restored from the last run "
            f"(last error: {self.last_error or 'unknown'}); {when}",
            Severity.ERROR if restored is BreakerState.OPEN else Severity.WARNING,
        )

    # -- state changes ---------------------------------------------------------------------------

    def _open(self, why: str) -> None:
        self.opened_at_ns = self.clock.now_ns()
        self._change(BreakerState.OPEN, f"{why}; blocking for {self.config.open_timeout_s:g}s")

    def _change(self, state: BreakerState, why: str) -> None:
        old, self._state = self._state, state
        severity = Severity.ERROR if state is BreakerState.OPEN else Severity.INFO
        if state is BreakerState.HALF_OPEN:
            severity = Severity.WARNING
        if self.persist is not None:
            try:
                self.persist(state, why, self.detail())
            except Exception:  # storage must not break the breaker; the log says what was lost
                log.exception("breaker: could not store the %s state", state)
        self._announce(f"breaker_{state}", f"{self.name} circuit {old} -> {state}: {why}", severity)

    def _announce(self, kind: str, message: str, severity: Severity) -> None:
        log.log(logging.ERROR if severity is Severity.ERROR else logging.INFO, "%s", message)
        if self.bus is not None:
            event = SystemEvent(
                ts_exchange=0,
                ts_recv=self.clock.now_ns(),
                source="breaker",
                kind=kind,
                message=message,
                severity=severity,
            )
            self.bus.publish(SYSTEM_EVENTS, event)


class GuardedVenue:
    """An ExecutionClient that sends ``submit``/``cancel`` through a :class:`CircuitBreaker`.

    Everything else is passed straight to the wrapped venue: reconciliation reads
    (``open_orders``, ``balances``) and the connection lifecycle are not order traffic.
    """

    def __init__(self, venue: ExecutionClient, breaker: CircuitBreaker) -> None:
        self.venue = venue
        self.breaker = breaker
        self.name = venue.name

    def set_report_handler(self, handler: Callable[[VenueReport], None]) -> None:
        self.venue.set_report_handler(handler)

    async def connect(self) -> None:
        await self.venue.connect()

    async def close(self) -> None:
        await self.venue.close()

    async def submit(self, request: OrderRequest) -> None:
        await self.breaker.call(lambda: self.venue.submit(request))

    async def cancel(self, client_order_id: str, symbol: str) -> None:
        await self.breaker.call(lambda: self.venue.cancel(client_order_id, symbol))

    async def open_orders(self) -> list[VenueOrder]:
        return await self.venue.open_orders()

    async def balances(self) -> dict[str, Decimal]:
        return await self.venue.balances()

    async def order_status(self, client_order_id: str, symbol: str) -> VenueOrder | None:
        return await self.venue.order_status(client_order_id, symbol)
