"""The spread watcher alerts once per episode on a planted crossed spread, by event time."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from desk.config import ConfigError, parse_config
from desk.core import topics
from desk.core.bus import Bus
from desk.core.enums import Severity
from desk.core.events import BookChanged, SystemEvent
from desk.signals.bots import BotSignal, SignalFate
from desk.signals.spread_watcher import SpreadWatchConfig, SpreadWatcher
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore

S = 1_000_000_000
T0 = 1_700_000_000 * S
SYMBOL = "BTC-USDT"


class Recorder:
    """The watcher's signal store, in memory (the SQLite one is exercised below)."""

    def __init__(self) -> None:
        self.signals: list[dict[str, Any]] = []

    def record_signal(self, **row: Any) -> None:
        self.signals.append(row)


class Desk:
    def __init__(self, store: Any = None, **config: Any) -> None:
        self.bus = Bus()
        self.events: list[SystemEvent] = []
        self.published: list[BotSignal] = []
        self.bus.subscribe(topics.SYSTEM_EVENTS, self.events.append)
        self.bus.subscribe("bot_signals:*", self.published.append)
        self.store = Recorder() if store is None else store
        base: dict[str, Any] = {
            "enabled": True,
            "threshold_bps": 2.0,
            "min_duration_s": 2.0,
            "cooldown_s": 0.0,
            "fees_bps": {"okx": 8.0, "binance": 10.0},
        }
        self.watcher = SpreadWatcher(
            SpreadWatchConfig(**{**base, **config}), self.bus, self.store, symbols=(SYMBOL,)
        )
        self.watcher.start()

    def quote(self, venue: str, bid: float, ask: float, t: float) -> None:
        ts = T0 + round(t * S)
        self.bus.publish(
            topics.market_data(SYMBOL),
            BookChanged(
                ts_exchange=ts, ts_recv=ts, venue=venue, symbol=SYMBOL, seq_id=1,
                snapshot=False, best_bid=bid, best_ask=ask,
            ),
        )  # fmt: skip

    def warnings(self) -> list[str]:
        return [e.message for e in self.events if e.severity is Severity.WARNING]

    def notes(self) -> list[str]:
        return [e.message for e in self.events if e.kind == "spread_closed"]


# buy binance at 64,010.5 (fee 10 bps), sell okx at 64,052.1 (fee 8 bps):
# cost 64010.5 * 1.001, proceeds 64052.1 * 0.9992
COST = 64010.5 * 1.001
NET = (64052.1 * 0.9992 - COST) / COST * 1e4  # about -11.5 bps: fees eat the gross 6.5 bps
WIDE_BID = 64_200.0  # okx bid that crosses by far more than the fees
WIDE_NET = (WIDE_BID * 0.9992 - COST) / COST * 1e4


def test_a_crossed_spread_held_for_min_duration_raises_one_alert_and_one_signal() -> None:
    desk = Desk()
    desk.quote("binance", 64_000.0, 64_010.5, t=0.0)
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=0.5)  # the episode starts here
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.2, t=1.5)
    assert desk.warnings() == []  # 1.0 s: shorter than min_duration
    desk.quote("binance", 64_000.0, 64_010.5, t=2.6)  # 2.1 s: alert
    desk.quote("binance", 64_000.0, 64_010.5, t=3.0)  # still open: no second alert
    expected = (
        f"BTC-USDT: buy binance 64,010.5 / sell okx 64,200.0 = {WIDE_NET:+.1f} bps net for 2.1 s"
    )
    assert desk.warnings() == [expected]
    assert pytest.approx((64_148.64 - 64_074.5105) / 64_074.5105 * 1e4) == WIDE_NET  # +11.6
    [row] = desk.store.signals
    assert row["bot_id"] == "spread-watch" and row["fate"] == "watched"
    signal = row["signal"]
    assert (signal.symbol, str(signal.direction), signal.price) == (SYMBOL, "long", 64_010.5)
    assert signal.indicators["net_bps"] == pytest.approx(WIDE_NET)
    assert signal.indicators["duration_s"] == pytest.approx(2.1)
    assert signal.ts == T0 + round(2.6 * S) and signal.reason == expected
    assert [p.fate for p in desk.published] == [SignalFate.WATCHED]

    desk.quote("okx", 64_000.0, 64_000.1, t=4.0)  # back inside the fees: closed
    assert desk.notes() == [
        f"BTC-USDT: buy binance / sell okx closed after 3.5 s (peak {WIDE_NET:+.1f} bps net)"
    ]
    assert [str(r["signal"].direction) for r in desk.store.signals] == ["long", "flat"]
    assert desk.watcher.alerts == 1


def test_no_alert_when_the_net_spread_stays_below_the_threshold() -> None:
    desk = Desk()
    assert NET < 0 < 6.5  # crossed before fees, not after
    for i in range(50):
        desk.quote("binance", 64_000.0, 64_010.5, t=i * 0.5)
        desk.quote("okx", 64_052.1, 64_052.2, t=i * 0.5 + 0.1)
    assert desk.events == [] and desk.store.signals == []
    assert not desk.watcher.episodes


