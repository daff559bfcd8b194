"""desk's own theme variables and their fallbacks for themes that do not set them."""

from __future__ import annotations

VARIABLE_DEFAULTS: dict[str, str] = {
    "bid": "#3fb950",
    "ask": "#f85149",
    "bid-depth": "#3fb950 22%",
    "ask-depth": "#f85149 22%",
    "pnl-up": "#3fb950",
    "pnl-down": "#f85149",
    "candle-up": "#3fb950",
    "candle-down": "#f85149",
    "stale": "#6e7681",
    "muted": "#8b949e",
    "spread": "#30363d",
    "mode-sim": "#1f6feb",
    "mode-paper": "#9e6a03",
    "mode-live": "#da3633",
    "live-text": "#ffffff",
}
