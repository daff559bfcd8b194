"""Storage settings: the SQLite file and its write batching (``storage``)."""

from __future__ import annotations

from desk.core.config import FrozenConfig, PositiveFloat, PositiveInt


class StorageConfig(FrozenConfig, frozen=True):
    """Where SQLite lives and how its one writer batches, retries and stops.

    ``close_timeout``: how long stopping may spend writing what is still queued; what is left
    then is saved to ``<sqlite_path>.unwritten.jsonl`` and stopping goes on. ``busy_timeout``:
    how long one write waits for another connection's lock before it counts as failed (and is
    retried); less than ``close_timeout``. ``catch_up_interval``: rows that arrived while a
    batch was being written wait at most this long (unless they fill a batch first): a steady
    stream is committed that often rather than at every turn of the event loop.
    ``event_interval``: at most one system event per kind of bad row (and per write outage) in
    this many seconds; the rest are counted into the next.
    ``order_journal``: the OMS writes each new order to an append-only journal beside the file
    (journal.py) before sending it, instead of waiting for its batch to commit; ``journal_fsync``
    adds a disk flush per order (survives a power loss, not only a crash of the process).
    ``writer_sched_batch``: on Linux, SQLite's writer thread runs under ``SCHED_BATCH``, so on a
    busy machine its wake-ups never preempt the event loop in the middle of a frame (the same
    share of the CPU; thread_priority.py).
    """

    sqlite_path: str = "data/desk.sqlite"
    batch_size: PositiveInt = 500
    flush_interval: PositiveFloat = 0.25
    catch_up_interval: PositiveFloat = 0.001
    queue_size: PositiveInt = 100_000
    close_timeout: PositiveFloat = 5.0
    busy_timeout: PositiveFloat = 1.0
    event_interval: PositiveFloat = 60.0
    order_journal: bool = True
    journal_fsync: bool = False
    writer_sched_batch: bool = True

    def __post_init__(self) -> None:
        if self.busy_timeout >= self.close_timeout:
            raise ValueError(
                f"@busy_timeout: must be less than close_timeout ({self.close_timeout}), "
                f"got {self.busy_timeout}"
            )
