"""Which handler a Coinbase message goes to, from its first bytes: one slice, one lookup.

The venue writes ``"channel"`` first and then ``"client_id"`` (the prose docs) or
``"timestamp"`` (the live feed): ``{"channel":"market_trades","timestamp":"2023-...``. So the
first ``HEAD_LEN`` bytes of a message name its channel, closing quote included, for every channel
desk reads, and ``channel_heads`` maps each such beginning to the channel's handler: routing is
``heads.get(raw[:HEAD_LEN])``, with no search for the closing quote (``bytes.find`` parses its
arguments the slow way and cost more than the rest of the dispatch).

A message in another layout, text instead of bytes, or a channel without a key misses and is
routed the slow way (``wire.channel_of``), so a miss costs time, never a wrong handler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from desk.feeds.coinbase.wire import PREFIX

Handler = Callable[[bytes, int], None]

FOLLOWERS = (b'client_id"', b'timestamp"', b'sequence_num"', b'events"')
"""The keys seen (or possible) right after ``"channel"``."""
LONGEST_CHANNEL = len("subscriptions")  # and "market_trades"
HEAD_LEN = len(PREFIX) + LONGEST_CHANNEL + len('","')
"""Up to the first byte of the key after the longest channel name: every key then holds a whole
channel name and its closing quote."""


def channel_heads(handlers: Mapping[str, Handler]) -> dict[bytes, Handler]:
    """``{first HEAD_LEN bytes of a message: handler}`` for every channel in ``handlers``."""
    heads: dict[bytes, Handler] = {}
    for channel, handler in handlers.items():
        if len(channel) > LONGEST_CHANNEL:
            continue  # its key could not hold the whole name: routed the slow way
        for follower in FOLLOWERS:
            start = PREFIX + channel.encode() + b'","' + follower
            heads[start[:HEAD_LEN]] = handler
    return heads
