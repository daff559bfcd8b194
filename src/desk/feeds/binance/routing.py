"""Which handler a combined-stream frame goes to, from its first bytes: one slice, one lookup.

A combined frame starts ``{"stream":"btcusdt@trade","data":{"e":"trade",...`` (``{"u":`` for
``bookTicker``): its stream name, then always the same eleven bytes ``","data":{"``. So every
subscribed stream has a fixed *header* (``header``), and the first ``length`` bytes of a frame
(``length``: the shortest header) name its stream. ``FrameRoutes.heads`` maps those bytes to the
stream's handler, and the feed routes a frame with ``heads.get(raw[:length])``: no search for the
closing quote (``bytes.find`` parses its arguments the slow way: it cost as much as the typed
decode of a whole trade).

A key holds the stream's whole name and its closing quote, so it can never match a frame of
another stream. A stream whose name is over ten bytes longer than the shortest gets no key: its
frames, and frames in another layout (a space after a colon, another key order, text instead of
bytes), miss and are routed by their name read with ``wire.stream_of`` (``by_name``), or take
the feed's slow path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from desk.feeds.binance.wire import COMBINED_PREFIX

Handler = Callable[[bytes, int], None]

DATA_KEY = b'","data":{"'
"""What follows the stream name in the venue's frames, up to the payload's first key."""


def header(stream: str) -> bytes:
    """``b'{"stream":"btcusdt@trade","data":{"'``: how every frame of ``stream`` starts."""
    return COMBINED_PREFIX + stream.encode() + DATA_KEY


class FrameRoutes:
    """The two routing tables of a set of streams (``{stream name: handler}``)."""

    __slots__ = ("by_name", "heads", "length")

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.by_name: dict[bytes, Handler] = {s.encode(): h for s, h in handlers.items()}
        heads = {header(s): h for s, h in handlers.items()}
        length = self.length = min(map(len, heads), default=len(COMBINED_PREFIX))
        # head[:length] still ends past the closing quote of the name when the header is at
        # most len(DATA_KEY) - 1 bytes longer than the shortest one
        spare = len(DATA_KEY) - 1
        self.heads: dict[bytes, Handler] = {
            head[:length]: h for head, h in heads.items() if len(head) - length <= spare
        }
