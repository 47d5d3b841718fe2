"""Record timestamps as datetimes, whatever number a producer put there. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

__all__ = ["VIETNAM", "aware", "from_epoch_ms", "to_epoch_ms"]

VIETNAM = timezone(timedelta(hours=7))
"""Vietnam time (UTC+7, no daylight saving): the days of quotas, reports and the dates people type."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
# A producer sets a CreateTime timestamp freely; beyond these a datetime cannot hold it.
_EARLIEST_MS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _MILLISECOND
_LATEST_MS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MILLISECOND


def aware(moment: datetime) -> datetime:
    """``moment`` as an aware datetime: a naive one (as Avro readers give) is taken to be UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def from_epoch_ms(timestamp_ms: int) -> datetime:
    """Milliseconds since the epoch as an aware UTC datetime, clamped to what a datetime can hold."""
    return _EPOCH + timedelta(milliseconds=min(max(timestamp_ms, _EARLIEST_MS), _LATEST_MS))


def to_epoch_ms(moment: datetime) -> int:
    """An aware datetime as whole milliseconds since the epoch."""
    return (moment - _EPOCH) // _MILLISECOND
