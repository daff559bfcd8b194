"""What every mode screen shares: the header, the footer, Textual bindings from the keymap, and
the ``sample`` entry point the App's refresh timer calls while the screen is on top.

A screen that is not on top is never sampled, so hidden modes cost nothing; when it comes back
the next sample brings it up to date, because widgets compare view versions, not events.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.screen import Screen

from desk.core.enums import ConnectionState
from desk.keymap import specs_for
from desk.screens.context import EngineState, RefreshContext
from desk.widgets.desk_header import DeskHeader, model_alert, risk_badge
from desk.widgets.formatting import fmt_bytes


def bindings(scope: str) -> list[Binding]:
    """Textual bindings for one keymap scope, with their default keys and their ids."""
    return [
        Binding(
            spec.key,
            spec.action,
            spec.description,
            show=spec.show,
            id=spec.id,
            priority=spec.priority,
        )
        for spec in specs_for(scope)
    ]


def app_bindings_for_modal(ids: tuple[str, ...]) -> list[Binding]:
    """App bindings a modal screen should still answer (a modal hides the App's own).

    They keep their ids, so a remap in ``ui.keys`` moves them together with the App's.
    """
    return [
        Binding(spec.key, f"app.{spec.action}", spec.description, show=False, id=spec.id)
        for spec in specs_for("app")
        if spec.id in ids or (spec.id.startswith("mode_") and "mode_*" in ids)
    ]


class DeskScreen(Screen[None]):
    """A mode: sampled by the App while on top; subclasses implement ``sample_body``."""

    MODE_TITLE = ""

    def __init__(self) -> None:
        super().__init__()
        self.samples = 0
        self.header = DeskHeader(self.MODE_TITLE)

    def sample(self, ctx: RefreshContext) -> None:
        """Refresh the header and the body from one context; called at most once per tick.

        A screen just pushed (a bot's detail) may be on top before it is mounted: it waits."""
        if not self.is_mounted:
            return
        self.header.show(
            ctx.mode,
            f"{ctx.symbol} · {ctx.timeframe}",
            feed_state(ctx),
            memory_alert(ctx) + model_alert(ctx.health),
            ctx.now_ns,
            getattr(ctx.client, "control_status", "") or "",
            risk_badge(ctx.health),
        )
        self.sample_body(ctx)
        self.samples += 1

    def sample_body(self, ctx: RefreshContext) -> None:
        raise NotImplementedError

    def on_resize(self) -> None:
        """Wide and tall layouts are CSS classes, so the stylesheet decides what uses the room."""
        width, height = self.size
        self.set_class(width >= 140, "-wide")
        self.set_class(height >= 40, "-tall")


def feed_state(ctx: RefreshContext) -> tuple[str, str]:
    """(' ● feeds 2/2 ', 'ok'); 'degraded' while some feeds are down, 'down' when none is up."""
    if ctx.engine_state != EngineState.RUNNING:
        state = "down" if ctx.engine_state == EngineState.FAILED else "degraded"
        return f" engine {ctx.engine_state} ", state
    connections = ctx.health.connections if ctx.health is not None else []
    if not connections:
        return (" ● connected ", "ok") if ctx.client.connected else (" ○ disconnected ", "down")
    up = sum(1 for c in connections if c.state is ConnectionState.CONNECTED)
    if up == len(connections):
        return f" ● feeds {up}/{up} ", "ok"
    return f" ◐ feeds {up}/{len(connections)} ", "degraded" if up else "down"


def memory_alert(ctx: RefreshContext) -> str:
    """A header badge while the process is over ``system.max_memory_usage``."""
    health = ctx.health
    if health is None or not health.max_memory_bytes or health.rss_bytes <= health.max_memory_bytes:
        return ""
    return f" MEM {fmt_bytes(health.rss_bytes)} > {fmt_bytes(health.max_memory_bytes)} "
