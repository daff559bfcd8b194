"""Bots and the bot manager: lifecycle, each filter, live params, persistence and recovery."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, TestClock
from desk.core.events import Candle
from desk.signals.bot_manager import BotManager
from desk.signals.bots import (
    BotConfig,
    BotEvent,
    BotMode,
    BotSignal,
    BotState,
    SignalFate,
)
from desk.signals.order_sink import OrderSink, PaperSink
from desk.signals.signal import Direction, Signal
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore

L, S, F = Direction.LONG, Direction.SHORT, Direction.FLAT
SYM, TF = "BTC-USDT", "1m"
MA = {"fast": 2, "slow": 3}


def config(bot_id: str = "b1", **kw: Any) -> BotConfig:
    base: dict[str, Any] = {
        "bot_id": bot_id,
        "strategy": "ma_crossover",
        "params": dict(MA),
        "symbol": SYM,
        "timeframe": TF,
        "size": 2.0,
    }
    return BotConfig(**{**base, **kw})


def signal(direction: Direction = L, ts: int = 1, strength: float = 0.5) -> Signal:
    return Signal(
        ts=ts,
        symbol=SYM,
        timeframe=TF,
        direction=direction,
        strength=strength,
        price=100.0 + ts,
        indicators={"fast": 101.0, "slow": 100.5},
        reason="fast crossed slow",
        strategy="ma_crossover",
    )


def candle(i: int, close: float, *, symbol: str = SYM, tf: str = TF, closed: bool = True) -> Candle:
    end = (i + 1) * 60 * NS_PER_S
    return Candle(
        ts_exchange=end,
        ts_recv=end,
        venue="okx",
        symbol=symbol,
        timeframe=tf,
        end=end,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1.0,
        quote_volume=close,
        trades=1,
        closed=closed,
    )


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


class Rig:
    def __init__(self, path: Path, sink: OrderSink | None = None) -> None:
        self.path = path
        self.bus = Bus()
        self.clock = TestClock(1_000 * NS_PER_S)
        self.store = SqliteStore(StorageConfig(sqlite_path=str(path), flush_interval=30))
        self.sink = sink or PaperSink()
        self.manager = BotManager(self.bus, self.store, self.sink, self.clock)
        self.published: list[Any] = []
        self.bus.subscribe("bot_signals:*", self.published.append)

    def feed(self, closes: list[float], start: int = 0, **kw: Any) -> None:
        for i, c in enumerate(closes, start):
            self.bus.publish(topics.market_data(kw.get("symbol", SYM)), candle(i, c, **kw))

    def signals(self) -> list[BotSignal]:
        return [e for e in self.published if isinstance(e, BotSignal)]

    def events(self) -> list[BotEvent]:
        return [e for e in self.published if isinstance(e, BotEvent)]


@pytest.fixture
async def rig(tmp_path: Path):
    r = Rig(tmp_path / "desk.sqlite")
    await r.store.open()
    yield r
    r.manager.close()
    if r.store._db is not None:
        await r.store.close()


# ---- config and sink -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bot_id", ""),
        ("bot_id", "has space"),
        ("bot_id", "x" * 33),
        ("size", 0.0),
        ("min_strength", 1.5),
        ("cooldown_s", -1.0),
        ("confirm_bars", 0),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        config(**{field: value})


def test_config_defaults() -> None:
    c = config("a-B_9")
    assert (c.min_strength, c.cooldown_s, c.confirm_bars, c.mode) == (0.0, 0.0, 1, BotMode.AUTO)


def test_paper_sink_targets_size_by_direction() -> None:
    sink, cfg = PaperSink(), config(size=3.0)
    assert sink.position("b1") == 0.0
    sink.submit(cfg, signal(L))
    assert sink.position("b1") == 3.0
    sink.submit(cfg, signal(S))
    assert sink.position("b1") == -3.0
    sink.submit(cfg, signal(F))
    assert sink.position("b1") == 0.0
    assert [o.quantity for o in sink.orders] == [3.0, -6.0, 3.0]
    assert isinstance(sink, OrderSink)


# ---- lifecycle -------------------------------------------------------------------------------


async def test_lifecycle_and_modes(rig: Rig) -> None:
    m = rig.manager
    st = m.add_bot(config())
    assert (st.state, st.mode, st.position, st.signal_count) == (
        BotState.STOPPED,
        BotMode.AUTO,
        0.0,
        0,
    )
    with pytest.raises(ValueError, match="already exists"):
        m.add_bot(config())
    m.start_bot("b1")
    m.start_bot("b1")  # no-op
    assert m.status("b1").state is BotState.RUNNING
    m.pause_bot("b1")
    assert m.status("b1").mode is BotMode.PAUSED
    m.resume_bot("b1")
    assert m.status("b1").mode is BotMode.AUTO
    m.set_mode("b1", "manual")
    assert m.status("b1").mode is BotMode.MANUAL
    m.resume_bot("b1")
    m.stop_bot("b1")
    assert m.status("b1").state is BotState.STOPPED
    with pytest.raises(ValueError):
        m.set_mode("b1", "sideways")
    with pytest.raises(KeyError, match="nope"):
        m.start_bot("nope")
    kinds = [e.kind for e in rig.events()]
    assert kinds == ["added", "started", "mode", "mode", "mode", "mode", "stopped"]
    assert all(e.actor == "operator" for e in rig.events())
    assert [s.bot_id for s in m.statuses()] == ["b1"]


async def test_add_rejects_unknown_strategy_and_bad_params(rig: Rig) -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        rig.manager.add_bot(config(strategy="nope"))
    with pytest.raises(ValueError, match="fast"):
        rig.manager.add_bot(config(params={"fast": 5, "slow": 3}))
    assert rig.manager.statuses() == []


# ---- filters ---------------------------------------------------------------------------------


async def test_sent_signal_reaches_the_sink(rig: Rig) -> None:
    rig.manager.add_bot(config())
    rig.manager.start_bot("b1")
    assert rig.manager.process_signal("b1", signal(S)) is SignalFate.SENT
    st = rig.manager.status("b1")
    assert (st.position, st.last_signal_direction, st.signal_count, st.sent_count) == (
        -2.0,
        S,
        1,
        1,
    )
    assert rig.signals()[-1].order_id == "paper-1"


async def test_each_filter_fate(rig: Rig) -> None:
    m = rig.manager
    m.add_bot(config(min_strength=0.4, cooldown_s=10))
    assert m.process_signal("b1", signal()) is SignalFate.FILTERED_STOPPED
    m.start_bot("b1")
    m.pause_bot("b1")
    assert m.process_signal("b1", signal(strength=0.0)) is SignalFate.FILTERED_PAUSED
    m.set_mode("b1", BotMode.MANUAL)
    assert m.process_signal("b1", signal(strength=0.0)) is SignalFate.FILTERED_MANUAL
    m.resume_bot("b1")
    assert m.process_signal("b1", signal(strength=0.1)) is SignalFate.FILTERED_STRENGTH
    assert m.process_signal("b1", signal(L, strength=0.9)) is SignalFate.SENT
    rig.clock.advance_ns(9 * NS_PER_S)
    # strength is checked before cooldown
    assert m.process_signal("b1", signal(S, strength=0.1)) is SignalFate.FILTERED_STRENGTH
    assert m.process_signal("b1", signal(S, strength=0.9)) is SignalFate.FILTERED_COOLDOWN
    rig.clock.advance_ns(1 * NS_PER_S)
    assert m.process_signal("b1", signal(S, strength=0.9)) is SignalFate.SENT
    assert rig.sink.position("b1") == -2.0
    fates = [s.fate for s in rig.signals()]
    assert fates == [
        SignalFate.FILTERED_STOPPED,
        SignalFate.FILTERED_PAUSED,
        SignalFate.FILTERED_MANUAL,
        SignalFate.FILTERED_STRENGTH,
        SignalFate.SENT,
        SignalFate.FILTERED_STRENGTH,
        SignalFate.FILTERED_COOLDOWN,
        SignalFate.SENT,
    ]


async def test_confirmation_by_repeated_signals(rig: Rig) -> None:
    m = rig.manager
    m.add_bot(config(confirm_bars=2))
    m.start_bot("b1")
    assert m.process_signal("b1", signal(L)) is SignalFate.FILTERED_UNCONFIRMED
    assert m.process_signal("b1", signal(S)) is SignalFate.FILTERED_UNCONFIRMED  # reversal
    assert m.process_signal("b1", signal(S)) is SignalFate.SENT
    assert rig.sink.position("b1") == -2.0


async def test_confirmation_by_candles_without_reversal(rig: Rig) -> None:
    m = rig.manager
    m.add_bot(config(confirm_bars=3))
    m.start_bot("b1")
    rig.feed([10, 10, 10, 10, 12])  # fast SMA(2) crosses above slow SMA(3) on bar 4
    assert [s.fate for s in rig.signals()] == [SignalFate.FILTERED_UNCONFIRMED]
    rig.feed([13], start=5)
    assert len(rig.signals()) == 1
    rig.feed([14], start=6)  # third bar long: confirmed
    sent = rig.signals()[-1]
    assert sent.fate is SignalFate.SENT
    assert (sent.signal.direction, sent.signal.ts, sent.signal.price) == (L, candle(6, 14).end, 14)
    assert "confirmed after 3 bars" in sent.signal.reason
    assert rig.sink.position("b1") == 2.0
    rig.feed([15, 16], start=7)  # nothing new
    assert len(rig.signals()) == 2


async def test_candles_feed_only_running_bots_on_their_symbol_and_timeframe(rig: Rig) -> None:
    m = rig.manager
    m.add_bot(config("run"))
    m.add_bot(config("idle"))
    m.add_bot(config("other_tf", timeframe="5m"))
    m.add_bot(config("eth", symbol="ETH-USDT"))
    for b in ("run", "other_tf", "eth"):
        m.start_bot(b)
    rig.feed([10, 10, 10, 10], start=0)
    rig.feed([12], start=4, closed=False)  # open bar ignored
    assert rig.signals() == []
    rig.feed([12, 8, 7], start=4)
    got = [(s.bot_id, s.signal.direction, s.fate) for s in rig.signals()]
    assert got == [("run", L, SignalFate.SENT), ("run", S, SignalFate.SENT)]
    assert rig.sink.position("run") == -2.0
    assert rig.sink.position("idle") == 0.0


async def test_sink_failure_is_recorded_as_failed(rig: Rig) -> None:
    class Broken(PaperSink):
        def submit(self, bot: BotConfig, signal: Signal) -> str:
            raise RuntimeError("venue down")

    r = Rig(rig.path.with_name("broken.sqlite"), sink=Broken())
    await r.store.open()
    r.manager.add_bot(config())
    r.manager.start_bot("b1")
    assert r.manager.process_signal("b1", signal()) is SignalFate.FAILED
    assert r.events()[-1].kind == "sink_error"
    await r.store.close()


# ---- params ----------------------------------------------------------------------------------


async def test_update_params_valid_and_invalid(rig: Rig) -> None:
    m = rig.manager
    m.add_bot(config())
    m.update_params("b1", {"slow": 5})
    assert m.config("b1").params == {"fast": 2, "slow": 5}
    with pytest.raises(ValueError, match="fast"):
        m.update_params("b1", {"fast": 0})
    with pytest.raises(ValueError, match="bogus"):
        m.update_params("b1", {"bogus": 1})
    with pytest.raises(ValueError, match="fast"):
        m.update_params("b1", {"fast": 9})  # fast must be < slow
    assert m.config("b1").params == {"fast": 2, "slow": 5}
    params_events = [e for e in rig.events() if e.kind == "params"]
    assert len(params_events) == 1
    assert params_events[0].detail == {"old": MA, "new": {"fast": 2, "slow": 5}}


# ---- persistence and recovery ----------------------------------------------------------------


async def test_every_signal_and_event_is_persisted(rig: Rig) -> None:
    m = rig.manager
    m.add_bot(config(min_strength=0.3))
    m.process_signal("b1", signal(ts=1))
    m.start_bot("b1")
    m.process_signal("b1", signal(ts=2, strength=0.1))
    m.process_signal("b1", signal(ts=3))
    m.pause_bot("b1")
    m.process_signal("b1", signal(S, ts=4))
    await rig.store.close()
    got = rows(rig.path, "SELECT ts_ns, bot_id, direction, fate FROM bot_signals ORDER BY id")
    assert got == [
        (1, "b1", "long", "filtered_stopped"),
        (2, "b1", "long", "filtered_strength"),
        (3, "b1", "long", "sent"),
        (4, "b1", "short", "filtered_paused"),
    ]
    ind, reason, price, strength, order_id = rows(
        rig.path, "SELECT indicators, reason, price, strength, order_id FROM bot_signals"
    )[2]
    assert json.loads(ind) == {"fast": 101.0, "slow": 100.5}
    assert (reason, price, strength, order_id) == ("fast crossed slow", 103.0, 0.5, "paper-1")
    events = rows(rig.path, "SELECT bot_id, kind, detail, actor FROM bot_events ORDER BY id")
    assert [(b, k, a) for b, k, _, a in events] == [
        ("b1", "added", "operator"),
        ("b1", "started", "operator"),
        ("b1", "mode", "operator"),
    ]
    assert json.loads(events[2][2]) == {"old": "auto", "new": "paused"}
    assert rows(rig.path, "SELECT bot_id, state, mode FROM bots") == [("b1", "running", "paused")]


async def test_published_on_bot_signals_topic(rig: Rig) -> None:
    seen: list[Any] = []
    rig.bus.subscribe(topics.bot_signals("b1"), seen.append)
    rig.manager.add_bot(config())
    rig.manager.start_bot("b1")
    rig.manager.process_signal("b1", signal())
    assert [type(e).__name__ for e in seen] == ["BotEvent", "BotEvent", "BotSignal"]
    assert seen[-1].fate is SignalFate.SENT and seen[-1].signal == signal()


async def test_load_bots_reads_its_own_writes(rig: Rig) -> None:
    rig.manager.add_bot(config())
    loaded = await rig.store.load_bots()
    assert [(b["bot_id"], b["state"], b["mode"]) for b in loaded] == [("b1", "stopped", "auto")]
    assert loaded[0]["config"]["params"] == MA


async def test_restore_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    a = Rig(path)
    await a.store.open()
    a.manager.add_bot(config("runner", cooldown_s=5, confirm_bars=2))
    a.manager.add_bot(config("sleeper", symbol="ETH-USDT"))
    a.manager.add_bot(config("off"))
    a.manager.start_bot("runner")
    a.manager.update_params("runner", {"slow": 4})
    a.manager.start_bot("sleeper")
    a.manager.pause_bot("sleeper")
    a.manager.close()
    await a.store.close()

    b = Rig(path)
    await b.store.open()
    assert await b.manager.restore() == ["runner", "sleeper", "off"]
    got = {s.bot_id: (s.state, s.mode) for s in b.manager.statuses()}
    assert got == {
        "runner": (BotState.RUNNING, BotMode.AUTO),
        "sleeper": (BotState.RUNNING, BotMode.PAUSED),
        "off": (BotState.STOPPED, BotMode.AUTO),
    }
    runner = b.manager.config("runner")
    assert (runner.params, runner.cooldown_s, runner.confirm_bars) == (
        {"fast": 2, "slow": 4},
        5,
        2,
    )
    assert await b.manager.restore() == []  # idempotent
    assert {e.actor for e in b.events()} == {"system"}
    # restored bots are live: the running one is fed candles through the bus
    b.feed([10, 10, 10, 10, 10, 12, 13])
    assert [(s.bot_id, s.fate) for s in b.signals()] == [
        ("runner", SignalFate.FILTERED_UNCONFIRMED),
        ("runner", SignalFate.SENT),
    ]
    b.feed([20, 20, 20, 20, 10], symbol="ETH-USDT")
    assert b.signals()[-1].bot_id == "sleeper"
    assert b.signals()[-1].fate is SignalFate.FILTERED_PAUSED
    b.manager.close()
    await b.store.close()
    assert rows(path, "SELECT COUNT(*) FROM bots") == [(3,)]
    kinds = rows(path, "SELECT kind FROM bot_events WHERE actor = 'system' ORDER BY id")
    assert [k for (k,) in kinds] == ["restored", "started", "restored", "started", "restored"]


async def test_restore_skips_a_stored_bot_that_no_longer_validates(rig: Rig) -> None:
    rig.manager.add_bot(config("ok"))
    stale = {"bot_id": "gone", "strategy": "retired", "symbol": SYM, "timeframe": TF, "size": 1.0}
    rig.store.upsert_bot(bot_id="gone", config=stale, state="running", mode="auto", updated_ns=1)
    rig.manager.close()
    fresh = BotManager(rig.bus, rig.store, rig.sink, rig.clock)
    assert await fresh.restore() == ["ok"]
    failed = [e for e in rig.events() if e.kind == "restore_failed"]
    assert [(e.bot_id, e.actor) for e in failed] == [("gone", "system")]
    assert "retired" in failed[0].detail["error"]
    fresh.close()
