"""The store as a paper desk reads it back after OKX's paper venue was renamed ``okx``."""

from __future__ import annotations

from typing import Any

import msgspec


class PaperFillNames:
    """The store, with fills stored under the old name of OKX's paper venue ("paper") read
    back as ``venue``'s, so a paper desk's positions from before the rename stay one position
    with today's fills (risk's "reduces" and flatten look positions up by venue)."""

    OLD_NAME = "paper"

    def __init__(self, store: Any, venue: str) -> None:
        self._store = store
        self._venue = venue

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def load_fills(self, **kwargs: Any) -> list[Any]:
        fills = await self._store.load_fills(**kwargs)
        return [
            msgspec.structs.replace(f, venue=self._venue) if f.venue == self.OLD_NAME else f
            for f in fills
        ]
