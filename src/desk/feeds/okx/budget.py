"""OKX's limit on (un)subscribe requests, kept per connection (PROTOCOLS.md A.3)."""

from __future__ import annotations

import time
from collections import deque


class SubscribeBudget:
    """OKX allows 480 subscribe/unsubscribe requests per hour per connection; keep a margin."""

    def __init__(self, limit: int = 400, window_s: float = 3600.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._spent: deque[float] = deque()

    def take(self, n: int = 1, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        spent = self._spent
        while spent and now - spent[0] > self.window_s:
            spent.popleft()
        if len(spent) + n > self.limit:
            return False
        spent.extend([now] * n)
        return True

    def reset(self) -> None:
        self._spent.clear()
