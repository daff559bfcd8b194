"""The writer's table builder on hand-made frames of every venue: partitions split by venue and
hour, channel and symbol in desk's names, and the L2 rows (sequence ids included) each venue's
wire implies."""

from __future__ import annotations

import json

import pyarrow as pa

from desk.storage.recording.normalise import NS_PER_HOUR, Batch, Normaliser

T0 = 1_700_000_000 * 1_000_000_000 // NS_PER_HOUR * NS_PER_HOUR  # an hour's start, in ns
KINDS = frozenset({"raw", "books"})


def _okx(action: str, seq: int, prev: int) -> bytes:
    data = {"asks": [["101.5", "2", "0", "1"]], "bids": [["100", "0", "0", "0"]], "ts": "1700"}
    push = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": action, "data": [data]}
    push["data"][0].update(seqId=seq, prevSeqId=prev)
    return json.dumps(push, separators=(",", ":")).encode()


def _binance(first: int, last: int) -> bytes:
    data = {"e": "depthUpdate", "E": 1700, "s": "BTCUSDT", "U": first, "u": last}
    data.update(b=[["100.1", "3"]], a=[["101", "0"]])
    return json.dumps(
        {"stream": "btcusdt@depth@100ms", "data": data}, separators=(",", ":")
    ).encode()


def _coinbase(channel: str, seq: int, kind: str = "update") -> bytes:
    message: dict[str, object] = {
        "channel": channel,
        "client_id": "",
        "timestamp": "2023-11-14T22:13:20.5Z",
        "sequence_num": seq,
    }
    if channel == "l2_data":
        levels = [
            {"side": "bid", "event_time": "", "price_level": "99", "new_quantity": "1"},
            {"side": "offer", "event_time": "", "price_level": "102", "new_quantity": "0"},
        ]
        message["events"] = [{"type": kind, "product_id": "BTC-USD", "updates": levels}]
    else:
        message["events"] = [{"current_time": "", "heartbeat_counter": seq}]
    return json.dumps(message, separators=(",", ":")).encode()


def _tables(normaliser: Normaliser, batch: Batch) -> dict[tuple[str, str, str], pa.Table]:
    return {(v, k, h): t for (v, k, _date, h), t in normaliser.build(batch)}


def test_every_venue_gets_its_channel_symbol_and_book_rows() -> None:
    hour = T0 + NS_PER_HOUR
    frames: list[tuple[str, bytes | str, int]] = [
        ("okx", _okx("snapshot", 10, -1), T0 + 1),
        ("binance", _binance(5, 7), T0 + 2),
        ("coinbase", _coinbase("l2_data", 0, "snapshot"), T0 + 3),
        ("coinbase", _coinbase("heartbeats", 1), T0 + 4),
        ("okx#2", '{"event":"subscribe","arg":{"channel":"trades"}}', T0 + 5),  # a text frame
        ("okx", _okx("update", 11, 10), hour + 1),  # the next hour's file
        ("binance~2", _binance(8, 9), hour + 2),  # a handover's standby
        ("coinbase", _coinbase("l2_data", 2), hour + 3),
    ]
    depth = b'{"lastUpdateId":4,"bids":[["100","1"]],"asks":[["101","2"]]}'
    rest = [("binance", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": "1000"}, depth, T0)]
    normaliser = Normaliser(KINDS, "1h")
    normaliser.know_symbols({"BTCUSDT": "BTC-USDT"})
    tables = _tables(normaliser, Batch(frames, rest))
    first, second = f"{T0 // 10**9 // 3600 % 24:02d}", f"{hour // 10**9 // 3600 % 24:02d}"

    raw = {key: t.to_pydict() for key, t in tables.items() if key[1] == "raw"}
    assert raw[("okx", "raw", first)]["channel"] == ["books", "trades"]
    assert raw[("okx", "raw", first)]["symbol"] == ["BTC-USDT", ""]
    assert raw[("okx", "raw", first)]["conn"] == ["okx", "okx#2"]
    assert raw[("okx", "raw", first)]["payload"][1].startswith(b'{"event"')
    binance = raw[("binance", "raw", first)]
    assert binance["stream"] == ["ws", "rest:/api/v3/depth"]
    assert binance["channel"] == ["depth@100ms", ""]
    assert binance["symbol"] == ["BTC-USDT", "BTC-USDT"]
    assert raw[("binance", "raw", second)]["conn"] == ["binance~2"]
    assert raw[("coinbase", "raw", first)]["channel"] == ["l2_data", "heartbeats"]
    assert raw[("coinbase", "raw", first)]["symbol"] == ["BTC-USD", ""]

    books = {key[0] + key[2]: t.to_pydict() for key, t in tables.items() if key[1] == "books"}
    okx = books["okx" + first]
    assert okx["is_snapshot"] == [True, True]
    assert (okx["side"], okx["price"], okx["amount"]) == (["bid", "ask"], [100, 101.5], [0, 2])
    assert (okx["seq_id"], okx["prev_seq_id"]) == ([10, 10], [-1, -1])
    assert books["okx" + second]["is_snapshot"] == [False, False]
    snap = books["binance" + first]  # the REST snapshot first (received first), then the diff
    assert snap["is_snapshot"] == [True, True, False, False]
    assert snap["seq_id"] == [4, 4, 7, 7]
    assert snap["prev_seq_id"] == [-1, -1, 4, 4]  # U - 1
    assert snap["timestamp"][0] == T0 // 1_000  # a REST book has no exchange time
    assert snap["timestamp"][2] == 1_700_000
    assert books["binance" + second]["symbol"] == ["BTC-USDT", "BTC-USDT"]
    coinbase = books["coinbase" + first]
    assert (coinbase["side"], coinbase["amount"]) == (["bid", "ask"], [1, 0])
    assert coinbase["seq_id"] == [0, 0] and coinbase["prev_seq_id"] == [-1, -1]
    assert coinbase["timestamp"][0] == 1_700_000_000_500_000  # the message's time (µs)
    later = books["coinbase" + second]
    assert later["seq_id"] == [2, 2] and later["prev_seq_id"] == [1, 1]  # the heartbeat's


def test_coinbase_sequence_is_followed_across_batches_and_restarts() -> None:
    normaliser = Normaliser(frozenset({"books"}), "1h")
    normaliser.build(Batch([("coinbase", _coinbase("l2_data", 5, "snapshot"), T0)]))
    (_, table), *_ = normaliser.build(Batch([("coinbase", _coinbase("l2_data", 9), T0 + 1)]))
    assert set(table["prev_seq_id"].to_pylist()) == {5}  # 6..8 were lost: prev + 1 != seq
    (_, table), *_ = normaliser.build(Batch([("coinbase", _coinbase("l2_data", 0), T0 + 2)]))
    assert set(table["prev_seq_id"].to_pylist()) == {-1}  # a new connection starts over


def test_a_frame_that_does_not_decode_keeps_its_raw_row_and_adds_no_book_rows() -> None:
    frames: list[tuple[str, bytes | str, int]] = [
        ("binance", b'{"stream":"btcusdt@depth@100ms","data":{"U":"x"', T0),
        ("okx", b'{"arg":{"channel":"books","instId":"BTC-USDT"},"data":[{"asks":[["a"]]}]}', T0),
        ("coinbase", b'{"channel":"l2_data","events":[{"type":"update"}]}\xff', T0),
    ]
    tables = _tables(Normaliser(KINDS, "1h"), Batch(frames))
    assert sorted(v for v, kind, _ in tables if kind == "raw") == ["binance", "coinbase", "okx"]
    assert not [key for key in tables if key[1] == "books"]
