"""The duplicate window: request ids are remembered per agency while valid, and bounded in number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dancu_bus.resolver.duplicates import DuplicateWindow

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SOON = NOW + timedelta(seconds=30)
HERE, THERE = "exchange-here", "exchange-there"


def test_another_record_with_the_id_is_a_duplicate_the_same_record_is_not() -> None:
    """A second record is a duplicate naming the first's exchange; the first read again (a replay) is not."""
    window = DuplicateWindow(300)
    assert window.first_of("bank", "r1", HERE, SOON, NOW) is None
    assert window.first_of("bank", "r1", HERE, SOON, NOW) is None
    assert window.first_of("bank", "r1", THERE, SOON, NOW) == HERE


def test_ids_are_per_agency() -> None:
    """Two agencies may use the same request id without refusing each other."""
    window = DuplicateWindow(300)
    assert window.first_of("bank", "r1", HERE, SOON, NOW) is None
    assert window.first_of("telecom", "r1", THERE, SOON, NOW) is None


def test_an_id_is_forgotten_when_its_request_expires_or_the_window_ends() -> None:
    """After the first request's expiry (or the window, if sooner) the id may be used again."""
    window = DuplicateWindow(10)
    assert window.first_of("bank", "r1", HERE, SOON, NOW) is None
    assert window.first_of("bank", "r2", HERE, NOW + timedelta(seconds=5), NOW) is None
    later = NOW + timedelta(seconds=11)
    assert window.first_of("bank", "r1", THERE, later + timedelta(seconds=30), later) is None
    assert window.first_of("bank", "r2", THERE, later + timedelta(seconds=30), later) is None


def test_memory_is_bounded_by_the_capacity() -> None:
    """Beyond its capacity the window forgets the ids that would expire first."""
    window = DuplicateWindow(300, capacity=100)
    for n in range(1_000):
        window.first_of("bank", f"r{n}", f"x{n}", SOON + timedelta(milliseconds=n), NOW)
    assert len(window) <= 101
