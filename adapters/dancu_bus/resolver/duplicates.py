"""Duplicate request ids: one agency sending the same id twice while the first is still valid. Pure.

Every request record gets exactly one response. A second record with a request id the same agency
already used, seen while the first request is still valid (until its ``expires_at``, at most the
window), is answered ``REJECTED``/``DUPLICATE_REQUEST``: the agency's client has its answer from the
first, and the second is refused rather than answered twice. The same record read again (a replay
after a rewind or restart, same partition and offset) is not a duplicate. The window is per
resolver process and starts empty: a duplicate sent across a restart or a rebalance, or after the
first request expired, is answered on its own merits (an expired one is ``EXPIRED`` anyway).
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta

__all__ = ["DuplicateWindow"]


class DuplicateWindow:
    """Remembers each agency's request ids while they are valid, at most ``window_s`` and ``capacity``."""

    def __init__(self, window_s: float, capacity: int = 500_000) -> None:
        self._window = timedelta(seconds=window_s)
        self._capacity = capacity
        self._seen: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._expiry: list[tuple[datetime, str, str]] = []

    def first_of(
        self, agency: str, request_id: str, exchange: str, expires_at: datetime, now: datetime
    ) -> str | None:
        """The earlier exchange of a still valid request id of ``agency``, if another; remember this one."""
        self._forget_until(now)
        key = (agency, request_id)
        earlier = self._seen.get(key)
        if earlier is not None:
            return earlier[0] if earlier[0] != exchange else None
        forget_at = min(expires_at, now + self._window)
        if forget_at > now:
            self._seen[key] = (exchange, forget_at)
            heapq.heappush(self._expiry, (forget_at, agency, request_id))
        return None

    def __len__(self) -> int:
        """How many request ids are remembered."""
        return len(self._seen)

    def _forget_until(self, now: datetime) -> None:
        while self._expiry and (self._expiry[0][0] <= now or len(self._expiry) > self._capacity):
            forget_at, agency, request_id = heapq.heappop(self._expiry)
            entry = self._seen.get((agency, request_id))
            if entry is not None and entry[1] == forget_at:
                del self._seen[agency, request_id]
