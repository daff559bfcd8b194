"""Every Redis key, channel and stream name desk uses, built from one per-desk prefix.

Keeping the names in one place means two desks can share a Redis (different prefixes) and a
reader and a writer can never disagree on a spelling. Layout, for the prefix ``desk``::

    desk:bus:{topic}                 pub/sub channel per bus topic (market_data:BTC-USDT, ...);
                                     messages sealed under the channel's name
    desk:stream:trade_updates        stream: every Order/Fill (durable copy of trade_updates:*)
    desk:stream:commands             stream: signed commands, consumer group ``engine``
    desk:stream:acks:{sender_id}     stream: sealed receipts for one (verified) command sender
    desk:cmd:applied:{group}:{id}    string: sealed exactly-once ledger entry of one command,
                                     per consumer group (so each group's Redis user owns its own)
    desk:state:positions             hash {bot_id}|{symbol} -> Position
    desk:state:open_orders           hash client_order_id -> Order
    desk:state:balances              hash currency -> Balance
    desk:state:bots                  hash bot_id -> BotStatus
    desk:state:metrics               hash component -> metrics mapping
    desk:state:book:{symbol}         string: BookView (top N)
    desk:state:book_symbols          set of symbols that have a book key
    desk:state:components            set of components that ever sent a heartbeat
    desk:heartbeat:{component}       string with a TTL: sealed Heartbeat
    desk:lease:control               string with a TTL: the engine's sealed grant of the control
                                     lease (who holds it, until when)
    desk:view:{name}                 string: one sealed EngineClient view (``view:meta``,
                                     ``view:book:{symbol}``, ``view:candles:{symbol}:{tf}``, ...)
                                     written by the engine's RedisLink, read by RedisClient

"Sealed" is :mod:`desk.bridge.signing`: a MAC under a key derived from the command secret, so a
reader can tell what desk wrote from what any other Redis client wrote. Which role's Redis user
may touch which of these names: :mod:`desk.engine.redis_acl`.
"""

from __future__ import annotations

import msgspec

COMMAND_GROUP = "engine"
"""The consumer group of the engine's command readers."""


class RedisKeys(msgspec.Struct, frozen=True):
    """Names for one desk instance; ``prefix`` is ``RedisConfig.key_prefix``."""

    prefix: str = "desk"

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in " *?[]"):
            raise ValueError(
                f"key prefix must be non-empty with no spaces or glob characters, "
                f"got {self.prefix!r}"
            )

    # pub/sub
    def channel(self, topic: str) -> str:
        """The pub/sub channel carrying one bus topic."""
        return f"{self.prefix}:bus:{topic}"

    def channel_pattern(self, topic_pattern: str = "*") -> str:
        """A PSUBSCRIBE pattern: ``channel_pattern("market_data:*")``."""
        return f"{self.prefix}:bus:{topic_pattern}"

    def topic_of(self, channel: str | bytes) -> str:
        """The bus topic of a channel name (inverse of :meth:`channel`)."""
        if isinstance(channel, bytes):
            channel = channel.decode()
        head = f"{self.prefix}:bus:"
        if not channel.startswith(head):
            raise ValueError(f"{channel!r} is not a desk channel of prefix {self.prefix!r}")
        return channel[len(head) :]

    # streams
    @property
    def trade_updates_stream(self) -> str:
        return f"{self.prefix}:stream:trade_updates"

    @property
    def commands_stream(self) -> str:
        return f"{self.prefix}:stream:commands"

    def acks_stream(self, sender_id: str) -> str:
        return f"{self.prefix}:stream:acks:{sender_id}"

    def applied_command(self, command_id: str, group: str = COMMAND_GROUP) -> str:
        return f"{self.prefix}:cmd:applied:{group}:{command_id}"

    # latest state
    @property
    def positions(self) -> str:
        return f"{self.prefix}:state:positions"

    @property
    def open_orders(self) -> str:
        return f"{self.prefix}:state:open_orders"

    @property
    def balances(self) -> str:
        return f"{self.prefix}:state:balances"

    @property
    def bots(self) -> str:
        return f"{self.prefix}:state:bots"

    @property
    def metrics(self) -> str:
        return f"{self.prefix}:state:metrics"

    def book(self, symbol: str) -> str:
        return f"{self.prefix}:state:book:{symbol}"

    @property
    def book_symbols(self) -> str:
        return f"{self.prefix}:state:book_symbols"

    @property
    def components(self) -> str:
        return f"{self.prefix}:state:components"

    def heartbeat(self, component: str) -> str:
        return f"{self.prefix}:heartbeat:{component}"

    def view(self, *parts: str) -> str:
        """The key of one view the engine writes for attaching UIs: ``view("book", symbol)``."""
        return f"{self.prefix}:view:{':'.join(parts)}"

    # control
    @property
    def control_lease(self) -> str:
        return f"{self.prefix}:lease:control"


def position_field(bot_id: str, symbol: str, venue: str = "") -> str:
    """The field of one position in the positions hash (``|`` appears in no id); a position
    off the primary venue (OKX, or its paper/sim stand-ins) is one more field apart."""
    if venue in ("", "okx", "paper", "sim"):
        return f"{bot_id}|{symbol}"
    return f"{bot_id}|{symbol}|{venue}"
