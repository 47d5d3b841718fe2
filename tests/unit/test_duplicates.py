"""The duplicate window: request ids are remembered per agency while valid, and bounded in number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dancu_bus.resolver.duplicates import DuplicateWindow
from dancu_bus.transport import TopicPartition

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SOON = NOW + timedelta(seconds=30)
HERE, THERE = (TopicPartition("req.a", 0), 5), (TopicPartition("req.a", 0), 9)


def test_another_record_with_the_id_is_a_duplicate_the_same_record_is_not() -> None:
    """A second record is a duplicate; the first one read again (a replay) is not."""
    window = DuplicateWindow(300)
    assert not window.is_duplicate("bank", "r1", HERE, SOON, NOW)
    assert not window.is_duplicate("bank", "r1", HERE, SOON, NOW)
    assert window.is_duplicate("bank", "r1", THERE, SOON, NOW)


def test_ids_are_per_agency() -> None:
    """Two agencies may use the same request id without refusing each other."""
    window = DuplicateWindow(300)
    assert not window.is_duplicate("bank", "r1", HERE, SOON, NOW)
    assert not window.is_duplicate("telecom", "r1", THERE, SOON, NOW)


def test_an_id_is_forgotten_when_its_request_expires_or_the_window_ends() -> None:
    """After the first request's expiry (or the window, if sooner) the id may be used again."""
    window = DuplicateWindow(10)
    assert not window.is_duplicate("bank", "r1", HERE, SOON, NOW)
    assert not window.is_duplicate("bank", "r2", HERE, NOW + timedelta(seconds=5), NOW)
    later = NOW + timedelta(seconds=11)
    assert not window.is_duplicate("bank", "r1", THERE, later + timedelta(seconds=30), later)
    assert not window.is_duplicate("bank", "r2", THERE, later + timedelta(seconds=30), later)


def test_memory_is_bounded_by_the_capacity() -> None:
    """Beyond its capacity the window forgets the ids that would expire first."""
    window = DuplicateWindow(300, capacity=100)
    for n in range(1_000):
        window.is_duplicate("bank", f"r{n}", (HERE[0], n), SOON + timedelta(milliseconds=n), NOW)
    assert len(window) <= 101
