"""Dead-letter records: the original bytes of an unusable record, its origin and the reason."""

from __future__ import annotations

from datetime import UTC, datetime

from dancu_bus.contracts import DeadLetter
from dancu_bus.transport.records import Incoming

__all__ = ["dead_letter"]


def dead_letter(record: Incoming, code: str, detail: str, failed_by: str) -> DeadLetter:
    """The dead letter of ``record``, which ``failed_by`` could not use for reason ``code``."""
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=datetime.fromtimestamp(record.timestamp_ms / 1000, UTC),
        original_key=record.key,
        original_value=record.value,
        headers=record.headers,
        error_code=code,
        error=detail[:2000],
        failed_by=failed_by,
        failed_at=datetime.now(UTC),
    )
