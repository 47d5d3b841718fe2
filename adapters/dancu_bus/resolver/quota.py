"""Per-agency quotas: a token bucket per second and a ceiling per day. Pure apart from its own state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dancu_bus.agencies import Quota

__all__ = ["QuotaBook"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    refilled_at: float
    day: date
    used_today: int


class QuotaBook:
    """Remembers each agency's bucket; ``take`` spends one request or says which limit stops it."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def take(self, agency_id: str, quota: Quota, now_s: float, today: date) -> str | None:
        """None if the request may go, else which limit it exceeds (with the limit's value)."""
        return self.take_many(agency_id, quota, now_s, today, 1)[1]

    def take_many(
        self, agency_id: str, quota: Quota, now_s: float, today: date, count: int
    ) -> tuple[int, str | None]:
        """How many of ``count`` requests may go (the first ones), and which limit stops the rest."""
        bucket = self._refilled(agency_id, quota, now_s, today)
        by_day = quota.per_day - bucket.used_today
        by_second = int(bucket.tokens)
        granted = max(0, min(count, by_day, by_second))
        bucket.tokens -= granted
        bucket.used_today += granted
        if granted == count:
            return granted, None
        if by_day <= by_second:
            return granted, f"{quota.per_day} requests per day"
        return granted, f"{quota.per_second:g} requests per second"

    def used_on(self, agency_id: str, today: date) -> int:
        """What ``agency_id`` spent of its daily quota on ``today`` (0 when it spent nothing yet)."""
        bucket = self._buckets.get(agency_id)
        return bucket.used_today if bucket is not None and bucket.day == today else 0

    def _refilled(self, agency_id: str, quota: Quota, now_s: float, today: date) -> _Bucket:
        bucket = self._buckets.get(agency_id)
        if bucket is None:
            # A new bucket starts full: one second's worth of burst.
            bucket = self._buckets[agency_id] = _Bucket(quota.per_second, now_s, today, 0)
        elapsed = max(0.0, now_s - bucket.refilled_at)
        bucket.tokens = min(quota.per_second, bucket.tokens + elapsed * quota.per_second)
        bucket.refilled_at = now_s
        if bucket.day != today:
            bucket.day, bucket.used_today = today, 0
        return bucket
