"""Token buckets per key (a phone, a personal id), in bounded memory. Pure: the caller gives the time.

A bucket holds ``capacity`` tokens and gains them back at ``capacity`` per ``period_s``; a request
takes one, or is refused when none is left (a refusal takes nothing). A key whose bucket would be
full again by now is as if never seen, so it is forgotten; and the table never holds more than
``max_keys`` keys (the least recently seen go first), whatever number of senders a flood invents.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["Buckets", "Rate"]


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``capacity`` requests per ``period_s`` seconds, in a burst or spread."""

    capacity: int
    period_s: float

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.period_s <= 0:
            raise ValueError("a rate needs a capacity of at least 1 and a positive period")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # when ``tokens`` was counted
    warned_until: float = float("-inf")  # a "try later" reply was sent; none again before this


class Buckets:
    """The buckets of one kind of key, at one rate."""

    def __init__(self, rate: Rate, max_keys: int) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.rate = rate
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, now: float) -> bool:
        """Whether ``key`` may make a request at ``now``; if so, one token is taken."""
        bucket = self._bucket(key, now)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def warn(self, key: str, now: float) -> bool:
        """Whether to tell ``key`` to try later: once per period, from its first refusal."""
        bucket = self._bucket(key, now)
        if now < bucket.warned_until:
            return False
        bucket.warned_until = now + self.rate.period_s
        return True

    def _bucket(self, key: str, now: float) -> _Bucket:
        self._forget_idle(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.rate.capacity), now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            self._refill(bucket, now)
        return bucket

    def _refill(self, bucket: _Bucket, now: float) -> None:
        gained = max(0.0, now - bucket.at) * self.rate.capacity / self.rate.period_s
        bucket.tokens = min(float(self.rate.capacity), bucket.tokens + gained)
        bucket.at = now

    def _forget_idle(self, now: float) -> None:
        """Drop the least recently seen keys whose bucket is full again and whose warning has lapsed."""
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if now - oldest.at < self.rate.period_s or now < oldest.warned_until:
                return
            del self._buckets[key]
