"""Excerpts of outside data: short, quoted, and saying how long the whole was."""

from __future__ import annotations

import pytest

from desk.core.excerpt import EXCERPT_CHARS, excerpt


def test_short_data_is_quoted_whole() -> None:
    assert excerpt(b'{"arg":1}') == "'{\"arg\":1}'"
    assert excerpt("pong") == "'pong'"


def test_long_data_keeps_200_characters_and_states_the_length() -> None:
    frame = b'{"arg":' + b"1" * 204_805
    text = excerpt(frame)
    assert text.startswith('\'{"arg":111') and text.endswith("…' (200 of 204,812 bytes)")
    assert len(text) < EXCERPT_CHARS + 40
    assert excerpt("x" * 500, 10) == "'xxxxxxxxxx…' (10 of 500 chars)"


def test_control_characters_and_bad_utf8_stay_visible_on_one_line() -> None:
    text = excerpt(b"\x00\xff\n\x1b[2J")
    assert "\n" not in text and "\x1b" not in text and "\\x00" in text


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        excerpt("x", 0)


def test_stored_values_are_cut_unquoted_and_other_objects_as_text() -> None:
    """Dead letters keep the value itself (no quotes); a sender id may be any object."""
    assert excerpt("x" * 500, 10, quote=False) == "xxxxxxxxxx… (10 of 500 chars)"
    assert excerpt("short", quote=False) == "short"
    assert excerpt(12345, 3) == "'123…' (3 of 5 chars)"
