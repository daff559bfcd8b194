"""Short, safe excerpts of outside data (frames, venue strings) for logs and stored events.

Anything a venue or a peer sends can be arbitrarily long: a 200 kB price string written to the
log and to ``system_events`` on every occurrence turns one bad frame into megabytes of disk. Every
log line or stored message that quotes outside data goes through :func:`excerpt`, which keeps the
first ``limit`` characters and says how long the whole was::

    excerpt(b'{"arg":...')          -> '{"arg":...'                       (short: all of it)
    excerpt(frame_of_204_812_chars) -> '\\'{"arg":…\\' (200 of 204,812 chars)'

The text is ``repr``-quoted, so control characters and invalid UTF-8 stay visible and can never
break a log line or a terminal.
"""

from __future__ import annotations

EXCERPT_CHARS = 200
"""Characters of outside data kept in a log line or a stored message."""


def excerpt(data: object, limit: int = EXCERPT_CHARS, *, quote: bool = True) -> str:
    """The first ``limit`` characters of ``data``, plus its total length when cut.

    ``bytes`` are decoded as UTF-8 with invalid bytes replaced (``\\ufffd``); the length stated is
    that of the original (bytes for bytes, characters for text); anything else is ``str()``-ed.
    ``quote=False`` leaves the text unquoted, for values stored as text (e.g. a dead letter's
    row), where ``repr`` quoting would change the value itself.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if isinstance(data, memoryview | bytearray):
        data = bytes(data)
    if not isinstance(data, bytes | str):
        data = str(data)
    total = len(data)
    head = data[:limit]
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    shown = repr(text) if quote else text
    if total <= limit:
        return shown
    unit = "bytes" if isinstance(data, bytes) else "chars"
    shown = f"{shown[:-1]}…{shown[-1]}" if quote else f"{shown}…"
    return f"{shown} ({limit:,} of {total:,} {unit})"
