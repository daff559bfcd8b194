"""desk's colour themes and its stylesheet, shipped inside the package.

They live in the top-level ``themes/`` folder, installed as the package ``desk.themes``, so an
installed desk finds them with no path juggling: ``STYLESHEET`` is this package's ``desk.tcss``.
Every colour in that stylesheet is a theme variable; desk's own ones ($bid, $ask, $stale …) have
defaults in ``VARIABLE_DEFAULTS`` so any Textual theme works, and desk's themes set all of them.
"""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

from desk.themes.dark import DARK
from desk.themes.high_contrast import HIGH_CONTRAST
from desk.themes.light import LIGHT
from desk.themes.variables import VARIABLE_DEFAULTS

STYLESHEET = Path(__file__).with_name("desk.tcss")
THEMES: tuple[Theme, ...] = (DARK, LIGHT, HIGH_CONTRAST)
THEME_NAMES: tuple[str, ...] = tuple(theme.name for theme in THEMES)

__all__ = ["STYLESHEET", "THEMES", "THEME_NAMES", "VARIABLE_DEFAULTS"]
