"""desk-dark: the default, a low-glare dark theme for long sessions."""

from textual.theme import Theme

DARK = Theme(
    name="desk-dark",
    primary="#58a6ff",
    secondary="#1f6feb",
    accent="#d29922",
    warning="#d29922",
    error="#f85149",
    success="#3fb950",
    foreground="#c9d1d9",
    background="#0d1117",
    surface="#161b22",
    panel="#21262d",
    dark=True,
    variables={
        "bid": "#3fb950",
        "ask": "#f85149",
        "bid-depth": "#3fb950 20%",
        "ask-depth": "#f85149 20%",
        "pnl-up": "#3fb950",
        "pnl-down": "#f85149",
        "candle-up": "#3fb950",
        "candle-down": "#f85149",
        "stale": "#6e7681",
        "muted": "#8b949e",
        "spread": "#21262d",
        "mode-sim": "#1f6feb",
        "mode-paper": "#9e6a03",
        "mode-live": "#da3633",
        "live-text": "#ffffff",
    },
)
