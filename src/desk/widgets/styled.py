"""What line-API widgets share to repaint cheaply: resolved styles and reused finished lines.

Textual drops a widget's own style cache on every ``refresh``, even a one-line one, so calling
``get_component_rich_style`` while rendering recomputes colours (walking the ancestors for the
background) for every line of every frame. Widgets that repaint at 10 Hz resolve each style
once here and forget them only when Textual reports a style change (theme switch, CSS update).

A repainted line costs far more in Textual than in ``render_line``: Textual wraps the widget's
``Strip`` in the widget's background and borders and runs the app's line filters over it, each
step making a new ``Strip``; the compositor then cuts every line at the widget edges and encodes
it as ANSI. Those last steps are cached on the ``Strip`` object, so a line whose finished
``Strip`` is the same object as before costs almost nothing. ``ReusingLineCache`` gets that:
a widget that hands back the very ``Strip`` it drew earlier (its own caches are keyed by
content) gets back the very finished line too. That makes a moved line cheap, which matters for
the tape, where a new trade pushes every row one line down.

The app's ANSI-to-truecolor line filter is applied here too, once per new line and only to lines
that hold an ANSI colour or dim text (a theme of ANSI colours): desk's themes are truecolor, so
the filter would copy every line unchanged, every time it is repainted.

A finished line that lives for a while must also die without the garbage collector: Textual's
compositor cuts every line at the widget's edges (``Strip.divide``), and a line it need not cut
is memoised as ``[line]`` inside the line itself, a reference cycle. Under a full-speed feed
the ladder and tape replace ~150 such lines a second, each ~15 tracked objects (the Strip, its
seven memo caches, segments), and those that lived past a middle collection sat in the oldest
generation as garbage until the next full collection: three quarters of what it scanned
(bench/gc_pauses.py --ui). ``FinishedStrip`` cuts such a line without the memo, so a replaced
line is freed the moment the last reference goes.

``ReusingLineCache`` extends Textual's internal ``StylesCache`` (Textual 8) and relies on its
argument order; tests/ui/test_line_cache.py compares every line it finishes with Textual's own,
so a Textual upgrade that changes either fails a test instead of drawing wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style
from textual._styles_cache import StylesCache
from textual.filter import ANSIToTruecolor, LineFilter
from textual.strip import Strip

if TYPE_CHECKING:
    from textual.css.styles import StylesBase
    from textual.geometry import Size
    from textual.widget import Widget

    _Base = Widget
else:
    _Base = object

# Where StylesCache.render_line (Textual 8) takes the widget's render_line, counted after ``y``:
# size, content_size, padding, base_background, background, render_content_line, ...
RENDER_CONTENT_LINE = 5
# StylesCache.render takes render_content_line, then the line filters, after the backgrounds.
RENDER_FILTERS = 1
BACKGROUNDS = slice(3, 5)
# Finished lines kept: this frame's and the last one's, whatever moved in between.
KEEP_FRAMES = 2


class FinishedStrip(Strip):
    """A finished line: cut as Textual's ``Strip`` cuts, but the uncut case is not memoised in
    the line itself (a reference cycle only the garbage collector frees; see the module
    docstring). Every other method, and every line derived from this one, is Textual's."""

    __slots__ = ()

    def divide(self, cuts: Iterable[int]) -> Sequence[Strip]:
        length = self.cell_length
        kept = [cut for cut in cuts if cut <= length]
        if kept == [length]:
            return [self]
        return super().divide(kept)


def finished_strip(line: Strip) -> FinishedStrip:
    """``line`` as a ``FinishedStrip`` (the same segments and length)."""
    if isinstance(line, FinishedStrip):
        return line
    return FinishedStrip(line, line.cell_length)


