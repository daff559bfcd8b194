"""Bots run inside the real engine on the simulator: config bots, commands, restart recovery."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from desk.clients.inprocess import InProcessClient
from desk.config import parse_config
from desk.core.commands import AddBot, PauseBot, SetBotParams, StartBot, StopBot
from desk.engine.engine import Engine
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio


def _config(db: Path, bots: list[dict]) -> object:
    return parse_config(
        {
            "system": {"mode": "sim", "status_interval": 60},
            "trading": {
                "symbols": ["BTC-USDT", "ETH-USDT"],
                "timeframes": ["1s", "1m"],
                "channels": ["trades", "books"],
            },
            "storage": {"sqlite_path": str(db), "flush_interval": 0.05},
            "simulator": {"enabled": True, "port": 0, "seed": 11, "steps_per_second": 400},
            "bots": bots,
        }
    )


FAST_BOT = {
    "bot_id": "fast",
    "strategy": "ma_crossover",
    "symbol": "BTC-USDT",
    "timeframe": "1s",
    "size": 0.01,
    "params": {"fast": 2, "slow": 3},
}


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_config_bot_runs_signals_are_recorded_and_commands_answered(tmp_path: Path) -> None:
    db = tmp_path / "desk.sqlite"
    client = InProcessClient(Engine(_config(db, [FAST_BOT])))
    await client.start()
    try:
        await wait_until(lambda: client.signals().total >= 2, 60, "two signals from the bot")
        view = client.bots().bots[0]
        assert (view.bot_id, view.state, view.mode) == ("fast", "running", "auto")
        assert view.signal_count >= 2

        ack = await client.execute(PauseBot(bot_id="fast"))
        assert ack.accepted
        refused = await client.execute(PauseBot(bot_id="ghost"))
        assert not refused.accepted and "ghost" in refused.reason
        bad = await client.execute(SetBotParams(bot_id="fast", params={"fast": 9}))
        assert not bad.accepted and "shorter than `slow`" in bad.reason
        assert (await client.execute(SetBotParams(bot_id="fast", params={"slow": 5}))).accepted
        added = await client.execute(
            AddBot(
                config={
                    "bot_id": "later",
                    "strategy": "rsi_mean_reversion",
                    "symbol": "ETH-USDT",
                    "timeframe": "1m",
                    "size": 1,
                }
            )
        )
        assert added.accepted
        wrong_tf = await client.execute(
            AddBot(config={**FAST_BOT, "bot_id": "x", "timeframe": "5m"})
        )
        assert not wrong_tf.accepted and "5m" in wrong_tf.reason

        paused_before = client.bots().bots[0].signal_count
        await wait_until(
            lambda: client.bots().bots[0].signal_count > paused_before, 60, "a signal while paused"
        )
        latest = client.signals(bot_id="fast", limit=1).signals[0]
        assert latest.fate == "filtered_paused"
        events = client.bot_detail("fast").events
        assert [e.summary for e in events[:2]] == ["params slow 3 -> 5", "mode auto -> paused"]
        assert {e.actor for e in events[:2]} == {"operator"}
    finally:
        await client.stop()

    # Every signal the board saw is in SQLite with its fate.
    stored = _rows(db, "SELECT fate FROM bot_signals WHERE bot_id = 'fast'")
    assert len(stored) >= 3
    assert {"sent", "filtered_paused"} <= {fate for (fate,) in stored}


async def test_bots_come_back_as_they_were_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "desk.sqlite"
    second = {**FAST_BOT, "bot_id": "second", "symbol": "ETH-USDT"}
    client = InProcessClient(Engine(_config(db, [FAST_BOT, second])))
    await client.start()
    try:
        await wait_until(lambda: len(client.bots().bots) == 2, 30, "both config bots")
        assert (await client.execute(PauseBot(bot_id="fast"))).accepted
        assert (await client.execute(SetBotParams(bot_id="fast", params={"slow": 6}))).accepted
        assert (await client.execute(StopBot(bot_id="second"))).accepted
    finally:
        await client.stop()

    # Same file, same config: stored state wins, config bots are not re-added or restarted.
    again = InProcessClient(Engine(_config(db, [FAST_BOT, second])))
    await again.start()
    try:
        bots = {b.bot_id: b for b in again.bots().bots}
        assert (bots["fast"].state, bots["fast"].mode) == ("running", "paused")
        assert bots["fast"].params == {"fast": 2, "slow": 6}
        assert bots["second"].state == "stopped"
        assert (await again.execute(StartBot(bot_id="second"))).accepted
        assert again.bots().bots[1].state == "running"
    finally:
        await again.stop()
    added = _rows(db, "SELECT actor FROM bot_events WHERE kind = 'added'")
    assert sorted(actor for (actor,) in added) == ["config", "config"]
    restored = _rows(db, "SELECT bot_id FROM bot_events WHERE kind = 'restored'")
    assert sorted(b for (b,) in restored) == ["fast", "second"]
