"""The recorder's health, as the health mode shows it (it rides in ``HealthView``)."""

from __future__ import annotations

import msgspec


class RecorderHealth(msgspec.Struct, frozen=True, kw_only=True):
    """Write rate and volume, what waits (``backlog`` of ``max_backlog``), what was dropped,
    write errors, the free disk under the recording's root, and the current write error
    (``""`` while writes succeed)."""

    rows_per_s: float
    rows_written: int
    bytes_written: int
    backlog: int
    max_backlog: int
    dropped: int
    write_errors: int
    free_bytes: int
    last_error: str = ""
