"""The instruments referential: trading rules per symbol, from the venue, cached in SQLite.

One registry per venue: OKX's ``/api/v5/public/instruments``, Binance's ``exchangeInfo``,
Coinbase's public products. Each instrument carries desk's normalised name and the venue's
native one (``BTCUSDT``) and min notional; an ``InstrumentReferential`` shared by the
registries keys them all by venue + native symbol.

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
from collections.abc import Awaitable, Callable, Iterable

import msgspec

from desk.core.enums import Severity
from desk.feeds.okx.rest import OkxRestClient
from desk.market.instruments import Instrument, InstrumentReferential, native_symbol

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 24 * 3600.0
RULE_FIELDS = ("tick_size", "lot_size", "min_size", "min_notional", "state")

Emit = Callable[[str, str, str, Severity], None]


def describe_changes(old: Instrument, new: Instrument) -> list[str]:
    """'tick_size 0.1 -> 0.01', one per changed rule."""
    return [
        f"{field} {getattr(old, field)} -> {getattr(new, field)}"
        for field in RULE_FIELDS
        if getattr(old, field) != getattr(new, field)
    ]


class InstrumentRegistry:
    """The rules of the configured symbols on one venue; ``by_symbol`` is updated in place
    (and ``referential``, when given, with every change)."""

    def __init__(
        self,
        symbols: Iterable[str],
        rest_url: str,
        store: object,
        emit: Emit,
        *,
        venue: str = "okx",
        referential: InstrumentReferential | None = None,
    ) -> None:
        if venue not in _FETCHERS:
            raise ValueError(f"no instruments endpoint for venue {venue!r}")
        self.symbols = tuple(symbols)
        self.rest_url = rest_url
        self.store = store
        self.emit = emit
        self.venue = venue
        self.referential = referential
        self.by_symbol: dict[str, Instrument] = {}
        self.missing: list[str] = []
        """Configured symbols the venue did not list at the last successful refresh."""
        self.loaded = False
        """Whether the rules came from the venue itself (not only the SQLite cache)."""
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
        self.missing = [s for s in self.symbols if s not in fresh]
        changes = self._apply(fresh)
        self.loaded = True
        self.refreshed_ns = _now_ns()
        return changes

    async def _fetch(self) -> list[Instrument]:
        """Every instrument the venue lists (its instruments endpoint)."""
        return await _FETCHERS[self.venue](self.rest_url, self.symbols)

    def _apply(self, fresh: dict[str, Instrument]) -> list[str]:
        changes: list[str] = []
        first = not self.by_symbol
        for symbol, new in fresh.items():
            old = self.by_symbol.get(symbol)
            if old is not None and describe_changes(old, new):
                changes += [f"{symbol}: {c}" for c in describe_changes(old, new)]
            self.by_symbol[symbol] = new
            self._note(new)
        for symbol in [s for s in self.by_symbol if s not in fresh]:
            gone = self.by_symbol[symbol]
            delisted = Instrument(**{**_fields(gone), "state": "delisted"})
            self.by_symbol[symbol] = delisted
            self._note(delisted)
            changes.append(f"{symbol}: delisted (no longer listed by the venue)")
        missing = [s for s in self.symbols if s not in fresh and s not in self.by_symbol]
        if first and missing:
            changes.append(f"not listed by the venue: {', '.join(missing)}")
        if self.venue != "okx":  # OKX's lines read as before venues; others say whose
            changes = [f"{self.venue} {change}" for change in changes]
        for change in changes:
            self.emit("instruments", "changed", change, Severity.WARNING)
        return changes

    def _note(self, instrument: Instrument) -> None:
        self.store.record_instrument(instrument)  # type: ignore[attr-defined]
        if self.referential is not None:
            self.referential.add(instrument)

    async def _cached(self) -> dict[str, Instrument]:
        load = getattr(self.store, "load_instruments", None)
        if load is None:
            return {}
        rows = await load()
        wanted = set(self.symbols)
        return {i.symbol: i for i in rows if i.symbol in wanted and i.venue == self.venue}

    def start(self, interval: float = REFRESH_INTERVAL) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._every(interval), name=f"instrument-refresh-{self.venue}"
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


async def _fetch_okx(rest_url: str, symbols: tuple[str, ...]) -> list[Instrument]:
    rest = OkxRestClient(rest_url)
    try:
        return await rest.get_instruments("SPOT")
    finally:
        await rest.close()


async def _fetch_binance(rest_url: str, symbols: tuple[str, ...]) -> list[Instrument]:
    """``exchangeInfo`` of the whole venue (so a symbol it does not list is simply absent)."""
    from desk.feeds.binance.rest import BinanceRestClient

    rest = BinanceRestClient(rest_url)
    try:
        rules = await rest.get_symbol_rules()
    finally:
        await rest.close()
    return [
        msgspec.structs.replace(r.instrument, native=r.native, min_notional=r.min_notional)
        for r in rules
    ]


async def _fetch_coinbase(rest_url: str, symbols: tuple[str, ...]) -> list[Instrument]:
    from desk.feeds.coinbase.rest import CoinbaseRestClient

    rest = CoinbaseRestClient(rest_url)
    try:
        rules = await rest.get_products()
    finally:
        await rest.close()
    return [
        msgspec.structs.replace(r.instrument, native=r.product_id, min_notional=r.min_notional)
        for r in rules
    ]


Fetch = Callable[[str, tuple[str, ...]], Awaitable[list[Instrument]]]
_FETCHERS: dict[str, Fetch] = {
    "okx": _fetch_okx,
    "binance": _fetch_binance,
    "coinbase": _fetch_coinbase,
}


def unlisted(registries: Iterable[InstrumentRegistry]) -> list[str]:
    """``"binance does not list DOGE-USDT (BTC-USDT, ...)"`` per configured symbol a venue
    did not list when its instruments were fetched (OKX only warns, as before venues)."""
    problems = []
    for registry in registries:
        if registry.venue == "okx" or not registry.loaded:
            continue
        for symbol in registry.missing:
            native = native_symbol(registry.venue, symbol)
            problems.append(
                f"{registry.venue} does not list {symbol} (native {native}); remove it from "
                f"exchanges.{registry.venue}.symbols (or trading.symbols, which it trades when "
                f"its own list is empty) or disable {registry.venue}"
            )
    return problems


def _fields(instrument: Instrument) -> dict[str, object]:
    return {f.name: getattr(instrument, f.name) for f in msgspec.structs.fields(Instrument)}


def _now_ns() -> int:
    return time.time_ns()
