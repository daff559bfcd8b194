"""Signals mode on the fake client: the indicator rows and the filterable signal stream."""

from __future__ import annotations

from typing import Any

import msgspec
from textual.pilot import Pilot
from textual.widgets import Input

from desk.screens.forms import TextPrompt
from desk.screens.signals import SignalsScreen
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient


async def open_signals(pilot: Pilot[Any]) -> SignalsScreen:
    app = pilot.app
    await settled(pilot)
    await pilot.press("4")
    await wait_for(pilot, lambda: isinstance(app.screen, SignalsScreen))
    screen = app.screen
    assert isinstance(screen, SignalsScreen)
    await wait_for(pilot, lambda: screen.stream.row_count > 0)
    return screen


def fates(screen: SignalsScreen) -> list[str]:
    table = screen.stream
    return [table.cell_text(str(row.key.value), "fate") for row in table.ordered_rows]


async def test_indicator_rows_per_symbol_and_timeframe_with_rsi_marked() -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_signals(pilot)
        table = screen.indicators
        keys = [str(row.key.value) for row in table.ordered_rows]
        assert keys == [
            "BTC-USDT/1s",
            "BTC-USDT/3s",
            "ETH-USDT/1s",
            "ETH-USDT/3s",
            "SOL-USDT/1s",
            "SOL-USDT/3s",
        ]
        assert table.cell_text("BTC-USDT/1s", "rsi") == "22.5"
        assert table.cell_text("SOL-USDT/3s", "rsi") == "—"  # warming up
        hot = table._records["ETH-USDT/1s"]["rsi"]
        cold = table._records["BTC-USDT/1s"]["rsi"]
        plain = table._records["BTC-USDT/3s"]["rsi"]
        assert not isinstance(plain, str) and not plain.style
        assert not isinstance(hot, str) and hot.style == table.get_component_rich_style(
            "bot-table--hot", partial=True
        )
        assert not isinstance(cold, str) and cold.style != hot.style


async def test_the_stream_is_newest_first_and_f_cycles_the_fate_filter() -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_signals(pilot)
        assert screen.stream.row_count == 12
        seqs = [int(row.key.value) for row in screen.stream.ordered_rows]
        assert seqs == sorted(seqs, reverse=True)
        assert "12 of 12" in screen.count_text()
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.filter.fate == "sent" and screen.matched == 4)
        await wait_for(pilot, lambda: set(fates(screen)) == {"sent"})
        assert "4 of 12" in screen.count_text()
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.filter.fate == "filtered" and screen.matched == 7)
        assert all(fate.startswith("filtered") for fate in fates(screen))
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.filter.fate == "failed" and screen.matched == 1)
        assert fates(screen) == ["failed"]
        assert "1 of 12" in str(screen.status.render())
        await pilot.press("f")  # late: a model's prediction that came after its bar
        await wait_for(pilot, lambda: screen.filter.fate == "late" and screen.matched == 0)
        await pilot.press("f")  # watched: a watcher's (recorded, never traded)
        await wait_for(pilot, lambda: screen.filter.fate == "watched" and screen.matched == 0)
        await pilot.press("f")
        await wait_for(pilot, lambda: screen.filter.fate == "" and screen.stream.row_count == 12)


async def test_the_spread_watchers_signals_can_be_shown_alone() -> None:
    fake = FakeEngineClient()
    newest = fake.signal_list[-1]
    fake.signal_list.append(
        msgspec.structs.replace(
            newest,
            seq=newest.seq + 1,
            bot_id="spread-watch",
            strategy="spread_watcher",
            fate="watched",
            reason="buy binance / sell okx +3.2 bps net for 2.1 s",
        )
    )
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_signals(pilot)
        assert screen.stream.row_count == 13
        for _ in range(5):  # all → sent → filtered → failed → late → watched
            await pilot.press("f")
        await wait_for(pilot, lambda: screen.filter.fate == "watched" and screen.matched == 1)
        await wait_for(pilot, lambda: fates(screen) == ["watched"])
        assert "1 of 13" in screen.count_text()


async def test_slash_filters_by_text_and_b_by_the_selected_bot() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_signals(pilot)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt))
        app.screen.query_one(Input).value = "venue refused"
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.matched == 1 and screen.stream.row_count == 1)
        assert "venue refused" in screen.filter.describe()
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt))
        app.screen.query_one(Input).value = ""
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.stream.row_count == 12)
        await pilot.press("down")  # the second newest: rsi-revert's
        await pilot.press("b")
        await wait_for(pilot, lambda: screen.filter.bot_id == "rsi-revert")
        await wait_for(pilot, lambda: screen.matched == 6)
        assert "6 of 12" in screen.count_text()
        await pilot.press("b")
        await wait_for(pilot, lambda: screen.filter.bot_id == "" and screen.matched == 12)


async def test_a_new_signal_appears_on_top() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_signals(pilot)
        signal = fake.add_signal("ma-fast", "sent")
        await wait_for(pilot, lambda: screen.stream.row_count == 13)
        assert str(screen.stream.ordered_rows[0].key.value) == str(signal.seq)
