"""Consumer lag in records and in seconds, computed as kafka-lag-exporter does; pure.

Lag in records is a partition's last stable offset minus the group's committed offset. Lag in seconds
needs a time for an offset: each poll records (latest offset, poll time) per partition in a bounded
table, and the time at which the committed offset was the latest one is interpolated between the two
points around it (extrapolated from the two oldest when it is older than the table). The clock is the
monitor's own, never a record's timestamp, which a producer (an agency) may set to anything.

A tail of only transaction markers or aborted records is nothing to read, yet it counts as lag in
records: such a partition is reported with no lag once a read from the committed offset found no
record (``Partition.nothing_visible``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field

__all__ = ["MAX_POINTS", "Partition", "PartitionLag", "group_lag"]

MAX_POINTS = 60
"""Points kept per partition: at a 15 s poll, 15 minutes of history at full resolution."""


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """One partition's lag for one group."""

    records: int
    seconds: float


@dataclass(slots=True)
class Partition:
    """What the monitor remembers of one partition: its (latest offset, time) points, oldest first."""

    points: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=MAX_POINTS))
    # The (committed, latest) pair a read found nothing visible between, until either moves.
    nothing_visible: tuple[int, int] | None = None

    def observe(self, latest: int, now: float) -> None:
        """The partition's latest offset at ``now``; a point is added only when the offset moved."""
        if self.points and self.points[-1][0] == latest:
            return
        if self.points and latest < self.points[-1][0]:
            self.points.clear()  # the topic was recreated or truncated: earlier points mean nothing now
        self.points.append((latest, now))

    def time_of(self, offset: int) -> float | None:
        """When ``offset`` was (or is estimated to have been) the latest offset; None without points."""
        points = self.points
        if not points:
            return None
        offsets = [o for o, _ in points]
        i = bisect_right(offsets, offset)
        if i == len(points):
            return points[-1][1]
        if i == 0:
            if len(points) == 1:
                return points[0][1]
            (o0, t0), (o1, t1) = points[0], points[1]
        else:
            (o0, t0), (o1, t1) = points[i - 1], points[i]
        # Offsets from o0 until o1 became latest between t0 and t1: linear in between, and before o0
        # at the same rate as between the two oldest points.
        return t0 + (offset - o0) * (t1 - t0) / (o1 - o0)

    def lag(self, committed: int, latest: int, now: float) -> PartitionLag:
        """The lag of a group at ``committed`` when the partition's latest offset is ``latest``."""
        records = max(0, latest - committed)
        if records == 0 or self.nothing_visible == (committed, latest):
            return PartitionLag(0, 0.0)
        produced = self.time_of(committed)
        seconds = 0.0 if produced is None else max(0.0, now - produced)
        return PartitionLag(records, seconds)


def group_lag(
    table: dict[tuple[str, int], Partition],
    committed: dict[tuple[str, int], int],
    latest: dict[tuple[str, int], int],
    now: float,
) -> dict[tuple[str, int], PartitionLag]:
    """The lag of every partition in ``latest`` (a partition without a commit is read from ``committed``'s
    default, which the caller sets to its earliest offset); ``table`` learns this poll's latest offsets."""
    lags: dict[tuple[str, int], PartitionLag] = {}
    for tp, end in latest.items():
        partition = table.setdefault(tp, Partition())
        partition.observe(end, now)
        lags[tp] = partition.lag(committed.get(tp, end), end, now)
    for gone in set(table) - set(latest):
        del table[gone]
    return lags
