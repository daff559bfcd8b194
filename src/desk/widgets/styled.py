"""Theme-resolved styles for line-API widgets, kept until the styles really change.

Textual drops a widget's own style cache on every ``refresh``, even a one-line one, so calling
``get_component_rich_style`` while rendering recomputes colours (walking the ancestors for the
background) for every line of every frame. Widgets that repaint at 10 Hz resolve each style
once here and forget them only when Textual reports a style change (theme switch, CSS update).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.style import Style

if TYPE_CHECKING:
    from textual.widget import Widget

    _Base = Widget
else:
    _Base = object


class StyledLines(_Base):
    """Mixin (list it before the Textual base): ``style_of(component)`` cached across refreshes."""

    def style_of(self, component: str = "") -> Style:
        """The widget's style, plus ``component``'s (a COMPONENT_CLASSES name) when given."""
        resolved: dict[str, Style] = self.__dict__.setdefault("_desk_styles", {})
        style = resolved.get(component)
        if style is None:
            base = self.rich_style
            style = base + self.get_component_rich_style(component) if component else base
            resolved[component] = style
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.__dict__.pop("_desk_styles", None)
