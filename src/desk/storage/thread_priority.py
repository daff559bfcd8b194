"""SQLite's writer thread as a background thread: it never takes the core from the event loop.

The write-behind writer binds and steps its batches on its own thread (aiosqlite's). On a
machine with a core to spare that thread runs beside the event loop's; on a busy one it shares
a core with it, and when it wakes up (a batch handed over) Linux lets it preempt the event
loop's thread in the middle of a frame: the order path then waits out the writer's time slice.
Under ``SCHED_BATCH`` the kernel takes the thread for CPU-bound background work and does not
let its wake-ups preempt: the event loop finishes its frame first. Its share of the CPU is the
same as before (the same nice value), so the writer is never starved; only who goes first
changes. Measured with ``bench/tick_to_order.py --writer-sched both`` beside a busy core.

Linux only; elsewhere, or where the policy is refused (a sandbox), the thread stays as it is
and the store logs why when it opens (write_behind.py).
"""

from __future__ import annotations

import os
import threading


def run_as_background() -> str:
    """Put the calling thread under ``SCHED_BATCH``; "" when done, else why not."""
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None or not hasattr(os, "sched_setscheduler"):
        return "SCHED_BATCH is not available on this platform"
    try:
        os.sched_setscheduler(threading.get_native_id(), policy, os.sched_param(0))
    except OSError as exc:
        return f"SCHED_BATCH refused: {exc}"
    return ""


def thread_policy() -> str:
    """The calling thread's scheduling policy by name ("batch", "other", ...)."""
    if not hasattr(os, "sched_getscheduler"):
        return "unknown"
    policy = os.sched_getscheduler(threading.get_native_id())
    names = {
        getattr(os, name): name.removeprefix("SCHED_").lower()
        for name in ("SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE", "SCHED_FIFO", "SCHED_RR")
        if hasattr(os, name)
    }
    return names.get(policy, str(policy))
