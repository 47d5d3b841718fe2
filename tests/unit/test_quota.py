"""The per-agency token bucket and daily ceiling."""

from __future__ import annotations

from datetime import date

from dancu_bus.agencies import Quota
from dancu_bus.resolver.quota import QuotaBook

DAY = date(2026, 11, 27)


def test_burst_up_to_one_second_then_refill() -> None:
    """A full bucket allows per_second requests at once, then refills at per_second."""
    book, quota = QuotaBook(), Quota(per_second=5, per_day=1000)
    assert [book.take("a", quota, 0.0, DAY) for _ in range(6)][-1] == "5 requests per second"
    assert book.take("a", quota, 0.2, DAY) is None  # 0.2 s × 5/s = one token back
    assert book.take("a", quota, 0.2, DAY) is not None


def test_daily_ceiling_and_reset() -> None:
    """The daily ceiling stops an agency until the next day."""
    book, quota = QuotaBook(), Quota(per_second=100, per_day=3)
    assert [book.take("a", quota, float(i), DAY) for i in range(4)][-1] == "3 requests per day"
    assert book.take("a", quota, 10.0, date(2026, 11, 28)) is None


def test_agencies_have_separate_buckets() -> None:
    """One agency's flood does not spend another's quota."""
    book, quota = QuotaBook(), Quota(per_second=1, per_day=10)
    assert book.take("a", quota, 0.0, DAY) is None
    assert book.take("a", quota, 0.0, DAY) is not None
    assert book.take("b", quota, 0.0, DAY) is None
