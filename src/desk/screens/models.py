"""The model view: the health of every live model, pushed over the signals mode (``m``).

Per model: its id, age and training range, inference p50 / p99 and queue wait, predictions per
second, late predictions, the live hit rate beside the persistence and majority baselines on the
same bars, the Brier score, the input staleness and its warnings; below, the selected model's
feature drift (PSI against the training distribution, per feature). Escape goes back. The
warnings also show in every screen's header (``MODEL …``), like the other health warnings.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Label

from desk.bridge.views import ModelView
from desk.screens.base import DeskScreen, bindings
from desk.screens.context import RefreshContext
from desk.widgets.model_tables import DriftTable, ModelsTable, score_text

NO_MODELS = (
    " no live model: a bot with strategy lstm starts one "
    "(desk train writes a checkpoint; models.demo runs one under --sim)"
)


class ModelsScreen(DeskScreen):
    """Every live model, and the drift of the selected one."""

    MODE_TITLE = "models"
    BINDINGS = bindings("models")
    DEFAULT_CSS = """
    ModelsScreen #models-summary, ModelsScreen #model-detail, ModelsScreen #model-warnings {
        width: 1fr; height: auto; background: $surface; color: $muted;
    }
    ModelsScreen #model-warnings { color: $warning; }
    ModelsScreen #models-table { height: auto; max-height: 40%; }
    ModelsScreen #model-drift { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.models: list[ModelView] = []
        self._texts: dict[str, str] = {}
        self._drawn: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        yield self.header
        yield Label("", id="models-summary")
        yield ModelsTable(id="models-table", cursor=True)
        yield Label("", id="model-detail")
        yield Label("", id="model-warnings")
        yield DriftTable(id="model-drift")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.table = self.query_one(ModelsTable)
        self.drift = self.query_one(DriftTable)
        self.table.border_title = "models"
        self.drift.border_title = "feature drift (PSI vs training)"
        self.table.focus()

    def sample_body(self, ctx: RefreshContext) -> None:
        view = ctx.client.models()
        self.models = view.models
        self.table.show_models(view.models)
        selected = self.selected()
        key = (selected, self.table.style_epoch, self.drift.style_epoch)
        if key != self._drawn:
            self._drawn = key
            self.drift.show_drift(selected.drift if selected is not None else [])
        n = len(view.models)
        warned = sum(1 for m in view.models if m.warnings)
        summary = f" {n} live model{'s' if n != 1 else ''}" if n else NO_MODELS
        if warned:
            summary += f" · {warned} with warnings"
        self._set("#models-summary", summary)
        self._set("#model-detail", detail_text(selected) if selected is not None else "")
        warnings = "; ".join(selected.warnings) if selected is not None else ""
        self._set("#model-warnings", f" ⚠ {warnings}" if warnings else "")

    def selected(self) -> ModelView | None:
        """The model under the cursor (the first one before the cursor moves)."""
        key = self.table.selected_key()
        return next((m for m in self.models if m.model_id == key), None)

    def _set(self, selector: str, text: str) -> None:
        if self._texts.get(selector) != text:
            self._texts[selector] = text
            label = self.query_one(selector, Label)
            label.update(text)
            label.display = bool(text)

    def action_close_models(self) -> None:
        self.dismiss()


def detail_text(m: ModelView) -> str:
    """The selected model in a few lines: training, the live record, the test figures."""
    symbols = ",".join(m.symbols) or "?"
    trained = f"trained {m.train_start} → {m.train_end} on {symbols} {m.timeframe}"
    test = ""
    if m.test_accuracy is not None:
        hit = "—" if m.test_hit_rate is None else f"{m.test_hit_rate * 100:.0f}%"
        test = f" · test acc {m.test_accuracy * 100:.0f}% hit {hit}"
    brier = "—" if m.brier is None else f"{m.brier:.3f}"
    live = " · ".join(
        (
            score_text("model", m.model),
            score_text("persistence", m.persistence),
            score_text("majority", m.majority),
        )
    )
    drift = "" if m.drift_exact else " · drift vs N(mean, std): the card has no training bins"
    return (
        f" {trained} · horizon {m.horizon} bars · inference on {m.device}{test}\n"
        f" live over {m.model.n} resolved bars: {live} · Brier {brier}{drift}"
    )
