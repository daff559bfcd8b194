"""The in-process bus: synchronous dispatch on the hot path, bounded queues for slow consumers.

A feed message becomes an event and ``publish`` calls every synchronous subscriber of its topic
directly, in subscription order, with no queue hop. Anything slow (SQLite, Redis, the UI) uses
``subscribe_async``: ``publish`` only appends to that subscriber's bounded queue, and a task
drains it. What happens when a queue is full is an explicit policy:

* ``Overflow.CONFLATE`` keeps only the latest event per key (market data: the newest book top or
  ticker replaces the queued one); a new key on a full queue evicts the oldest entry (a drop).
* ``Overflow.DROP_OLDEST`` evicts the oldest queued event (counted as a drop).
* ``Overflow.NEVER_DROP`` never loses an event (orders, fills, system events): the queue grows
  past its bound and ``over_bound`` counts how often, so health can warn.

Topics are exact names, or a prefix ending in ``*`` (``market_data:*``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from enum import StrEnum
from typing import Any

from desk.core.events import Event

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]
AsyncHandler = Callable[[Any], Awaitable[None]]
ConflationKey = Callable[[Any], Hashable]


class Overflow(StrEnum):
    CONFLATE = "conflate"
    DROP_OLDEST = "drop_oldest"
    NEVER_DROP = "never_drop"


def default_conflation_key(event: Event) -> Hashable:
    """Conflate per event type and symbol (events without a symbol conflate per type)."""
    return (type(event), getattr(event, "symbol", None))


class AsyncSubscriber:
    """A bounded queue drained by one task that awaits ``handler`` for each event."""

    def __init__(
        self,
        name: str,
        handler: AsyncHandler,
        maxsize: int,
        overflow: Overflow,
        key: ConflationKey = default_conflation_key,
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.name = name
        self.maxsize = maxsize
        self.overflow = overflow
        self.dropped = 0
        self.conflated = 0
        self.over_bound = 0
        self.handled = 0
        self.errors = 0
        self._handler = handler
        self._key = key
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._seq = 0
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def depth(self) -> int:
        return len(self._items)

    def offer(self, event: Any) -> None:
        """Called by the bus from the publishing code path: never blocks, never awaits."""
        items = self._items
        if self.overflow is Overflow.CONFLATE:
            key = self._key(event)
            if key in items:
                items[key] = event
                self.conflated += 1
                return
            if len(items) >= self.maxsize:
                items.popitem(last=False)
                self.dropped += 1
            items[key] = event
        else:
            if len(items) >= self.maxsize:
                if self.overflow is Overflow.DROP_OLDEST:
                    items.popitem(last=False)
                    self.dropped += 1
                else:
                    self.over_bound += 1
            self._seq += 1
            items[self._seq] = event
        self._idle.clear()
        self._ready.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            while self._items:
                _, event = self._items.popitem(last=False)
                try:
                    await self._handler(event)
                    self.handled += 1
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.errors += 1
                    log.exception("subscriber %s failed on %s", self.name, type(event).__name__)
            self._ready.clear()
            self._idle.set()

    async def drain(self) -> None:
        """Wait until every queued event has been handled."""
        if self._items and self._task is None:
            self.start()
        await self._idle.wait()

    async def stop(self, drain: bool = True) -> None:
        if drain:
            await self.drain()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


class Bus:
    """Topic-based publish/subscribe for one engine."""

    def __init__(self) -> None:
        self._exact: dict[str, list[Handler]] = {}
        self._prefix: list[tuple[str, Handler]] = []
        self._resolved: dict[str, tuple[Handler, ...]] = {}
        self.async_subscribers: list[AsyncSubscriber] = []
        self.handler_errors = 0

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(event)`` synchronously on every publish to ``topic``.

        Returns a function that removes the subscription.
        """
        if topic.endswith("*"):
            entry = (topic[:-1], handler)
            self._prefix.append(entry)

            def remove() -> None:
                self._prefix.remove(entry)
                self._resolved.clear()

        else:
            self._exact.setdefault(topic, []).append(handler)

            def remove() -> None:
                self._exact[topic].remove(handler)
                self._resolved.clear()

        self._resolved.clear()
        return remove

    def subscribe_async(
        self,
        topic: str,
        handler: AsyncHandler,
        *,
        name: str,
        maxsize: int = 1024,
        overflow: Overflow = Overflow.NEVER_DROP,
        key: ConflationKey = default_conflation_key,
    ) -> AsyncSubscriber:
        """Queue events for ``handler``, run by a task started now if a loop runs, else later."""
        sub = AsyncSubscriber(name, handler, maxsize, overflow, key)
        self.subscribe(topic, sub.offer)
        self.async_subscribers.append(sub)
        try:
            sub.start()
        except RuntimeError:
            pass  # no running loop yet: start() is called by start_async_subscribers()
        return sub

    def start_async_subscribers(self) -> None:
        for sub in self.async_subscribers:
            sub.start()

    def publish(self, topic: str, event: Any) -> None:
        handlers = self._resolved.get(topic)
        if handlers is None:
            handlers = self._resolve(topic)
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                # One broken subscriber must not stop the others or the feed that published.
                self.handler_errors += 1
                log.exception("handler %r failed on topic %s", handler, topic)

    def _resolve(self, topic: str) -> tuple[Handler, ...]:
        found = list(self._exact.get(topic, ()))
        found += [h for prefix, h in self._prefix if topic.startswith(prefix)]
        resolved = tuple(found)
        self._resolved[topic] = resolved
        return resolved

    async def drain(self) -> None:
        for sub in self.async_subscribers:
            await sub.drain()

    async def stop(self) -> None:
        for sub in self.async_subscribers:
            await sub.stop(drain=True)
