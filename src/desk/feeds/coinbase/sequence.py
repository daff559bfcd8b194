"""The ``sequence_num`` of one Coinbase connection (PROTOCOLS.md C, "sequence_num and gaps").

Coinbase numbers the messages it sends on a connection: each is exactly one above the one before.
A jump of more than one means messages were lost; a number at or below the last one is stale or
out of order and is ignored. Whether the venue counts per connection or per product is not
verified; desk counts per connection (every channel, heartbeats included), as the simulator
does, and starts over on every connection. Messages that carry no number (errors) are not
checked.
"""

from __future__ import annotations

IN_ORDER = 0
STALE = -1


class ConnectionSequence:
    """Where the numbering of the current connection stands."""

    __slots__ = ("last", "missing", "stale")

    def __init__(self) -> None:
        self.last = -1  # no message yet on this connection
        self.missing = 0  # messages lost over the life of the feed (all connections)
        self.stale = 0  # stale / out-of-order messages ignored

    def reset(self) -> None:
        """A new connection: its first message may carry any number."""
        self.last = -1

    def check(self, seq: int) -> int:
        """``IN_ORDER`` (0), ``STALE`` (-1, ignore the message), or how many were lost before it.

        The first message of a connection and messages without a number (``seq < 0``) are in
        order. The caller inlines the common case (``seq == last + 1``) and calls this for the
        rest.
        """
        last = self.last
        if seq < 0:
            return IN_ORDER
        if last < 0 or seq == last + 1:
            self.last = seq
            return IN_ORDER
        if seq <= last:
            self.stale += 1
            return STALE
        lost = seq - last - 1
        self.missing += lost
        self.last = seq
        return lost
