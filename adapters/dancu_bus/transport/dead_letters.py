"""Dead-letter records: an unusable record's origin, the reason, and its bytes within bounds.

A dead letter must always fit the broker, whatever the record it describes: its value is kept up to
64 KiB, its key up to 1 KiB, its headers only when small, and the whole value is identified by its
length and SHA-256 (an operator replays from the original topic while it is retained).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from dancu_bus.contracts import DeadLetter
from dancu_bus.timestamps import from_epoch_ms
from dancu_bus.transport.records import Incoming

__all__ = ["KEPT_KEY_BYTES", "KEPT_VALUE_BYTES", "dead_letter"]

KEPT_VALUE_BYTES = 64 * 1024
KEPT_KEY_BYTES = 1024
_KEPT_HEADER_BYTES = 256  # key and value of one header
_KEPT_HEADERS = 16
_KEPT_DETAIL = 2000


def dead_letter(record: Incoming, code: str, detail: str, failed_by: str) -> DeadLetter:
    """The dead letter of ``record`` (or of the batch it stands in for), which ``failed_by`` could not use."""
    value, unreadable = record.value, record.unreadable
    first, last = (unreadable.first_offset, unreadable.last_offset) if unreadable else (record.offset,) * 2
    kept = [(k, v) for k, v in record.headers if _small(k, v)][:_KEPT_HEADERS]
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=first,
        last_offset=last,
        timestamp=from_epoch_ms(record.timestamp_ms),
        original_key=None if record.key is None else record.key[:KEPT_KEY_BYTES],
        original_value=None if value is None else value[:KEPT_VALUE_BYTES],
        value_size=-1 if value is None else len(value),
        value_sha256=None if value is None else hashlib.sha256(value).hexdigest(),
        headers=tuple(kept),
        headers_dropped=len(record.headers) - len(kept),
        error_code=code,
        error=detail[:_KEPT_DETAIL],
        failed_by=failed_by,
        failed_at=datetime.now(UTC),
    )


def _small(key: str, value: bytes | None) -> bool:
    return len(key.encode("utf-8", errors="surrogatepass")) + len(value or b"") <= _KEPT_HEADER_BYTES
