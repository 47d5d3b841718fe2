"""When a row of the index is past the audit topic's retention (``dancu_bus.topics.time_retention``). Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["expiry_cutoff"]


def expiry_cutoff(now: datetime, retention: timedelta | None) -> datetime | None:
    """Records received before this are past retention; None when nothing ever is."""
    return None if retention is None else now - retention
