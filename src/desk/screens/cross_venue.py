"""The cross-venue view, pushed over the market mode (``x``): one symbol across every venue.

Top: the selected symbol's best bid and ask on each venue, with sizes, age and taker fee, and
the spread matrix (buy on the row's venue, sell on the column's, net basis points after both
taker fees; positive cells highlighted). Below: every symbol's best pair, so a cross on a
symbol not selected is seen too. ``s`` / ``S`` change the symbol; escape goes back.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from desk.screens.base import DeskScreen, bindings
from desk.screens.context import RefreshContext
from desk.widgets.spread_matrix import SpreadMatrix, best_text


class CrossVenueScreen(DeskScreen):
    """Each venue's top of the selected symbol, the spread matrix, every symbol's best pair."""

    MODE_TITLE = "cross-venue"
    BINDINGS = bindings("cross_venue")
    DEFAULT_CSS = """
    CrossVenueScreen #cross-body { height: 1fr; }
    CrossVenueScreen SpreadMatrix { border-top: solid $panel; border-title-style: bold; }
    CrossVenueScreen #cross-best {
        height: auto; color: $muted; border-top: solid $panel; border-title-style: bold;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._best: list[tuple[str, bool]] = []
        self._titled = ""

    def compose(self) -> ComposeResult:
        yield self.header
        with VerticalScroll(id="cross-body"):
            yield SpreadMatrix(id="cross-matrix")
            yield Static("", id="cross-best", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.matrix = self.query_one(SpreadMatrix)
        self.best = self.query_one("#cross-best", Static)
        self.best.border_title = "best pair per symbol"

    def sample_body(self, ctx: RefreshContext) -> None:
        view = ctx.client.cross_venue()
        title = f"{ctx.symbol} across {', '.join(view.venues)}"
        if title != self._titled:  # a border title repaints its whole widget: set it rarely
            self._titled = self.matrix.border_title = title
        self.matrix.show(view, ctx.symbol, ctx.now_ns)
        best = [
            (f" {best_text(row)}", row.best is not None and row.best.bps > 0)
            for row in view.symbols
        ]
        if best != self._best:
            self._best = best
            text = Text(no_wrap=True, overflow="crop")
            positive = self.matrix.get_component_rich_style("spread-matrix--positive")
            for i, (line, crossed) in enumerate(best):
                text.append(("\n" if i else "") + line, positive if crossed else "")
            self.best.update(text if best else " no venue's book yet")

    def action_close(self) -> None:
        self.app.pop_screen()
