"""Coinbase wire messages for the parser tests: the docs' examples (``fixtures/``) and a few
built from the documented rules, each marked as such."""

from __future__ import annotations

from pathlib import Path

import msgspec

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


L2_SNAPSHOT = fixture("l2_data_snapshot.json")  # verbatim
MARKET_TRADES = fixture("market_trades_snapshot.json")  # verbatim
TICKER = fixture("ticker_snapshot.json")  # verbatim
HEARTBEATS = fixture("heartbeats.json")  # verbatim (prose docs' shape)
SUBSCRIBE_REQUESTS = fixture("subscribe_requests.jsonl").splitlines()  # verbatim

# Built from the rules (PROTOCOLS.md C): the live heartbeat omits client_id and sends an int.
HEARTBEATS_LIVE = (
    b'{"channel":"heartbeats","timestamp":"2023-06-23T20:31:27.122969572Z","sequence_num":1,'
    b'"events":[{"current_time":"2023-06-23 20:31:57.121961769 +0000 UTC m=+91718.525857105",'
    b'"heartbeat_counter":3050}]}'
)
# Built: the subscriptions ack, whose shape the docs give only as an UNVERIFIED sketch.
SUBSCRIPTIONS = (
    b'{"channel":"subscriptions","client_id":"","timestamp":"2023-02-09T20:32:50.5Z",'
    b'"sequence_num":0,"events":[{"subscriptions":{"level2":["BTC-USD"]}}]}'
)

L2_TS = "2023-02-09T20:32:50.714964855Z"
L2_TS_NS = 1_675_974_770_714_964_855


def l2(
    seq: int,
    kind: str = "update",
    levels: list[tuple[str, str, str]] | None = None,
    product: str = "BTC-USD",
    timestamp: str = L2_TS,
) -> bytes:
    """An ``l2_data`` message in the live shape; levels are (side, price, new quantity)."""
    updates = [
        {"side": side, "event_time": timestamp, "price_level": px, "new_quantity": qty}
        for side, px, qty in levels or []
    ]
    return msgspec.json.encode(
        {
            "channel": "l2_data",
            "timestamp": timestamp,
            "sequence_num": seq,
            "events": [{"type": kind, "product_id": product, "updates": updates}],
        }
    )


def heartbeat(seq: int, counter: int, timestamp: str = L2_TS) -> bytes:
    return msgspec.json.encode(
        {
            "channel": "heartbeats",
            "timestamp": timestamp,
            "sequence_num": seq,
            "events": [{"current_time": "", "heartbeat_counter": counter}],
        }
    )


def trades(
    seq: int,
    entries: list[tuple[str, str, str, str, str]],
    kind: str = "update",
    product: str = "BTC-USD",
    timestamp: str = L2_TS,
) -> bytes:
    """A ``market_trades`` message; entries are (trade id, price, size, maker side, time)."""
    rows = [
        {"trade_id": tid, "product_id": product, "price": px, "size": sz, "side": side, "time": t}
        for tid, px, sz, side, t in entries
    ]
    return msgspec.json.encode(
        {
            "channel": "market_trades",
            "timestamp": timestamp,
            "sequence_num": seq,
            "events": [{"type": kind, "trades": rows}],
        }
    )
