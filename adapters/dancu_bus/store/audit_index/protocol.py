"""The seams of the audit index: what readers ask (``AuditIndex``), and what the indexer writes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from dancu_bus.contracts import AuditRecord
from dancu_bus.store.audit_index.query import AuditPage, AuditQuery
from dancu_bus.store.audit_index.rows import IndexBatch

__all__ = ["PAGE", "AuditIndex", "AuditIndexBackend", "every_record"]

# How many records ``records`` reads at a time.
PAGE = 1000


class AuditIndex(Protocol):
    """A queryable copy of the audit topic, in (received_at, exchange_id) order."""

    async def query(self, q: AuditQuery, *, limit: int = 100, cursor: str | None = None) -> AuditPage:
        """One page of the records ``q`` matches, after ``cursor``; ConfigError for a malformed cursor."""

    def records(self, q: AuditQuery) -> AsyncIterator[AuditRecord]:
        """Every record ``q`` matches, paging internally."""

    async def count(self, q: AuditQuery) -> int:
        """How many records ``q`` matches."""


class AuditIndexBackend(AuditIndex, Protocol):
    """An audit index as its indexer opens it; backends only translate these calls to their database."""

    async def __aenter__(self) -> Self:
        """Connect; nothing connects before this."""

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the connections."""

    async def positions(self, topic: str) -> dict[int, int]:
        """The next offset to read of each partition of ``topic`` indexed so far.

        ConfigError when the index was filled from another topic: it must be rebuilt.
        """

    async def apply(self, batch: IndexBatch) -> None:
        """Write the batch's records, delete its tombstoned ids, store its positions: one transaction."""

    async def expire(self, before: datetime) -> int:
        """Delete the records received before ``before``; how many were deleted."""

    async def reset(self) -> None:
        """Drop every record and position, leaving an empty index."""


async def every_record(index: AuditIndex, q: AuditQuery, page: int = PAGE) -> AsyncIterator[AuditRecord]:
    """Every record ``q`` matches in ``index``, page after page."""
    cursor: str | None = None
    while True:
        found = await index.query(q, limit=page, cursor=cursor)
        for record in found.records:
            yield record
        if found.next_cursor is None:
            return
        cursor = found.next_cursor
