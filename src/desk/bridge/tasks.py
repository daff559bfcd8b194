"""Stopping a background task so that stopping always ends.

``task.cancel(); await task`` hangs for good if the cancellation is lost on the way: a
CancelledError that a library turns into a timeout error (redis-py under ``asyncio.timeout``
on Python 3.11 can), which the task's loop then treats as "Redis went away, retry". So the
task is cancelled again until it is done, and waited for at most ``timeout_s``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any] | None, timeout_s: float = 5.0) -> bool:
    """Cancel ``task`` (again and again) until it ends; False if it outlived ``timeout_s``."""
    if task is None:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not task.done():
        left = deadline - loop.time()
        if left <= 0:
            log.warning("task %s did not stop in %.1fs; left behind", task.get_name(), timeout_s)
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=min(0.1, left))
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s ended with %r", task.get_name(), task.exception())
    return True
