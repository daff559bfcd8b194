"""msgpack codec for everything that crosses a process boundary (DESIGN.md section 3).

Every message is a two-element msgpack array ``[schema_version, payload]``. The version comes
first so a reader can refuse a message from a newer (or older) desk with a clear reason instead
of mis-reading its fields. Payloads are the frozen, tagged msgspec Structs of ``core/``: events
decode to the union of known event types by their tag (the class name), commands to the union of
known commands, and state values (positions, bot status, book tops) to the type the caller names.
Decimal fields travel as strings, so money stays exact.

Decoding never raises anything but :class:`CodecError`, and :class:`SafeDecoder` turns that into
a counted, logged ``None`` so one bad message cannot stop a reader loop.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

from desk.core.commands import AnyCommand, Command
from desk.core.events import BookChanged, Candle, FeedStatus, SystemEvent, Ticker, Trade
from desk.core.orders import Fill, Order
from desk.signals.bots import BotEvent, BotSignal

log = logging.getLogger(__name__)

WIRE_VERSION = 1
"""Bump on any change that an older reader would mis-read (renamed or retyped fields)."""

BusEvent = (
    Trade
    | Ticker
    | BookChanged
    | Candle
    | FeedStatus
    | SystemEvent
    | Order
    | Fill
    | BotEvent
    | BotSignal
)
"""Every event that travels on a bus topic, and so on Redis pub/sub."""

EVENT_TYPES: tuple[type[msgspec.Struct], ...] = BusEvent.__args__  # type: ignore[attr-defined]

T = TypeVar("T")


class CodecError(ValueError):
    """A message that cannot be decoded: malformed bytes, unknown version or unknown type."""


_encoder = msgspec.msgpack.Encoder()
_envelope_decoder = msgspec.msgpack.Decoder(tuple[int, msgspec.Raw])
_event_decoder = msgspec.msgpack.Decoder(BusEvent)
_command_decoder = msgspec.msgpack.Decoder(AnyCommand)


def encode(payload: Any) -> bytes:
    """``[WIRE_VERSION, payload]`` as msgpack; ``payload`` is a Struct or plain builtins."""
    return _encoder.encode((WIRE_VERSION, payload))


def _payload(data: bytes) -> msgspec.Raw:
    try:
        version, raw = _envelope_decoder.decode(data)
    except (msgspec.DecodeError, TypeError) as exc:
        raise CodecError(f"malformed envelope: {exc}") from exc
    if version != WIRE_VERSION:
        raise CodecError(f"unknown schema version {version} (this desk reads {WIRE_VERSION})")
    return raw


def decode_event(data: bytes) -> BusEvent:
    """Decode one bus event; :class:`CodecError` for anything this desk cannot read."""
    raw = _payload(data)
    try:
        return _event_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise CodecError(f"bad event payload: {exc}") from exc


def decode_command(data: bytes) -> Command:
    """Decode one command; :class:`CodecError` for anything this desk cannot read."""
    raw = _payload(data)
    try:
        return _command_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise CodecError(f"bad command payload: {exc}") from exc


def decode_as(data: bytes, type_: type[T]) -> T:
    """Decode a versioned payload as ``type_`` (a state value such as Position or BookView)."""
    raw = _payload(data)
    try:
        return msgspec.msgpack.decode(raw, type=type_)
    except msgspec.DecodeError as exc:
        raise CodecError(f"bad {getattr(type_, '__name__', type_)} payload: {exc}") from exc


_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")
_COMMAND_BY_SNAKE_NAME = {
    _CAMEL_BOUNDARY.sub("_", cls.__name__).lower(): cls.__name__
    for cls in AnyCommand.__args__  # type: ignore[attr-defined]
}


def as_command(command: Command | Mapping[str, Any]) -> Command:
    """Validate a command given as a Struct or a mapping.

    A mapping names its type either by tag (``{"type": "StartBot", "bot_id": "b1"}``) or in
    snake case (``{"cmd": "start_bot", "bot_id": "b1"}``). Raises :class:`CodecError` naming
    what is wrong, so a bad command fails at the sender, not in the engine.
    """
    if isinstance(command, Command):
        return command
    fields = dict(command)
    if "cmd" in fields and "type" not in fields:
        name = fields.pop("cmd")
        tag = _COMMAND_BY_SNAKE_NAME.get(name)
        if tag is None:
            raise CodecError(f"unknown command {name!r}")
        fields["type"] = tag
    try:
        return msgspec.convert(fields, AnyCommand)
    except msgspec.ValidationError as exc:
        raise CodecError(f"bad command {command!r}: {exc}") from exc


class SafeDecoder(Generic[T]):
    """Wraps a decode function for a reader loop: bad messages are counted and logged, not raised.

    Logging is limited to the first ``log_first`` failures and then every ``log_every``-th, so a
    stream of garbage cannot flood the log; ``errors`` and ``last_error`` are for health.
    """

    def __init__(
        self,
        decode: Callable[[bytes], T],
        what: str,
        log_first: int = 10,
        log_every: int = 1000,
    ) -> None:
        self._decode = decode
        self.what = what
        self.errors = 0
        self.last_error = ""
        self._log_first = log_first
        self._log_every = log_every

    def __call__(self, data: bytes) -> T | None:
        try:
            return self._decode(data)
        except CodecError as exc:
            self.errors += 1
            self.last_error = str(exc)
            if self.errors <= self._log_first or self.errors % self._log_every == 0:
                log.warning("undecodable %s (%d so far): %s", self.what, self.errors, exc)
            return None
