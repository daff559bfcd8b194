"""desk-light: for bright rooms and light terminals."""

from textual.theme import Theme

LIGHT = Theme(
    name="desk-light",
    primary="#0969da",
    secondary="#0550ae",
    accent="#9a6700",
    warning="#9a6700",
    error="#cf222e",
    success="#1a7f37",
    foreground="#1f2328",
    background="#ffffff",
    surface="#f6f8fa",
    panel="#eaeef2",
    dark=False,
    variables={
        "bid": "#1a7f37",
        "ask": "#cf222e",
        "bid-depth": "#1a7f37 18%",
        "ask-depth": "#cf222e 18%",
        "pnl-up": "#1a7f37",
        "pnl-down": "#cf222e",
        "candle-up": "#1a7f37",
        "candle-down": "#cf222e",
        "stale": "#8c959f",
        "muted": "#57606a",
        "spread": "#eaeef2",
        "mode-sim": "#0969da",
        "mode-paper": "#9a6700",
        "mode-live": "#cf222e",
        "live-text": "#ffffff",
    },
)
