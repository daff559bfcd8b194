"""desk-high-contrast: pure black, saturated sides, and a stale grey that is still legible.

Bid and ask differ in brightness as well as hue (cyan vs. yellow-orange) so they stay apart for
the common red/green colour-vision deficiencies.
"""

from textual.theme import Theme

HIGH_CONTRAST = Theme(
    name="desk-high-contrast",
    primary="#ffffff",
    secondary="#00ffff",
    accent="#ffff00",
    warning="#ffff00",
    error="#ff4040",
    success="#00ff00",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#303030",
    dark=True,
    luminosity_spread=0.3,
    variables={
        "bid": "#00ffff",
        "ask": "#ffaa00",
        "bid-depth": "#00ffff 35%",
        "ask-depth": "#ffaa00 35%",
        "pnl-up": "#00ff00",
        "pnl-down": "#ff4040",
        "candle-up": "#00ffff",
        "candle-down": "#ffaa00",
        "stale": "#a0a0a0",
        "muted": "#d0d0d0",
        "spread": "#303030",
        "mode-sim": "#0000ff",
        "mode-paper": "#806000",
        "mode-live": "#ff0000",
        "live-text": "#ffffff",
    },
)
