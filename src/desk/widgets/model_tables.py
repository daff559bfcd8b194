"""The tables of the model view: one row per live model, and the drift of the selected one.

Latency and rates are the inference worker's (µs, over its last predictions); the live scores
are the model's record beside the two baselines on the same bars once each prediction's horizon
has passed (hit rate: of the up/down calls, the share whose move beat the dead band that way;
"—" before any call). Drift is the PSI of each feature over the last live rows against its
training distribution: marked from 0.1 (a moderate shift) and as a warning above 0.25, where a
model's inputs no longer look like what it learned from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from rich.text import Text

from desk.bridge.views import FeatureDriftView, LiveScoreView, ModelView
from desk.widgets.bot_tables import MarkedTable
from desk.widgets.formatting import fmt_age_ms
from desk.widgets.keyed_table import Cell, Column

PSI_NOTE, PSI_WARN = 0.1, 0.25
PSI_BAR = 12  # cells of the drift bar at PSI_WARN * 2


def fmt_us(value: float | None) -> str:
    """A latency in µs as people read it: 38µs, 1.2ms, 3.4s."""
    if value is None or not math.isfinite(value):
        return "—"
    if value < 1000:
        return f"{value:.0f}µs"
    if value < 1_000_000:
        return f"{value / 1000:.1f}ms"
    return f"{value / 1e6:.1f}s"


def fmt_share(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value * 100:.0f}%"


def fmt_seconds(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else fmt_age_ms(value * 1000.0)


def score_text(name: str, score: LiveScoreView) -> str:
    """'persistence acc 41% hit 38% (52 calls)' over ``score.n`` resolved bars."""
    if not score.n:
        return f"{name} —"
    return (
        f"{name} acc {fmt_share(score.accuracy)} hit {fmt_share(score.hit_rate)} "
        f"({score.calls} calls)"
    )


class ModelsTable(MarkedTable, can_focus=True):
    """One row per live model, keyed by model id; the cursor picks the one detailed below."""

    ALL_COLUMNS = (
        Column("model", "model", 25),
        Column("bots", "bots", 12, drop=6),
        Column("age", "age", 7, right=True, drop=4),
        Column("p50", "inf p50", 7, right=True),
        Column("p99", "inf p99", 7, right=True),
        Column("wait", "wait p99", 8, right=True, drop=3),
        Column("rate", "pred/s", 6, right=True, drop=5),
        Column("late", "late", 5, right=True, drop=2),
        Column("hit", "hit", 4, right=True),
        Column("persist", "pers", 4, right=True, drop=1),
        Column("major", "maj", 4, right=True, drop=1),
        Column("brier", "brier", 5, right=True, drop=2),
        Column("input", "input", 6, right=True),
        Column("warn", "warn", 4, right=True),
    )

    def show_models(self, models: list[ModelView]) -> None:
        self.show_records({m.model_id: self._record(m) for m in models})

    def _record(self, m: ModelView) -> Mapping[str, Cell]:
        better = (
            m.model.hit_rate is not None
            and m.persistence.hit_rate is not None
            and m.model.hit_rate > m.persistence.hit_rate
        )
        return {
            "model": m.model_id,
            "bots": ",".join(m.bots) or "—",
            "age": fmt_seconds(m.age_s),
            "p50": fmt_us(m.infer_p50_us),
            "p99": fmt_us(m.infer_p99_us),
            "wait": fmt_us(m.wait_p99_us),
            "rate": f"{m.per_second:.1f}",
            "late": self.mark(str(m.late), "failed" if m.late else ""),
            "hit": self.mark(fmt_share(m.model.hit_rate), "up" if better else ""),
            "persist": fmt_share(m.persistence.hit_rate),
            "major": fmt_share(m.majority.hit_rate),
            "brier": "—" if m.brier is None else f"{m.brier:.2f}",
            "input": fmt_seconds(m.input_age_s),
            "warn": self.mark(str(len(m.warnings)), "failed" if m.warnings else "muted"),
        }


class DriftTable(MarkedTable):
    """The selected model's features: PSI against training, with a bar to the warning level."""

    ALL_COLUMNS = (
        Column("feature", "feature", 15),
        Column("psi", "PSI", 6, right=True),
        Column("bar", "", PSI_BAR, drop=2),
        Column("rows", "rows", 6, right=True, drop=1),
        Column("state", "", 7),
    )

    def show_drift(self, drift: list[FeatureDriftView]) -> None:
        self.show_records({d.name: self._record(d) for d in drift})

    def _record(self, d: FeatureDriftView) -> Mapping[str, Cell]:
        psi = d.psi
        if psi is None:
            return {
                "feature": d.name,
                "psi": "—",
                "bar": "",
                "rows": str(d.rows),
                "state": self.mark("no rows", "muted"),
            }
        mark = "failed" if d.warn else "filtered" if psi > PSI_NOTE else ""
        filled = min(PSI_BAR, round(psi / (2 * PSI_WARN) * PSI_BAR))
        state = "drift" if d.warn else "shift" if psi > PSI_NOTE else "ok"
        return {
            "feature": d.name,
            "psi": self.mark(f"{psi:.2f}", mark),
            "bar": self.mark("█" * filled, mark) if filled else Text(""),
            "rows": str(d.rows),
            "state": self.mark(state, mark or "muted"),
        }
