"""What the bot manager needs of storage: the part of the SQLite store it records bots in."""

from __future__ import annotations

from typing import Any, Protocol

from desk.signals.signal import Signal


class BotStore(Protocol):
    """The part of :class:`~desk.storage.sqlite.SqliteStore` the bot manager uses."""

    def record_signal(
        self, *, bot_id: str, signal: Signal, fate: str, recorded_ns: int, order_id: str = ""
    ) -> None: ...

    def record_bot_event(
        self, *, ts_ns: int, bot_id: str, kind: str, detail: dict[str, Any], actor: str
    ) -> None: ...

    def upsert_bot(
        self, *, bot_id: str, config: dict[str, Any], state: str, mode: str, updated_ns: int
    ) -> None: ...

    async def load_bots(self) -> list[dict[str, Any]]: ...
