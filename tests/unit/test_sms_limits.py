"""Token buckets per phone and per id: a capacity per period, one warning per period, bounded memory."""

from __future__ import annotations

import pytest

from dancu_bus.sms.limits import Buckets, Rate


def test_a_burst_gets_the_capacity_then_refusals() -> None:
    """Five per ten minutes: of 100 at once, five pass."""
    buckets = Buckets(Rate(5, 600), max_keys=10)
    assert sum(buckets.take("84912345678", 0.0) for _ in range(100)) == 5


def test_tokens_come_back_with_time() -> None:
    """After a fifth of the period one token is back; after the whole period all are."""
    buckets = Buckets(Rate(5, 600), max_keys=10)
    for _ in range(5):
        buckets.take("a", 0.0)
    assert not buckets.take("a", 60.0)
    assert buckets.take("a", 120.0)
    assert not buckets.take("a", 120.0)
    assert sum(buckets.take("a", 10_000.0) for _ in range(10)) == 5


def test_a_key_is_warned_once_per_period() -> None:
    """The first refusal is warned; the next ones in the same period are not; after it, again."""
    buckets = Buckets(Rate(1, 600), max_keys=10)
    assert [buckets.warn("a", t) for t in (0.0, 1.0, 599.0, 600.0)] == [True, False, False, True]


def test_keys_are_independent() -> None:
    """One phone's burst does not take another's tokens."""
    buckets = Buckets(Rate(1, 600), max_keys=10)
    assert buckets.take("a", 0.0) and not buckets.take("a", 0.0)
    assert buckets.take("b", 0.0)


def test_the_table_never_holds_more_than_max_keys() -> None:
    """A flood of distinct senders keeps at most max_keys buckets (the least recently seen go)."""
    buckets = Buckets(Rate(5, 600), max_keys=100)
    for i in range(10_000):
        buckets.take(f"8491{i:07d}", 0.0)
    assert len(buckets) == 100


def test_idle_keys_are_forgotten() -> None:
    """A key whose bucket is full again is dropped: it would be treated as new anyway."""
    buckets = Buckets(Rate(5, 600), max_keys=100)
    for i in range(50):
        buckets.take(str(i), 0.0)
    buckets.take("late", 601.0)
    assert len(buckets) == 1


def test_a_rate_needs_a_capacity_and_a_period() -> None:
    """A rate of zero or a non-positive period is a configuration error."""
    with pytest.raises(ValueError, match="capacity"):
        Rate(0, 600)
    with pytest.raises(ValueError, match="capacity"):
        Rate(1, 0)
