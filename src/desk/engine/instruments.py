"""The instruments referential: trading rules per symbol, from the venue, cached in SQLite.

Loaded at start from the venue's instruments endpoint (the simulator's offline); if the venue is
unreachable, the last rules cached in SQLite are used so the desk can still validate orders.
Refreshed every ``REFRESH_INTERVAL`` and on demand. Every change is a system event an operator
sees: a new or delisted instrument, a tick/lot/min-size change, a state change (live ->
suspend). The registry's dict is shared by reference with risk and the paper venue, so a
refresh is seen by them at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

import msgspec

from desk.core.enums import Severity
from desk.feeds.okx.rest import OkxRestClient
from desk.market.instruments import Instrument

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 24 * 3600.0
RULE_FIELDS = ("tick_size", "lot_size", "min_size", "state")

Emit = Callable[[str, str, str, Severity], None]


def describe_changes(old: Instrument, new: Instrument) -> list[str]:
    """'tick_size 0.1 -> 0.01', one per changed rule."""
    return [
        f"{field} {getattr(old, field)} -> {getattr(new, field)}"
        for field in RULE_FIELDS
        if getattr(old, field) != getattr(new, field)
    ]


class InstrumentRegistry:
    """The rules of the configured symbols; ``by_symbol`` is updated in place."""

    def __init__(self, symbols: Iterable[str], rest_url: str, store: object, emit: Emit) -> None:
        self.symbols = tuple(symbols)
        self.rest_url = rest_url
        self.store = store
        self.emit = emit
        self.by_symbol: dict[str, Instrument] = {}
        self.refreshed_ns = 0
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """From the venue; on failure from the SQLite cache (reported either way)."""
        try:
            await self.refresh()
        except Exception as exc:  # the venue is down: fall back on the cache
            cached = await self._cached()
            self.by_symbol.update(cached)
            self.emit(
                "instruments",
                "error",
                f"instrument load failed ({exc}); using {len(cached)} cached in SQLite",
                Severity.WARNING,
            )

    async def refresh(self) -> list[str]:
        """Fetch the venue's rules, apply and log the changes; the change lines."""
        fetched = await self._fetch()
        wanted = set(self.symbols)
        fresh = {i.symbol: i for i in fetched if i.symbol in wanted}
        changes = self._apply(fresh)
        self.refreshed_ns = _now_ns()
        return changes

    async def _fetch(self) -> list[Instrument]:
        rest = OkxRestClient(self.rest_url)
        try:
            return await rest.get_instruments("SPOT")
        finally:
            await rest.close()

    def _apply(self, fresh: dict[str, Instrument]) -> list[str]:
        changes: list[str] = []
        first = not self.by_symbol
        for symbol, new in fresh.items():
            old = self.by_symbol.get(symbol)
            if old is not None and describe_changes(old, new):
                changes += [f"{symbol}: {c}" for c in describe_changes(old, new)]
            self.by_symbol[symbol] = new
            self.store.record_instrument(new)  # type: ignore[attr-defined]
        for symbol in [s for s in self.by_symbol if s not in fresh]:
            gone = self.by_symbol[symbol]
            delisted = Instrument(**{**_fields(gone), "state": "delisted"})
            self.by_symbol[symbol] = delisted
            self.store.record_instrument(delisted)  # type: ignore[attr-defined]
            changes.append(f"{symbol}: delisted (no longer listed by the venue)")
        missing = [s for s in self.symbols if s not in fresh and s not in self.by_symbol]
        if first and missing:
            changes.append(f"not listed by the venue: {', '.join(missing)}")
        for change in changes:
            self.emit("instruments", "changed", change, Severity.WARNING)
        return changes

    async def _cached(self) -> dict[str, Instrument]:
        load = getattr(self.store, "load_instruments", None)
        if load is None:
            return {}
        rows = await load()
        return {i.symbol: i for i in rows if i.symbol in set(self.symbols)}

    def start(self, interval: float = REFRESH_INTERVAL) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._every(interval), name="instrument-refresh"
        )

    async def _every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except Exception as exc:
                self.emit(
                    "instruments", "error", f"instrument refresh failed: {exc}", Severity.WARNING
                )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


def _fields(instrument: Instrument) -> dict[str, object]:
    return {f.name: getattr(instrument, f.name) for f in msgspec.structs.fields(Instrument)}


def _now_ns() -> int:
    return time.time_ns()