def test_no_alert_for_a_spread_shorter_than_min_duration_nor_for_one_interrupted() -> None:
    desk = Desk()
    desk.quote("binance", 64_000.0, 64_010.5, t=0.0)
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=0.0)
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=1.9)
    desk.quote("okx", 64_000.0, 64_000.1, t=1.95)  # closed before 2 s
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=2.5)  # a new episode: its clock restarts
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=4.4)
    assert desk.events == [] and desk.store.signals == []
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=4.5)  # 2.0 s into the second episode
    assert len(desk.warnings()) == 1


def test_a_stale_venue_or_a_missing_side_ends_the_episode() -> None:
    desk = Desk(max_age_s=1.0)
    desk.quote("binance", 64_000.0, 64_010.5, t=0.0)
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=0.0)
    desk.watcher.check(T0 + round(0.9 * S))
    desk.watcher.check(T0 + round(1.5 * S))  # binance's top is 1.5 s old: stale
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=2.5)
    assert desk.events == []
    desk.quote("binance", 64_000.0, math.nan, t=3.0)  # no ask to buy at
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=6.0)
    assert desk.events == [] and not desk.watcher.episodes


def test_a_timer_check_raises_the_alert_when_no_quote_arrives() -> None:
    desk = Desk()
    desk.quote("binance", 64_000.0, 64_010.5, t=0.0)
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=0.0)
    desk.watcher.check(T0 + round(2.0 * S))
    assert len(desk.warnings()) == 1 and desk.warnings()[0].endswith("for 2.0 s")


def test_cooldown_holds_back_a_flickering_pair_and_venues_filter_what_is_watched() -> None:
    desk = Desk(min_duration_s=0.0, cooldown_s=10.0, venues=("okx", "binance"))
    desk.quote("coinbase", 1.0, 1.1, t=0.0)  # not watched
    desk.quote("binance", 64_000.0, 64_010.5, t=0.0)
    for i in range(5):  # open, close, open ... within 10 s: one alert, one close
        desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=i * 2.0)
        desk.quote("okx", 64_000.0, 64_000.1, t=i * 2.0 + 1.0)
        desk.quote("binance", 64_000.0, 64_010.5, t=i * 2.0 + 1.0)
    assert len(desk.warnings()) == 1 and len(desk.notes()) == 1
    assert "coinbase" not in desk.watcher.tops.tops(SYMBOL)
    desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=12.0)  # cooldown over
    assert len(desk.warnings()) == 2


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"threshold_bps": math.inf}, "threshold_bps"),
        ({"watcher_id": "bad id!"}, "watcher_id"),
        ({"venues": ("okx", "okx")}, "named twice"),
    ],
)
def test_bad_config_is_refused_naming_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpreadWatchConfig(**config)


async def test_the_alert_signal_lands_in_the_sqlite_signal_audit(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    store = SqliteStore(StorageConfig(sqlite_path=str(path), flush_interval=3600))
    await store.open()
    try:
        desk = Desk(store=store)
        desk.quote("binance", 64_000.0, 64_010.5, t=0.0)
        desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=0.0)
        desk.quote("okx", WIDE_BID, WIDE_BID + 0.1, t=2.5)
        await store.flush()
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT bot_id, symbol, direction, fate, reason FROM bot_signals"
        ).fetchall()
    [(bot_id, symbol, direction, fate, reason)] = rows
    assert (bot_id, symbol, direction, fate) == ("spread-watch", SYMBOL, "long", "watched")
    assert reason.startswith("BTC-USDT: buy binance 64,010.5 / sell okx 64,200.0 = +")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"watchers": {"spread": {"symbols": ["NOPE-USDT"]}}}, "$.watchers.spread.symbols[0]"),
        ({"watchers": {"spread": {"venues": ["okx", "kraken"]}}}, "'kraken' is not an enabled"),
        ({"watchers": {"spread": {"fees_bps": {"coinbase": 5}}}}, "$.watchers.spread.fees_bps"),
        ({"watchers": {"spread": {"min_duration_s": -1}}}, "$.watchers.spread.min_duration_s"),
        (
            {
                "bots": [
                    {
                        "bot_id": "arb",
                        "strategy": "arbitrage",
                        "symbol": "BTC-USDT",
                        "timeframe": "1m",
                        "size": 0.1,
                        "params": {"venues": ["okx", "coinbase"]},
                    }
                ]
            },
            "$.bots[0].params.venues: 'coinbase' is not an enabled venue (okx)",
        ),
    ],
)
def test_the_config_refuses_what_cannot_be_watched(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert message in str(info.value)


def test_the_config_takes_a_spread_watcher_on_enabled_venues() -> None:
    config = parse_config(
        {
            "exchanges": {"binance": {"enabled": True}},
            "watchers": {
                "spread": {
                    "enabled": True,
                    "venues": ["okx", "binance"],
                    "threshold_bps": 3,
                    "fees_bps": {"okx": 8, "binance": 10},
                    "min_duration_s": 2,
                }
            },
        }
    )
    spread = config.watchers.spread
    assert (spread.enabled, spread.venues, spread.threshold_bps) == (True, ("okx", "binance"), 3)
    assert parse_config({}).watchers.spread.enabled is False