class ReusingLineCache(StylesCache):
    """Textual's per-widget line renderer, reusing the finished line of a content ``Strip``.

    Only content rows are reused (not borders or padding), and only while everything else that
    goes into a finished line (size, colours, borders, opacity) is what it was: any change of
    those forgets every finished line.

    New content lines take a short path where the widget's styles allow it (no side padding,
    tint, opacity or hatch, which is how desk styles its line widgets): the widget's ``Strip``
    fitted to the content width, between the side borders Textual drew for this frame. That is
    what Textual's own ``render_line`` makes of such a line (tests/ui check both agree), without
    its per-line style and border lookups; anything else goes through Textual.
    """

    def __init__(self) -> None:
        super().__init__()
        self._finished: dict[int, tuple[Strip, Strip]] = {}
        self._surroundings: tuple[object, ...] = ()
        self._content_rows = range(0)
        self._plain = False
        self._edges: tuple[Style, tuple[Segment, ...], tuple[Segment, ...]] | None = None
        self._truecolor: ANSIToTruecolor | None = None
        self._background: Any = None

    def render(
        self,
        styles: StylesBase,
        size: Size,
        base_background: Any,
        background: Any,
        *args: Any,
        **kwargs: Any,
    ) -> list[Strip]:
        """Note what surrounds the content this frame, then render as Textual does (less the
        ANSI-to-truecolor filter, which ``render_line`` applies where it changes something)."""
        content_size = kwargs.get("content_size") or size
        filters: list[LineFilter] = list(args[RENDER_FILTERS])
        truecolor = next((f for f in filters if isinstance(f, ANSIToTruecolor)), None)
        args = (
            *args[:RENDER_FILTERS],
            [f for f in filters if f is not truecolor],
            *args[RENDER_FILTERS + 1 :],
        )
        surroundings = (
            size,
            content_size,
            base_background,
            background,
            kwargs.get("padding"),
            kwargs.get("opacity"),
            kwargs.get("native_ansi"),
            id(kwargs.get("ansi_theme")),
            styles.border,
            styles.outline,
            styles.tint,
            styles.text_opacity,
            styles.hatch,
            id(truecolor),
        )
        if surroundings != self._surroundings:
            self._surroundings = surroundings
            self._finished.clear()
            self._content_rows = _content_rows(styles, size, content_size)
            self._plain = _is_plain(styles, kwargs.get("padding"), kwargs.get("opacity", 1.0))
            self._edges = None
            self._truecolor, self._background = truecolor, background
        return super().render(styles, size, base_background, background, *args, **kwargs)

    def render_line(self, styles: StylesBase, y: int, *args: Any) -> Strip:
        """The finished line ``y``: reused when the widget's ``Strip`` for it was seen before."""
        rows = self._content_rows
        if y not in rows:
            return self._to_truecolor(super().render_line(styles, y, *args))
        render_content_line = args[RENDER_CONTENT_LINE]
        content = render_content_line(y - rows.start)
        held = self._finished.get(id(content))
        if held is not None and held[0] is content:
            return held[1]
        if self._plain:
            finished = self._plain_line(content, styles, y, args)
        else:
            finished = self._textual_line(content, styles, y, args)
        finished = finished_strip(self._to_truecolor(finished))
        if len(self._finished) >= KEEP_FRAMES * len(rows):
            del self._finished[next(iter(self._finished))]  # the oldest
        self._finished[id(content)] = (content, finished)  # holding content keeps its id unique
        return finished

    def _to_truecolor(self, line: Strip) -> Strip:
        """``line`` through the app's ANSI-to-truecolor filter, if it has anything to convert."""
        if self._truecolor is None or not _needs_truecolor(line):
            return line
        return line.apply_filter(self._truecolor, self._background)

    def _textual_line(
        self, content: Strip, styles: StylesBase, y: int, args: tuple[Any, ...]
    ) -> Strip:
        """Textual's own finished line around ``content``."""
        return super().render_line(
            styles,
            y,
            *args[:RENDER_CONTENT_LINE],
            lambda _y: content,
            *args[RENDER_CONTENT_LINE + 1 :],
        )

    def _plain_line(
        self, content: Strip, styles: StylesBase, y: int, args: tuple[Any, ...]
    ) -> Strip:
        """``content`` fitted to the content width, between this frame's side borders."""
        if self._edges is None:
            self._edges = self._measure_edges(styles, y, args)
        inner, left, right = self._edges
        line = content.adjust_cell_length(args[1].width, inner)
        if not left and not right:
            return line
        return FinishedStrip([*left, *line, *right], args[0].width)

    def _measure_edges(
        self, styles: StylesBase, y: int, args: tuple[Any, ...]
    ) -> tuple[Style, tuple[Segment, ...], tuple[Segment, ...]]:
        """The content background and the side border cells, as Textual draws them this frame
        (read off one blank line it renders, so they are exactly its own)."""
        inner = self.get_inner_outer(*args[BACKGROUNDS])[0].rich_style
        blank = Strip.blank(args[1].width, inner)
        segments = list(self._textual_line(blank, styles, y, args))
        (left_edge, _), (right_edge, _) = styles.border.left, styles.border.right
        left = tuple(segments[:1]) if left_edge else ()
        right = tuple(segments[-1:]) if right_edge else ()
        return inner, left, right


def _needs_truecolor(line: Strip) -> bool:
    """Whether ANSIToTruecolor would change ``line``: an ANSI (not RGB) colour, or dim text."""
    for _, style, _ in line:  # noqa: SIM110 - any() over a generator costs twice as much here
        if style is not None and _style_needs_truecolor(style):
            return True
    return False


@lru_cache(maxsize=1024)
def _style_needs_truecolor(style: Style) -> bool:
    """Per style, as a line holds only a handful of a theme's few dozen styles."""
    color, bgcolor = style.color, style.bgcolor
    if color is not None and (color.triplet is None or style.dim):
        return True
    return bgcolor is not None and bgcolor.triplet is None


def _content_rows(styles: StylesBase, size: Size, content_size: Size) -> range:
    """The rows Textual fills from ``render_line``: not borders, padding or outlines."""
    if any(edge for edge, _ in styles.outline):
        return range(0)  # an outline is drawn over content rows: never reuse those
    gutter = styles.gutter
    last = min(gutter.top + content_size.height, size.height - gutter.bottom)
    return range(gutter.top, max(gutter.top, last))


def _is_plain(styles: StylesBase, padding: Any, opacity: float) -> bool:
    """Whether a content line is just the content between side borders (see ReusingLineCache)."""
    sides = padding is None or (padding.left == 0 and padding.right == 0)
    return (
        sides
        and opacity == 1.0
        and styles.text_opacity == 1.0
        and styles.tint.a == 0
        and (not styles.has_rule("hatch") or styles.hatch == "none")
    )


class StyledLines(_Base):
    """Mixin (list it before the Textual base): ``style_of(component)`` cached across refreshes,
    and finished lines reused by ``ReusingLineCache``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._styles_cache = ReusingLineCache()

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
