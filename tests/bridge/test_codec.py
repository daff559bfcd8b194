"""The bridge codec: every event and command survives msgpack, and bad input is refused clearly."""

from __future__ import annotations

import logging
from decimal import Decimal

import msgspec
import pytest

from desk.bridge.codec import (
    EVENT_TYPES,
    WIRE_VERSION,
    CodecError,
    SafeDecoder,
    as_command,
    decode_as,
    decode_command,
    decode_event,
    encode,
)
from desk.core.commands import AnyCommand, CancelAll, Halt, StartBot, SubmitOrder
from desk.core.enums import Side
from desk.core.orders import Fill, OrderRequest, OrderType, Position
from tests.bridge.redis_fixtures import sample_events


def test_the_samples_cover_every_event_type() -> None:
    assert {type(event) for _, event in sample_events()} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", [e for _, e in sample_events()], ids=lambda e: type(e).__name__)
def test_every_event_type_round_trips(event: object) -> None:
    decoded = decode_event(encode(event))
    assert type(decoded) is type(event)
    assert decoded == event


def test_decimals_stay_exact() -> None:
    fill = next(e for _, e in sample_events() if isinstance(e, Fill))
    decoded = decode_event(encode(fill))
    assert isinstance(decoded, Fill)
    assert decoded.fee == Decimal("-0.0000001") and isinstance(decoded.price, Decimal)


def test_state_values_decode_as_the_named_type() -> None:
    position = Position(
        bot_id="b1",
        symbol="BTC-USDT",
        size=Decimal("-0.3"),
        avg_price=Decimal("100.25"),
        realized_pnl=Decimal("1.5"),
        fees=Decimal("0.01"),
        mark_price=Decimal("101"),
        unrealized_pnl=Decimal("-0.225"),
    )
    assert decode_as(encode(position), Position) == position


def test_the_envelope_carries_the_version_first() -> None:
    version, _ = msgspec.msgpack.decode(encode(Halt()))
    assert version == WIRE_VERSION


def test_an_unknown_version_is_refused_with_the_reason() -> None:
    event = sample_events()[0][1]
    future = msgspec.msgpack.encode((WIRE_VERSION + 1, event))
    with pytest.raises(CodecError, match="unknown schema version"):
        decode_event(future)


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", b"not msgpack at all", msgspec.msgpack.encode({"a": 1}), b"\x92\x01"],
)
def test_malformed_bytes_are_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode_event(data)


def test_an_unknown_event_type_is_a_codec_error() -> None:
    data = msgspec.msgpack.encode((WIRE_VERSION, {"type": "Martian", "ts_exchange": 0}))
    with pytest.raises(CodecError, match="bad event payload"):
        decode_event(data)


def test_the_safe_decoder_counts_and_logs_instead_of_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    decoder: SafeDecoder[object] = SafeDecoder(decode_event, "bus event")
    good = encode(sample_events()[0][1])
    with caplog.at_level(logging.WARNING):
        results = [decoder(b"junk"), decoder(good), decoder(b"\x92\x07\x01")]
    assert results[0] is None and results[2] is None and results[1] is not None
    assert decoder.errors == 2
    assert "unknown schema version 7" in decoder.last_error
    assert "undecodable bus event" in caplog.text


COMMANDS = [
    StartBot(bot_id="b1"),
    CancelAll(symbol="BTC-USDT"),
    Halt(reason="fat finger", flatten=True),
    SubmitOrder(
        request=OrderRequest(
            symbol="BTC-USDT",
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            size=Decimal("0.01"),
            price=Decimal("65000.1"),
        )
    ),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_commands_round_trip(command: AnyCommand) -> None:
    assert decode_command(encode(command)) == command


def test_commands_may_be_given_as_mappings() -> None:
    assert as_command({"cmd": "start_bot", "bot_id": "b1"}) == StartBot(bot_id="b1")
    assert as_command({"type": "StartBot", "bot_id": "b1"}) == StartBot(bot_id="b1")
    assert as_command(Halt()) == Halt()


@pytest.mark.parametrize(
    ("mapping", "reason"),
    [
        ({"cmd": "launch_rockets"}, "unknown command 'launch_rockets'"),
        ({"cmd": "start_bot"}, "bot_id"),
        ({"bot_id": "b1"}, "bad command"),
    ],
)
def test_a_bad_command_mapping_is_refused_at_the_sender(mapping: dict, reason: str) -> None:
    with pytest.raises(CodecError, match=reason):
        as_command(mapping)
