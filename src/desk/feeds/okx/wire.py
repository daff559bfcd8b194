"""OKX v5 public WebSocket wire formats as msgspec Structs (PROTOCOLS.md A.2-A.4).

Field names follow the wire (camelCase) so decoding needs no renaming. Prices and sizes stay the
exchange's strings: the book keeps them raw for the CRC32 checksum, and the feed converts to float
only where it builds events. Typed decoding is as fast as untyped ``msgspec.json.decode`` here
and validates the shape at the same time; a frame of the wrong shape raises
``msgspec.ValidationError`` (a ``msgspec.DecodeError``), which the feed counts as a decode error.

Every push starts ``{"arg":{"channel":"<name>"`` on the wire, so the feed picks the right typed
decoder from the first bytes (``dispatch_key``) without a second parse.

Numbers the feed turns into events carry their absolute limits in the type (``Price``, ``Size``,
``TsMs`` from ``desk.feeds.validation``): msgspec refuses NaN, inf, negative or zero prices,
negative sizes and timestamps outside this century while parsing, at no extra cost.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from msgspec.structs import astuple

from desk.core.enums import Side
from desk.feeds.validation import Price, Size, TsMs

T = TypeVar("T")

PUSH_PREFIX = b'{"arg":{"channel":"'
_PREFIX_LEN = len(PUSH_PREFIX)
DISPATCH_KEY_LEN = _PREFIX_LEN + 8
"""The prefix plus 8 bytes: the longest channel desk reads (7) and its closing quote, so a key
names one channel exactly (``trades",`` is not ``trades-a``; see ``dispatch_key``)."""

BOOK_CHANNELS = ("books", "books5", "bbo-tbt")
"""Book channels, best first: a symbol's book follows the first of these that is configured."""


class BookLevel(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One book level: ``["8476.98","415","0","13"]`` -> ``BookLevel(px="8476.98", sz="415")``.

    Price and size stay the exchange's strings (the book keys on them and the checksum needs
    them verbatim). ``array_like``: decoded straight from the JSON array, and the elements after
    the first two (the deprecated ``"0"`` and the order count, which desk never reads) are
    skipped by the parser without building anything: about 15% of the decode of a ``books``
    update. ``gc=False``: two strings cannot form a cycle, so the collector never tracks the
    dozens of levels a push carries. A level of any length from 2 up decodes (OKX may drop or
    add trailing fields); a shorter one, or one whose price or size is not a string, fails the
    fast decoder and the frame is parsed leniently (see ``OkxBookKeeper``).

    The hot path reads ``px``/``sz``; ``len``, indexing and unpacking make a level also read
    like ``(px, sz)`` for the checks and tools that take any sequence of strings.
    """

    px: str
    sz: str

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> str:
        return (self.px, self.sz)[index]


def level_pairs(levels: list[BookLevel]) -> list[tuple[str, str]]:
    """``levels`` as ``(px, sz)`` tuples, for code that reads levels by index many times over
    (a snapshot's checks and load): one C-level conversion instead of a Python call per read."""
    return list(map(astuple, levels))


LenientLevel = list[str]
"""Any level shape at all: ``[price, size, ...]`` as strings (see ``LenientBooksPush``)."""


class Arg(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """A channel subscription: ``{"channel":"books","instId":"BTC-USDT"}`` (two strings: never in
    a cycle, so ``gc=False``)."""

    channel: str
    instId: str = ""


class BookData(msgspec.Struct, gc=False):
    """One element of ``data`` on ``books`` / ``books5`` / ``bbo-tbt``.

    ``{"asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],
    "ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":123456}``

    ``books5`` and ``bbo-tbt`` carry no ``checksum``/``prevSeqId`` (``books5`` adds ``instId``).
    ``ts`` (ms) is a string on the wire; ``push_decoder`` turns it into an int while parsing.
    ``gc=False`` (also on ``BooksPush``): lists of levels cannot lead back to the push, so the
    collector need not track (and untrack) two more objects per message.
    """

    asks: list[BookLevel]
    bids: list[BookLevel]
    ts: TsMs
    checksum: int = 0
    prevSeqId: int = -1
    seqId: int = -1


class BooksPush(msgspec.Struct, gc=False, kw_only=True):
    """``{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[BookData]}``.

    ``action`` is ``snapshot`` or ``update`` on ``books``, absent on ``books5``/``bbo-tbt``.
    Fields in the wire's order (``kw_only`` lets ``action`` with its default sit before
    ``data``): msgspec tries the next field in order first when it matches a key.
    """

    arg: Arg
    action: str = ""
    data: list[BookData]


class LenientBookData(msgspec.Struct):
    """``BookData`` with levels of any length, for frames the fast shape refuses (the keeper
    turns it into a ``BooksPush`` with ``as_books_push`` before using it)."""

    asks: list[LenientLevel]
    bids: list[LenientLevel]
    ts: TsMs
    checksum: int = 0
    prevSeqId: int = -1
    seqId: int = -1


class LenientBooksPush(msgspec.Struct):
    arg: Arg
    data: list[LenientBookData]
    action: str = ""

    def as_books_push(self) -> BooksPush:
        """The same push with ``BookLevel`` levels; a level shorter than ``[price, size]``
        gets ``""`` for what it lacks, which every level check refuses."""
        return BooksPush(
            arg=self.arg,
            data=[
                BookData(
                    asks=_book_levels(data.asks),
                    bids=_book_levels(data.bids),
                    ts=data.ts,
                    checksum=data.checksum,
                    prevSeqId=data.prevSeqId,
                    seqId=data.seqId,
                )
                for data in self.data
            ],
            action=self.action,
        )


def _book_levels(levels: list[LenientLevel]) -> list[BookLevel]:
    out: list[BookLevel] = []
    for level in levels:
        padded = [*level[:2], "", ""]
        out.append(BookLevel(padded[0], padded[1]))
    return out


class TradeData(msgspec.Struct, kw_only=True, gc=False):
    """``{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306",
    "side":"buy","ts":"1630048897897","count":"3","source":"0","seqId":1234}``

    ``tradeId`` is the last id of an aggregate of ``count`` fills (absent on ``trades-all``).
    ``px``/``sz``/``ts``/``count`` are strings on the wire, converted (and range-checked) while
    parsing. ``gc=False`` (also on ``TradesPush``): a string, numbers and an enum member cannot
    lead back to the trade, so the collector need not track two more objects per push.
    """

    tradeId: str
    px: Price
    sz: Size
    side: Side
    ts: TsMs
    count: int = 1


class TradesPush(msgspec.Struct, gc=False):
    """``{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[TradeData]}``."""

    arg: Arg
    data: list[TradeData]


class TickerData(msgspec.Struct, kw_only=True):
    """``{"instType":"SPOT","instId":"BTC-USDT","last":"9999.99","lastSz":"0.1",
    "askPx":"9999.99","askSz":"11","bidPx":"8888.88","bidSz":"5","open24h":"9000",
    "high24h":"10000","low24h":"8888.88","volCcy24h":"2222","vol24h":"2222",
    "sodUtc0":"2222","sodUtc8":"2222","ts":"1597026383085"}``; all strings, maybe empty
    (the feed checks each number it uses); ``ts`` is converted while parsing.
    """

    last: str = ""
    lastSz: str = ""
    askPx: str = ""
    askSz: str = ""
    bidPx: str = ""
    bidSz: str = ""
    open24h: str = ""
    high24h: str = ""
    low24h: str = ""
    vol24h: str = ""
    volCcy24h: str = ""
    ts: TsMs


class TickersPush(msgspec.Struct):
    arg: Arg
    data: list[TickerData]


class Envelope(msgspec.Struct, kw_only=True):
    """Anything that is not a fast-path push: events, or a push in unexpected key order.

    Ack: ``{"id":"1512","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},
    "connId":"a4d3ae55"}``
    Error: ``{"id":"1512","event":"error","code":"60012","msg":"Invalid request: ...",
    "connId":"a4d3ae55"}``
    Notice: ``{"event":"notice","code":"64008","msg":"The connection will soon be closed for a
    service upgrade. Please reconnect.","connId":"a4d3ae55"}``
    """

    event: str = ""
    arg: Arg | None = None
    code: str | int = ""
    msg: str = ""
    connId: str = ""
    id: str = ""


class Request(msgspec.Struct, omit_defaults=True):
    """``{"id":"1512","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}``."""

    op: str
    args: list[Arg]
    id: str = ""


_encoder = msgspec.json.Encoder()


def push_decoder(push_type: type[T]) -> msgspec.json.Decoder[T]:
    """A decoder for one push type that converts numeric strings where the struct says so.

    ``strict=False`` lets ``"ts":"1597026383085"`` decode straight into an ``int`` field and
    ``"px":"42219.9"`` into a ``float`` (correctly rounded, as ``float()`` would): the field is
    converted while parsing, which is cheaper than building the string and converting it after.
    Fields typed ``str`` (book levels, trade ids) stay exactly as received.
    """
    return msgspec.json.Decoder(push_type, strict=False)


def encode_request(op: str, args: list[Arg], request_id: str = "") -> str:
    """The text frame of a ``subscribe``/``unsubscribe`` request."""
    return _encoder.encode(Request(op=op, args=args, id=request_id)).decode()


def chunk_args(args: list[Arg], max_bytes: int = 60_000) -> list[list[Arg]]:
    """Split ``args`` so each request stays under OKX's 64 KB of channel args."""
    chunks: list[list[Arg]] = []
    current: list[Arg] = []
    size = 0
    for arg in args:
        arg_size = len(_encoder.encode(arg)) + 1
        if current and size + arg_size > max_bytes:
            chunks.append(current)
            current, size = [], 0
        current.append(arg)
        size += arg_size
    if current:
        chunks.append(current)
    return chunks


def dispatch_key(channel: str) -> bytes:
    """The first ``DISPATCH_KEY_LEN`` bytes of every push on ``channel`` in OKX's layout.

    ``"books"`` -> ``b'{"arg":{"channel":"books","'``, ``"tickers"`` -> ``b'...:"tickers"'``.
    A dict keyed by these finds a frame's handler from one slice, ``raw[:DISPATCH_KEY_LEN]``,
    which also checks that the frame starts like a push. Every key holds the channel name's
    closing quote, so only that exact channel matches: ``trades-all``, ``tickersX`` or
    ``books50-l2-tbt`` never reach the ``trades``/``tickers``/``books5`` handlers (they take the
    slow path, which dispatches on the decoded name, exactly). Channel names longer than 7
    characters cannot have a key.
    """
    if len(channel) > DISPATCH_KEY_LEN - _PREFIX_LEN - 1:
        raise ValueError(f"channel {channel!r} is too long for a dispatch key")
    return (PUSH_PREFIX + channel.encode() + b'","')[:DISPATCH_KEY_LEN]


def channel_of(raw: bytes) -> str | None:
    """The channel of a push from its first bytes, or None when it does not start as usual.

    ``b'{"arg":{"channel":"books","instId":"BTC-USDT"},...'`` -> ``"books"``.
    """
    if raw.startswith(PUSH_PREFIX):
        end = raw.find(b'"', _PREFIX_LEN, _PREFIX_LEN + 40)
        if end > 0:
            return raw[_PREFIX_LEN:end].decode(errors="replace")
    return None
