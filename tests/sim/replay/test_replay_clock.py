"""A replay runs on the data's own time: a bot's cooldown, risk's order rate and the stamps on
signals and orders behave as when the market was recorded, however fast it is played.

The recording is about 60 s of market played at full speed (a second or two of wall time).
On the wall clock a 5 s cooldown would let one signal through and filter the rest; on the
data's time, signals 5 s apart in the market are sent.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

import pytest

from desk.config import parse_config, with_replay
from desk.core.clock import DataClock
from desk.engine.engine import Engine
from desk.sim.replay.config import ReplayConfig
from desk.sim.replay.timeline import load_timeline
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio

COOLDOWN_S = 5
NS = 1_000_000_000


async def test_a_cooldown_and_the_stamps_follow_the_recorded_time(
    recording: Path, tmp_path: Path
) -> None:
    db = tmp_path / "replay.sqlite"
    base = parse_config(
        {
            "system": {"status_interval": 60},
            "trading": {"timeframes": ["1s"], "channels": ["trades", "books", "tickers"]},
            "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
            "execution": {"risk": {"price_band_pct": 50}},  # the default order rates
            "bots": [
                {"bot_id": "cross", "strategy": "ma_crossover", "symbol": "BTC-USDT",
                 "timeframe": "1s", "size": 0.01, "params": {"fast": 2, "slow": 3},
                 "cooldown_s": COOLDOWN_S},
            ],
        }
    )  # fmt: skip
    timeline = load_timeline(recording)
    config = with_replay(base, ReplayConfig(path=str(recording), speed=0), timeline.symbols)
    engine = Engine(config)
    assert isinstance(engine.clock, DataClock)
    await engine.start()
    try:
        assert engine.replay is not None and engine.execution is not None
        await asyncio.wait_for(engine.replay.finished.wait(), 60)
        oms = engine.execution.oms
        await wait_until(lambda: not oms.open_orders(), 30, "no order in flight")
        last_data_ns = engine.clock.now_ns()
    finally:
        await engine.stop()
    with sqlite3.connect(db) as conn:
        signals = conn.execute(
            "SELECT ts_ns, recorded_ns, fate FROM bot_signals WHERE bot_id = 'cross' ORDER BY id"
        ).fetchall()
        orders = [r[0] for r in conn.execute("SELECT created_ns FROM orders")]
    # When each was decided (recorded_ns: the clock then): a cooldown runs from a send.
    sent = [at for _, at, fate in signals if fate == "sent"]
    cooled = [at for _, at, fate in signals if fate == "filtered_cooldown"]
    assert len(sent) >= 3, signals
    assert cooled, "some signals should fall within a cooldown"
    assert all(b - a >= COOLDOWN_S * NS for a, b in itertools.pairwise(sent))
    for at in cooled:  # each within the cooldown of the last send before it
        assert 0 <= at - max(s for s in sent if s <= at) < COOLDOWN_S * NS
    first_data_ns = min(ts for ts, _, _ in signals) - 60 * NS
    for stamp in [recorded for _, recorded, _ in signals] + orders:
        assert first_data_ns <= stamp <= last_data_ns, "stamped in the recording's time"
    # A sent signal in the direction the bot already holds (the one between fell in a
    # cooldown) trades nothing: at most one order per send.
    assert 1 <= len(orders) <= len(sent)
