"""Client order ids: the OMS's validity check answers as OKX's pattern does, the factory's and
the bots' deterministic ids pass it."""

from __future__ import annotations

import pytest

from desk.core.orders import CLIENT_ORDER_ID
from desk.execution.order_ids import (
    ClientOrderIdFactory,
    deterministic_client_order_id,
    is_valid_client_order_id,
)

CASES = [
    "",
    "a",
    "Z9",
    "b" + "f" * 31,
    "b" + "f" * 32,
    "x" * 32,
    "x" * 33,
    "has-dash",
    "has space",
    "under_score",
    "tail\n",
    "\n",
    "é",  # a letter, not ASCII
    "١٢٣",  # Arabic-Indic digits: isdigit, not [0-9]
    "²",  # superscript two: isalnum, not [0-9]
    "ß",
    "Ａ",  # fullwidth A
    "K",  # Kelvin sign (folds to K under re.IGNORECASE)
    "İ",
    "\x00",
    "abc\x00",
]


@pytest.mark.parametrize("text", CASES)
def test_the_check_answers_as_okx_pattern(text: str) -> None:
    assert is_valid_client_order_id(text) is (CLIENT_ORDER_ID.fullmatch(text) is not None)


def test_every_ascii_character_is_judged_as_the_pattern_judges_it() -> None:
    for code in range(128):
        text = f"a{chr(code)}b"
        assert is_valid_client_order_id(text) is (CLIENT_ORDER_ID.fullmatch(text) is not None)


def test_the_ids_desk_makes_pass() -> None:
    factory = ClientOrderIdFactory(now_ns=1_700_000_000_000_000_000)
    assert all(is_valid_client_order_id(factory.next()) for _ in range(100))
    assert is_valid_client_order_id(deterministic_client_order_id("bot-1", "1700000000000"))
