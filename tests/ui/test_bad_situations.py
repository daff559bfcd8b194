"""Bad situations are visible, not fatal: stale feeds, engine errors, failing refreshes."""

from __future__ import annotations

from textual.notifications import Notify

from desk.core.enums import ConnectionState, Mode, Severity
from desk.screens.context import EngineState
from desk.screens.health import HealthScreen
from desk.widgets.desk_header import DeskHeader
from desk.widgets.event_log import EventLogView
from desk.widgets.ladder import Ladder
from tests.ui.conftest import make_app, settled, wait_for
from tests.ui.fakes import FakeEngineClient


def _ladder_lines(ladder: Ladder) -> list[str]:
    return [ladder.render_line(y).text for y in range(ladder.size.height)]


async def test_a_stale_book_greys_out_and_shows_its_age_then_recovers() -> None:
    fake = FakeEngineClient()
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        ladder = app.screen.query_one(Ladder)
        assert not ladder.stale
        fake.set_stale("BTC-USDT", 12_300.0)
        await wait_for(pilot, lambda: ladder.stale)
        assert ladder.has_class("-stale")
        assert any("STALE 12.3s" in line for line in _ladder_lines(ladder))
        stale_colour = ladder.get_component_rich_style("ladder--stale").color
        level = ladder.render_line(0)
        assert level.text.strip(), "a price level is drawn on the first line"
        assert all(seg.style.color == stale_colour for seg in level if seg.text.strip())
        fake.set_stale("BTC-USDT", None)
        await wait_for(pilot, lambda: not ladder.stale)
        assert not ladder.has_class("-stale")
        assert not any("STALE" in line for line in _ladder_lines(ladder))


async def test_an_engine_error_event_notifies_and_lands_in_the_events_log() -> None:
    fake = FakeEngineClient()
    seen: list[object] = []
    app = make_app(fake)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await settled(pilot)
        fake.add_event(
            "checksum mismatch, resyncing", Severity.ERROR, kind="checksum", symbol="BTC-USDT"
        )

        def error_notified() -> bool:
            return any(
                isinstance(m, Notify)
                and m.notification.severity == "error"
                and "checksum mismatch" in m.notification.message
                for m in seen
            )

        await wait_for(pilot, error_notified)
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))
        log = app.screen.query_one(EventLogView)
        await wait_for(pilot, lambda: any("checksum mismatch" in e.message for e in log.shown))
        assert app.is_running


async def test_an_exception_in_a_refresh_is_logged_notified_once_and_survived() -> None:
    fake = FakeEngineClient()
    seen: list[object] = []
    app = make_app(fake)
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await settled(pilot)
        fake.fail_on = "tape"
        start = app.refreshes
        await wait_for(pilot, lambda: app.refreshes >= start + 5)
        failures = [m for m in seen if isinstance(m, Notify) and m.notification.severity == "error"]
        assert len(failures) == 1
        assert "fake tape exploded" in failures[0].notification.message
        fake.fail_on = None
        ladder = app.screen.query_one(Ladder)
        drawn = ladder.draws
        fake.bump_book()
        await wait_for(pilot, lambda: ladder.draws > drawn)
        assert app.is_running


async def test_an_engine_that_fails_to_start_leaves_the_ui_up_and_says_so() -> None:
    class BrokenClient(FakeEngineClient):
        async def start(self) -> None:
            raise OSError("address already in use")

    seen: list[object] = []
    app = make_app(BrokenClient())
    async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: app.engine_state == EngineState.FAILED)
        header = app.screen.query_one(DeskHeader)
        await wait_for(pilot, lambda: "failed" in header.text_of("header-feed"))
        assert any(
            isinstance(m, Notify) and "address already in use" in m.notification.message
            for m in seen
        )


async def test_memory_over_the_limit_is_flagged_in_header_and_health() -> None:
    fake = FakeEngineClient()
    fake.rss_bytes = 3 << 30
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        header = app.screen.query_one(DeskHeader)
        await wait_for(pilot, lambda: "MEM" in header.text_of("header-alert"))
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))
        warning = app.screen.query_one("#memory-warning")
        await wait_for(pilot, lambda: warning.display)


async def test_a_feed_down_shows_in_the_header_and_health() -> None:
    fake = FakeEngineClient()
    fake.connection_state = ConnectionState.DISCONNECTED
    app = make_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        header = app.screen.query_one(DeskHeader)
        assert "feeds 0/2" in header.text_of("header-feed")
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        await wait_for(pilot, lambda: screen.feeds.row_count == 2)
        assert screen.feeds.cell_text("okx-public", "state") == "disconnected"


async def test_live_mode_is_unmistakable_in_the_header() -> None:
    app = make_app(FakeEngineClient(mode=Mode.LIVE))
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        header = app.screen.query_one(DeskHeader)
        assert header.has_class("-live")
        assert "LIVE" in header.text_of("header-mode")
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))
        assert app.screen.query_one(DeskHeader).has_class("-live")
