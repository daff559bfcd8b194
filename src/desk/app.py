"""The desk Textual App: modes, bindings, themes, and the one refresh timer.

The App does three things. It owns the selection (symbol, timeframe, theme) and the key
bindings. It runs ONE refresh loop: every ``1 / ui.refresh_hz`` seconds, re-armed only after the
previous refresh finished (so refreshes never pile up however busy the engine is), it samples
the EngineClient for the screen on top and for new system events. And it starts and stops the
engine behind the client as plain asyncio, never as widget workers that die with a screen.

Importing this module is cheap: the engine (and whatever heavy libraries it pulls in) is only
imported by ``run_app``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.driver import Driver
from textual.screen import Screen
from textual.theme import BUILTIN_THEMES

from desk.bridge.views import HealthView
from desk.clients.client import EngineClient
from desk.commands import DeskCommands
from desk.config import DeskConfig
from desk.core.commands import Command, CommandAck
from desk.core.enums import Severity
from desk.engine.gc_policy import (
    FULL_EVERY,
    MIDDLE_EVERY,
    POLICY,
    SAFETY_NET,
    CollectorPolicy,
)
from desk.keymap import UiConfigError, resolve_keys
from desk.messages import (
    BotDetailRequested,
    CommandRequested,
    EngineFailed,
    EngineStarted,
    LogsRequested,
    NewBotFormRequested,
    ParamsFormRequested,
    RefreshFailed,
    RefreshRequested,
    SignalsRequested,
    SymbolChanged,
    SystemEventsReceived,
    TimeframeChanged,
)
from desk.screens.backtest import BacktestScreen
from desk.screens.base import DeskScreen, bindings
from desk.screens.bot_detail import BotDetailScreen
from desk.screens.bots import BotsScreen
from desk.screens.context import EngineState, EventLog, RefreshContext
from desk.screens.forms import NewBotForm, ParamsForm
from desk.screens.health import HealthScreen
from desk.screens.help import HelpScreen
from desk.screens.logs import LogsScreen
from desk.screens.market import MarketScreen
from desk.screens.signals import SignalsScreen
from desk.screens.trading import TradingScreen, ask_halt
from desk.terminal import driver_for
from desk.themes import STYLESHEET, THEME_NAMES, THEMES, VARIABLE_DEFAULTS

if TYPE_CHECKING:
    from textual.timer import Timer

log = logging.getLogger("desk.ui")

HEALTH_EVERY_S = 0.5
MIN_GAP_S = 0.005
STOP_TIMEOUT_S = 15.0
TIMING_WINDOW = 2_000
# Garbage collection between frames, with the policy the headless engine shares
# (engine/gc_policy.py). CPython collects when new objects pass a threshold (700), which at 10
# refreshes a second lands inside a sample or a paint several times a second: Textual makes
# about fifteen tracked objects per ``Strip`` and a frame makes hundreds of Strips. With the
# threshold raised out of the way, the App calls ``collect`` once per refresh, after the frame
# is on screen.
GC_SAFETY_NET = SAFETY_NET
GC_MIDDLE_EVERY = MIDDLE_EVERY
GC_FULL_EVERY = FULL_EVERY
FrameCollector = CollectorPolicy


class DeskApp(App[int]):
    """desk in a terminal; ``client`` is the only way it reaches the engine."""

    TITLE = "desk"
    CSS_PATH = str(STYLESHEET)
    MODES: ClassVar[dict[str, str | Callable[[], Screen]]] = {
        "market": MarketScreen,
        "trading": TradingScreen,
        "bots": BotsScreen,
        "signals": SignalsScreen,
        "health": HealthScreen,
        "backtest": BacktestScreen,
    }
    DEFAULT_MODE = "market"
    BINDINGS = bindings("app")
    COMMANDS = App.COMMANDS | {DeskCommands}

    def get_driver_class(self) -> type[Driver]:
        return driver_for(super().get_driver_class())  # terminal.py: SIGCONT without a hang

    def __init__(
        self,
        client: EngineClient,
        config: DeskConfig,
        *,
        clock: Callable[[], int] = time.time_ns,
        freeze_gc: bool = False,
        health_every_s: float = HEALTH_EVERY_S,
        log_path: Path | None = None,
    ) -> None:
        """``clock`` (epoch ns) is what the header shows: tests freeze it. Health is sampled
        every ``health_every_s`` of real time (its figures are per-second rates anyway).
        ``freeze_gc`` (as ``desk`` runs) freezes startup objects out of the collector's view and
        runs the collector between frames (``FrameCollector``). ``log_path``: the log file the
        logs mode shows (default: where ``run_app`` logs, ``log_file_path``)."""
        self.keys = validate_ui(config)  # a bad ui section is refused before Textual starts
        super().__init__()
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = config.ui.theme
        self.set_keymap(dict(config.ui.keys))
        self.client, self.config, self.clock = client, config, clock
        self.symbol = client.symbols[0]
        wanted = config.ui.timeframe  # 1m: history from the venue's candles at once
        self.timeframe = wanted if wanted in client.timeframes else client.timeframes[0]
        self.events = EventLog()
        self.engine_state = EngineState.STARTING
        self.refreshes = 0
        self.refresh_times: deque[float] = deque(maxlen=TIMING_WINDOW)
        self._period = 1.0 / config.ui.refresh_hz
        self._timer: Timer | None = None
        self._health: HealthView | None = None
        self._health_at = -math.inf
        self._health_every_s = health_every_s
        self._failures: set[str] = set()
        self._engine_task: asyncio.Task[None] | None = None
        self._engine_stopped = False
        self._freeze_gc = freeze_gc
        self._collector = POLICY
        self._gc_held = False
        self.add_mode("logs", partial(LogsScreen, log_path or log_file_path(config)))

    @property
    def desk_theme_names(self) -> tuple[str, ...]:
        return THEME_NAMES

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    # -- lifecycle -------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._engine_task = asyncio.get_running_loop().create_task(
            self._start_engine(), name="desk-engine-start"
        )
        self.call_later(self._tick)

    async def _start_engine(self) -> None:
        try:
            await self.client.start()
        except Exception as error:
            log.exception("engine failed to start")
            self.engine_state = EngineState.FAILED
            self.notify(f"engine failed to start: {error}", severity="error", timeout=30)
            self.post_message(EngineFailed(error))
        else:
            self.engine_state = EngineState.RUNNING
            if self._freeze_gc and not self._gc_held:
                self._collector.start()  # startup objects frozen: shorter gen-2 pauses
                self._gc_held = True
            self.post_message(EngineStarted())

    async def _stop_engine(self) -> None:
        """Stop the engine once (quit key, ctrl+q or unmount), bounded by a timeout."""
        if self._engine_stopped:
            return
        self._engine_stopped = True
        self.engine_state = EngineState.STOPPING
        if self._gc_held:
            self._gc_held = False
            self._collector.stop()
        if self._timer is not None:
            self._timer.stop()
        task = self._engine_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        try:
            await asyncio.wait_for(self.client.stop(), STOP_TIMEOUT_S)
        except Exception:
            log.exception("engine did not stop cleanly")

    async def action_quit(self) -> None:
        await self._stop_engine()
        self.exit(0)

    async def on_unmount(self) -> None:
        await self._stop_engine()

    # -- the refresh loop ------------------------------------------------------------------

    def _tick(self) -> None:
        """One refresh, then re-arm: the next starts a period after this one began, never
        while it still runs."""
        if self._engine_stopped:
            return
        started = time.perf_counter()
        self.refresh_views()
        if self._collector.running:
            self.call_after_refresh(self._collector.collect)
        if self._health is not None and self._health_due():
            self.call_after_refresh(self._sample_health)
        delay = max(MIN_GAP_S, self._period - (time.perf_counter() - started))
        self._timer = self.set_timer(delay, self._tick, name="desk-refresh")

    def refresh_views(self) -> None:
        """Sample the client for the screen on top; an exception is logged, never fatal."""
        started = time.perf_counter()
        try:
            self._poll_events()
            screen = self.screen
            if isinstance(screen, DeskScreen):
                with self.batch_update():
                    screen.sample(self._refresh_context())
        except Exception as error:
            self._refresh_failed(error)
        finally:
            self.refresh_times.append(time.perf_counter() - started)
            self.refreshes += 1

    def _refresh_context(self) -> RefreshContext:
        now = self.clock()
        if self._health is None and self._health_due():  # the first: the header needs it now
            self._health, self._health_at = self.client.health(), time.monotonic()
        return RefreshContext(
            client=self.client,
            ui=self.config.ui,
            mode=self.client.mode,
            symbol=self.symbol,
            timeframe=self.timeframe,
            now_ns=now,
            engine_state=self.engine_state,
            events=self.events,
            health=self._health,
        )

    def _health_due(self) -> bool:
        return time.monotonic() - self._health_at >= self._health_every_s

    def _sample_health(self) -> None:
        """The engine's health, fetched after a frame is painted, not inside a refresh (as the
        garbage collector runs): building it costs 1-3 ms (every feed's latency window), and
        the header and the health mode draw it at the next refresh, 100 ms later at most."""
        try:
            self._health, self._health_at = self.client.health(), time.monotonic()
        except Exception as error:
            self._refresh_failed(error)

    def _poll_events(self) -> None:
        fresh = self.events.extend(self.client.events_since(self.events.last_seq))
        if fresh:
            self.post_message(SystemEventsReceived(fresh))

    def _refresh_failed(self, error: Exception) -> None:
        log.exception("refresh failed")
        kind = type(error).__name__
        if kind not in self._failures:
            self._failures.add(kind)
            self.notify(
                f"{kind}: {error} — logged; desk keeps running",
                title="refresh failed",
                severity="error",
                timeout=15,
            )
        self.post_message(RefreshFailed(error))

    def on_system_events_received(self, message: SystemEventsReceived) -> None:
        for event in message.events:
            if event.severity is Severity.ERROR:
                where = f"{event.source} {event.symbol}".strip()
                self.notify(event.message, title=f"{where}: {event.kind}", severity="error")

    # -- actions ---------------------------------------------------------------------------

    async def action_mode(self, mode: str) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
        if self.current_mode != mode:
            await self.switch_mode(mode)
        self.refresh_views()

    def action_halt(self) -> None:
        """Halt trading from any mode: asks "halt" or "halt + flatten" first."""
        ask_halt(self)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
        else:
            self.push_screen(HelpScreen(self.keys))

    def action_next_symbol(self) -> None:
        self.select_symbol(_step(self.client.symbols, self.symbol, 1))

    def action_prev_symbol(self) -> None:
        self.select_symbol(_step(self.client.symbols, self.symbol, -1))

    def action_next_timeframe(self) -> None:
        self.select_timeframe(_step(self.client.timeframes, self.timeframe, 1))

    def action_prev_timeframe(self) -> None:
        self.select_timeframe(_step(self.client.timeframes, self.timeframe, -1))

    def action_cycle_theme(self) -> None:
        self.select_theme(_step(THEME_NAMES, self.theme, 1))

    def select_symbol(self, symbol: str) -> None:
        if symbol != self.symbol:
            self.symbol = symbol
            self.post_message(SymbolChanged(symbol))
            self.refresh_views()

    def select_timeframe(self, timeframe: str) -> None:
        if timeframe != self.timeframe:
            self.timeframe = timeframe
            self.post_message(TimeframeChanged(timeframe))
            self.refresh_views()

    def select_theme(self, name: str) -> None:
        self.theme = name

    # -- commands to the engine --------------------------------------------------------------

    async def send_command(self, command: Command, *, notify_refusal: bool = True) -> CommandAck:
        """Send ``command`` and show the engine's answer: a short note when accepted, an error
        with the reason when refused (forms show refusals themselves: ``notify_refusal``)."""
        name = type(command).__name__
        try:
            ack = await self.client.execute(command)
        except Exception as error:  # a transport failure reads as a refusal, never a crash
            log.exception("command %s failed", name)
            ack = CommandAck(
                command=name, accepted=False, reason=f"{type(error).__name__}: {error}"
            )
        target = getattr(command, "bot_id", "") or ack.detail.get("bot_id", "")
        what = f"{name} {target}".strip()
        if ack.accepted:
            self.notify(f"{what}: accepted", timeout=3)
        elif notify_refusal:
            self.notify(f"{what}: {ack.reason}", title="refused", severity="error", timeout=10)
        self.refresh_views()
        return ack

    # -- what screens and the palette ask for (messages up, calls down) ----------------------

    async def on_command_requested(self, message: CommandRequested) -> None:
        await self.send_command(message.command)

    def on_bot_detail_requested(self, message: BotDetailRequested) -> None:
        self.open_bot_detail(message.bot_id)

    def on_params_form_requested(self, message: ParamsFormRequested) -> None:
        self.open_params_form(message.bot_id)

    def on_new_bot_form_requested(self, message: NewBotFormRequested) -> None:
        self.open_new_bot_form()

    async def on_signals_requested(self, message: SignalsRequested) -> None:
        await self.show_signals(**message.changes)

    async def on_logs_requested(self, message: LogsRequested) -> None:
        await self.action_mode("logs")
        if isinstance(self.screen, LogsScreen):
            self.screen.set_filter(**message.changes)

    def on_refresh_requested(self, message: RefreshRequested) -> None:
        self.refresh_views()

    def open_bot_detail(self, bot_id: str) -> None:
        """Push one bot's detail over the current screen (escape comes back)."""
        if isinstance(self.screen, BotDetailScreen):
            self.pop_screen()
        self.push_screen(BotDetailScreen(bot_id))

    def open_params_form(self, bot_id: str) -> None:
        bot = next((b for b in self.client.bots().bots if b.bot_id == bot_id), None)
        if bot is None:
            self.notify(f"unknown bot {bot_id!r}", severity="error")
            return
        self.push_screen(ParamsForm(bot, self._send_from_form))

    def open_new_bot_form(self) -> None:
        self.push_screen(
            NewBotForm(
                self.client.strategies(),
                self.client.symbols,
                self.client.timeframes,
                self._send_from_form,
            )
        )

    async def _send_from_form(self, command: Command) -> CommandAck:
        """How a form sends: the form shows a refusal itself, so it is not notified."""
        return await self.send_command(command, notify_refusal=False)

    async def show_signals(self, **changes: str) -> None:
        """Switch to the signals mode with its filter changed (fate=, text=, bot_id=)."""
        await self.action_mode("signals")
        screen = self.screen
        if isinstance(screen, SignalsScreen):
            screen.set_filter(**changes)


def _step(items: tuple[str, ...], current: str, by: int) -> str:
    """The item ``by`` places from ``current``, wrapping; the first when current is unknown."""
    if current not in items:
        return items[0]
    return items[(items.index(current) + by) % len(items)]


def validate_ui(config: DeskConfig) -> dict[str, str]:
    """Check ``ui.keys`` and ``ui.theme``; returns binding id -> keys, or raises UiConfigError."""
    keys = resolve_keys(config.ui.keys)
    known = (*THEME_NAMES, *BUILTIN_THEMES)
    if config.ui.theme not in known:
        raise UiConfigError(
            f"ui.theme: unknown theme {config.ui.theme!r} (known: {', '.join(known)})"
        )
    return keys


def run_app(config: DeskConfig, client: EngineClient | None = None) -> int:
    """Run the desk on ``client`` (default: a new engine in this process); the exit code."""
    try:
        validate_ui(config)
    except UiConfigError as error:
        print(f"desk: bad config: {error}", file=sys.stderr, flush=True)
        return 2
    from desk.clients.inprocess import InProcessClient
    from desk.engine.engine import Engine

    log_path = _log_to_file(config)
    client = client or InProcessClient(Engine(config))
    app = DeskApp(client, config, freeze_gc=True, log_path=log_path)
    app.run()
    return app.return_code or 0


def _log_to_file(config: DeskConfig) -> Path:
    """Logs go to a file beside the database: the terminal belongs to the UI."""
    path = log_file_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    formatter.converter = time.gmtime  # UTC, as everywhere in desk (and the logs mode)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(getattr(logging, config.system.log_level))
    return path


def log_file_path(config: DeskConfig) -> Path:
    """desk.log beside the database: where ``run_app`` logs and the logs mode reads."""
    return Path(config.storage.sqlite_path).with_name("desk.log")
