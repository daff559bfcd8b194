"""A terminal plot of an equity curve (block characters, eighths of a cell), with its drawdown.

Plain text lines, so the command can print them through rich or to any stream.
"""

from __future__ import annotations

import numpy as np

BLOCKS = " ▁▂▃▄▅▆▇█"


def resample(values: np.ndarray, width: int) -> np.ndarray:
    """``width`` points: the last value of each of ``width`` equal slices (all if fewer)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) <= width:
        return values
    edges = np.linspace(0, len(values), width + 1).astype(np.int64)
    return values[np.maximum(edges[1:] - 1, 0)]


def area(values: np.ndarray, height: int, lo: float, hi: float, hanging: bool = False) -> list[str]:
    """Rows (top first) of an area chart of ``values`` between ``lo`` and ``hi``.

    ``hanging`` fills from the top down (a drawdown under the zero line), in half cells.
    """
    span = hi - lo if hi > lo else 1.0
    fill = np.clip((values - lo) / span, 0.0, 1.0) * height * 8
    if hanging:
        fill = height * 8 - fill
    rows = []
    for r in range(height):
        level = (r if hanging else height - 1 - r) * 8
        cells = np.clip(fill - level, 0, 8).astype(int)
        if hanging:
            rows.append(
                "".join("█" if c >= 8 else "▀" if c >= 4 else "▔" if c >= 1 else " " for c in cells)
            )
        else:
            rows.append("".join(BLOCKS[c] for c in cells))
    return rows


def equity_plot(
    equity: np.ndarray,
    *,
    width: int = 72,
    height: int = 10,
    drawdown_height: int = 3,
    start_label: str = "",
    end_label: str = "",
) -> list[str]:
    """Equity over time with its high and low on the left, and the drawdown underneath."""
    if len(equity) == 0:
        return ["(no bars)"]
    hi_label = f"{float(np.max(equity)):,.2f}"
    lo_label = f"{float(np.min(equity)):,.2f}"
    pad = max(len(hi_label), len(lo_label))
    width = max(10, width - pad - 1)
    cols = resample(equity, width)
    lo, hi = float(cols.min()), float(cols.max())
    if hi == lo:
        lo, hi = lo - 1.0, hi + 1.0
    lines = []
    for r, row in enumerate(area(cols, height, lo - (hi - lo) * 0.02, hi)):
        label = hi_label if r == 0 else lo_label if r == height - 1 else ""
        lines.append(f"{label:>{pad}} {row}")
    if drawdown_height > 0:
        peak = np.maximum.accumulate(np.asarray(equity, dtype=np.float64))
        full = np.where(peak > 0, equity / peak - 1.0, 0.0)
        dd = resample(full, width)
        worst = float(full.min())
        dd_label = f"{worst:.1%}"
        pad2 = max(pad, len(dd_label))
        for r, row in enumerate(area(dd, drawdown_height, min(worst, -1e-12), 0.0, True)):
            label = "dd" if r == 0 else dd_label if r == drawdown_height - 1 else ""
            lines.append(f"{label:>{pad2}} {row}")
    if start_label or end_label:
        gap = max(1, width - len(start_label) - len(end_label))
        lines.append(" " * (pad + 1) + start_label + " " * gap + end_label)
    return lines
