"""Refusals become system events, rate-limited so a flood cannot fill the log or SQLite."""

from __future__ import annotations

from desk.bridge.security import RefusalReporter
from desk.core.enums import Severity
from desk.core.excerpt import excerpt


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reporter(clock: Clock, **options: int) -> tuple[RefusalReporter, list[tuple[str, str, str]]]:
    events: list[tuple[str, str, str]] = []

    def emit(source: str, kind: str, message: str, severity: Severity) -> None:
        assert severity is Severity.WARNING
        events.append((source, kind, message))

    return RefusalReporter(emit, clock=clock, **options), events


def test_one_event_per_kind_and_sender_per_window_then_a_count_of_the_rest() -> None:
    clock = Clock()
    report, events = reporter(clock)
    for _ in range(10_000):
        report("bad_signature", "ui:forger", "command PauseBot: bad signature")
    report("expired", "ui:forger", "command issued 40.0s ago refused")
    report("bad_signature", "ui:other", "command PauseBot: bad signature")
    assert [(kind, "'ui:forger'" in msg) for _, kind, msg in events] == [
        ("bad_signature", True),
        ("expired", True),
        ("bad_signature", False),
    ]
    assert all(source == "security" for source, _, _ in events)
    clock.now += 10
    report.flush()
    assert events[-1][1] == "bad_signature"
    assert "9999 more bad signature refusals from 'ui:forger'" in events[-1][2]
    assert len(events) == 4
    assert report.total == 10_002 and report.by_kind["bad_signature"] == 10_001
    report("bad_signature", "ui:forger", "again")  # a new window: reported again
    assert len(events) == 5


def test_a_flood_from_many_senders_is_capped_per_window() -> None:
    clock = Clock()
    report, events = reporter(clock, max_per_window=20)
    for n in range(5000):
        report("bad_signature", f"victim-{n}", "command: bad signature")
    assert len(events) == 20
    clock.now += 10
    report.flush()
    summary = [m for _, _, m in events if "senders not listed" in m]
    assert summary and summary[0].startswith("4980 more bad signature refusals")
    assert len(events) == 21
    assert len(report._windows) == 0  # nothing kept for senders long gone


def test_outside_text_is_cut_to_an_excerpt_with_its_length() -> None:
    clock = Clock()
    report, events = reporter(clock)
    huge = "x" * 200_000
    report("unknown_sender", huge, "bad sender id")
    [(_, _, message)] = events
    assert len(message) < 400 and "(200 of 200,000 chars)" in message
    assert excerpt("short") == "'short'"
    assert excerpt(b"\xff" * 300).endswith("(200 of 300 bytes)")
