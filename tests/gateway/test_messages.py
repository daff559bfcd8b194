"""The messages' documented schema: generated from the Structs, every route's message in it,
and what the gateway encodes decodes back with the same Structs."""

from __future__ import annotations

import math

import msgspec

from desk.core.enums import Side
from desk.core.events import Ticker, Trade
from desk.gateway.market import _ticker, _trade
from desk.gateway.messages import (
    ROUTE_MESSAGES,
    SCHEMA_VERSION,
    AnyMessage,
    Hello,
    Market,
    encode,
    message_schema,
)
from desk.gateway.schema import schema_markdown


def test_the_schema_names_every_message_by_its_type() -> None:
    schema = message_schema()
    mapping = schema["discriminator"]["mapping"]
    assert schema["discriminator"]["propertyName"] == "type"
    for kinds in ROUTE_MESSAGES.values():
        for kind in kinds:
            tag = kind.__struct_config__.tag
            assert mapping[tag] == f"#/$defs/{kind.__name__}"
            body = schema["$defs"][kind.__name__]
            assert {"type", "ts"} <= set(body["required"])
            assert body["properties"]["v"]["default"] == SCHEMA_VERSION


def test_the_readme_section_lists_every_route_and_field() -> None:
    text = schema_markdown()
    for route in ROUTE_MESSAGES:
        assert f"`{route}`" in text
    for name, body in message_schema()["$defs"].items():
        assert name in text
        for field in body.get("properties", {}):
            if field != "type":
                assert f"| `{field}` |" in text


def test_a_message_round_trips_through_json() -> None:
    trade = Trade(
        ts_exchange=1, ts_recv=2, venue="okx", symbol="BTC-USDT", trade_id="7",
        price=60000.5, size=0.25, side=Side.BUY,
    )  # fmt: skip
    ticker = Ticker(
        ts_exchange=1, ts_recv=2, venue="okx", symbol="BTC-USDT", last=60000.5, last_size=1.0,
        bid=60000.0, bid_size=1.0, ask=60001.0, ask_size=1.0, open_24h=math.nan,
        high_24h=61000.0, low_24h=59000.0, volume_24h=12.5, volume_quote_24h=750000.0,
    )  # fmt: skip
    message = Market(
        ts=3, symbol="BTC-USDT", venue="okx", seq=4, trades=[_trade(trade)], ticker=_ticker(ticker)
    )
    back = msgspec.json.decode(encode(message), type=AnyMessage)
    assert back == msgspec.structs.replace(
        message, ticker=msgspec.structs.replace(message.ticker, open_24h=None)
    )
    assert back.ticker.open_24h is None  # NaN (an empty venue field) is null, not a bad number


def test_the_frame_carries_type_and_version() -> None:
    raw = msgspec.json.decode(encode(Hello(ts=1, route="/ws/system", rate_hz=4.0)))
    assert raw == {"type": "hello", "v": SCHEMA_VERSION, "ts": 1, "route": "/ws/system",
                   "rate_hz": 4.0}  # fmt: skip
