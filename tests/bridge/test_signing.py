"""Sealed values: only a holder of the secret can write what a reader will act on."""

from __future__ import annotations

import time

import pytest

from desk.bridge.codec import decode_event, encode
from desk.bridge.signing import (
    HEADER_SIZE,
    Keyring,
    Liveness,
    SealedReader,
    Sealer,
    SealError,
    derive_key,
    is_sealed,
    strip_unverified,
)
from tests.bridge.redis_fixtures import numbered_trade

SECRET = b"signing-test-secret-0123456789ab"
CHANNEL = "desk:bus:market_data:BTC-USDT"


class Refusals(list[tuple[str, str, str]]):
    def __call__(self, kind: str, sender: str, detail: str) -> None:
        self.append((kind, sender, detail))


def test_a_sealed_value_opens_to_its_payload_under_its_name() -> None:
    sealer = Keyring(SECRET, "desk").data
    payload = encode(numbered_trade(1))
    sealed = sealer.seal(CHANNEL, payload)
    assert is_sealed(sealed) and not is_sealed(payload)  # 0xc1: never a msgpack message
    ts, opened = sealer.open(CHANNEL, sealed)
    assert opened == payload and abs(ts - time.time_ns()) < 60e9
    assert decode_event(opened) == numbered_trade(1)
    assert strip_unverified(sealed) == payload


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v[:-1] + bytes([v[-1] ^ 1]),  # one payload bit
        lambda v: v[:2] + bytes([v[2] ^ 1]) + v[3:],  # the timestamp
        lambda v: v[: HEADER_SIZE - 1] + bytes([v[HEADER_SIZE - 1] ^ 1]) + v[HEADER_SIZE:],
        lambda v: v[:HEADER_SIZE] + encode(numbered_trade(2)),  # another payload, same tag
        lambda v: v[:10],  # truncated
    ],
    ids=["payload", "timestamp", "tag", "swapped-payload", "truncated"],
)
def test_any_change_to_a_sealed_value_is_refused(tamper: object) -> None:
    sealer = Keyring(SECRET, "desk").data
    sealed = sealer.seal(CHANNEL, encode(numbered_trade(1)))
    with pytest.raises(SealError):
        sealer.open(CHANNEL, tamper(sealed))  # type: ignore[operator]


def test_a_value_opens_only_under_its_own_name_key_purpose_and_desk() -> None:
    ring = Keyring(SECRET, "desk")
    sealed = ring.data.seal(CHANNEL, encode(numbered_trade(1)))
    with pytest.raises(SealError, match="bad signature"):
        ring.data.open("desk:bus:market_data:ETH-USDT", sealed)  # moved to another channel
    with pytest.raises(SealError, match="bad signature"):
        ring.receipt.open(CHANNEL, sealed)  # another purpose's key
    with pytest.raises(SealError, match="bad signature"):
        Keyring(SECRET, "other-desk").data.open(CHANNEL, sealed)  # another prefix
    with pytest.raises(SealError, match="bad signature"):
        Keyring(b"another-secret-0123456789abcdef", "desk").data.open(CHANNEL, sealed)
    with pytest.raises(SealError, match="unsigned"):
        ring.data.open(CHANNEL, encode(numbered_trade(1)))
    keys = {derive_key(SECRET, "desk", p) for p in ("data", "receipt", "lease", "ledger")}
    assert len(keys) == 4


def test_the_reader_refuses_forgeries_and_older_values_and_reports_them() -> None:
    ring = Keyring(SECRET, "desk")
    refusals = Refusals()
    reader = SealedReader(ring.data, "market data", refusals, strict=True, max_age_s=30)
    first = ring.data.seal(CHANNEL, encode(numbered_trade(1)))
    second = ring.data.seal(CHANNEL, encode(numbered_trade(2)))
    assert reader.open(CHANNEL, first) is not None
    assert reader.open(CHANNEL, second) is not None
    assert reader.open(CHANNEL, first) is None  # replayed: older than the last one
    assert reader.open(CHANNEL, second) is None  # strict: the same message twice
    assert reader.open(CHANNEL, encode(numbered_trade(3))) is None  # unsigned
    forged = Keyring(b"no-secret-but-trying-0123456789", "desk").data.seal(CHANNEL, b"x")
    assert reader.open(CHANNEL, forged) is None
    assert [kind for kind, *_ in refusals] == ["replay", "replay", "forged_data", "forged_data"]
    assert all(sender == CHANNEL for _, sender, _ in refusals)
    assert (reader.accepted, reader.refused) == (2, 4)


def test_the_reader_refuses_a_message_older_than_its_max_age() -> None:
    sealer = Sealer(derive_key(SECRET, "desk", "data"))
    old = sealer.seal(CHANNEL, b"payload")
    reader = SealedReader(sealer, "market data", max_age_s=1e-9)  # sealed > 1 ns ago
    assert reader.open(CHANNEL, old) is None and "too old" in reader.last_refusal


def test_without_a_key_everything_is_accepted_as_it_is() -> None:
    reader = SealedReader(None, "view")
    sealed = Keyring(SECRET, "desk").data.seal("k", b"payload")
    assert reader.open("k", sealed) == b"payload"
    assert reader.open("k", b"plain") == b"plain"


def test_a_heartbeat_is_alive_only_while_it_moves() -> None:
    sealer = Keyring(SECRET, "desk").data
    liveness = Liveness(SealedReader(sealer, "heartbeat"), ttl_s=0.05)
    beat = sealer.seal("hb", b"1")
    assert liveness.observe("hb", beat)
    assert not liveness.observe("hb", b"forged")
    deadline = time.monotonic() + 10
    while liveness.observe("hb", beat):  # the same beat, kept in place by someone else
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert liveness.observe("hb", sealer.seal("hb", b"2"))  # a new beat: alive again
    assert not liveness.observe("hb", None)
