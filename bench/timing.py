"""What one measured run gives, percentiles of it, and pacing at a fixed rate."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["Outcome", "paced", "percentile"]

T = TypeVar("T")


@dataclass
class Outcome:
    """N round trips: how long they took together and each one's latency in milliseconds."""

    n: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        """Round trips per second over the whole run."""
        return self.n / self.seconds if self.seconds > 0 else 0.0

    def ms(self, q: float) -> float:
        """The ``q``-th percentile (0–100) of the latencies."""
        return percentile(self.latencies_ms, q)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def paced(items: Iterable[T], rate: float | None) -> Iterator[T]:
    """The items, at ``rate`` per second on a fixed schedule (late ones catch up), or at once if None."""
    if rate is None:
        yield from items
        return
    start = time.perf_counter()
    for index, item in enumerate(items):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield item
