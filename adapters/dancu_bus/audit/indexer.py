"""``dancu-bus audit index``: keeps the audit index (``dancu_bus.store.audit_index``) a copy of the topic.

The indexer reads every partition of the audit topic from the offsets stored in the index itself and
writes each fetched batch (records and the offsets reached) in one transaction: a crash
leaves all of a batch or none, and the next start goes on from there. Records are applied in topic
order, so a record superseding another of the same exchange (a late answer replacing UNANSWERED)
replaces its row, as compaction does in the topic. A record nobody can decode is skipped and counted:
the topic is the authority, the index only a view of it. A tombstone is skipped too, and logged as an
error: the audit consumer writes none and ``audit verify`` reports one as a deletion, so the index keeps
the row it would delete, the evidence of the exchange. Each time it has caught up, the indexer
deletes the rows older than the audit topic's retention.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dancu_bus.codec import Codec
from dancu_bus.errors import BrokerError, CodecError, StoreError
from dancu_bus.settings import Settings
from dancu_bus.store.audit_index import AuditIndexBackend, IndexBatch, Indexed, expiry_cutoff, index_backend
from dancu_bus.text import quoted
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport.records import Incoming
from dancu_bus.transport.resumed import TopicReader, topic_reader

__all__ = ["IndexOptions", "IndexProgress", "changes_of", "run_index"]

log = logging.getLogger(__name__)

Change = tuple[str, Indexed]
# How often a following indexer asks the broker whether it has caught up (and may expire rows).
_CHECK_END_S = 5.0
_RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class IndexOptions:
    """How one run of the indexer goes."""

    rebuild: bool = False  # empty the index first and read the topic from its beginning
    once: bool = False  # catch up to the end as it is at the start, then return
    retention: timedelta | None = None  # rows older than this are deleted each time it has caught up
    timeout_s: float = 300.0  # --once: how long catching up may take


@dataclass(slots=True)
class IndexProgress:
    """What a run did so far."""

    indexed: int = 0  # records written (a superseding record counts again)
    skipped: int = 0  # records that could not be decoded, were not the audit consumer's, or tombstones
    expired: int = 0  # rows deleted past retention
    caught_up_at: float | None = None  # wall-clock seconds of the last time it was at the end


def changes_of(records: Sequence[Incoming], codec: Codec) -> tuple[list[Change], int]:
    """What fetched records change in the index, in order, and how many were skipped."""
    changes: list[Change] = []
    skipped = 0
    for record in records:
        change = _change(record, codec)
        if change is None:
            skipped += 1
        else:
            changes.append(change)
    return changes, skipped


def _change(record: Incoming, codec: Codec) -> Change | None:
    """A record's change: its exchange id and row; None when it is skipped (a tombstone among them)."""
    if record.unreadable is not None or record.key is None:
        return None
    try:
        key = record.key.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if record.value is None:
        log.error("audit index: tombstone for %s: kept; the audit writes none", quoted(key))
        return None
    try:
        audit = codec.decode_audit(record.value)
    except CodecError:
        return None
    # The audit consumer keys every record by its exchange id: any other key is not its record.
    if audit.exchange_id != key:
        return None
    return key, Indexed(audit, record.partition, record.offset)


async def run_index(
    settings: Settings, codec: Codec, options: IndexOptions, stop: asyncio.Event | None = None
) -> IndexProgress:
    """Bring the audit index up to the topic; with ``once`` return then, else follow until ``stop``."""
    topic = TopicNames(settings.kafka.topic_prefix).audit
    progress = IndexProgress()
    async with index_backend(settings.audit_index, create=True) as index:
        if options.rebuild:
            await index.reset()
        async with topic_reader(settings.kafka, topic) as reader:
            await reader.start_at(await index.positions(topic))
            indexer = _Indexer(reader, index, codec, progress)
            if options.once:
                await indexer.catch_up(await reader.ends(), options.timeout_s)
                await indexer.expire(options.retention)
            else:
                await indexer.follow(options.retention, stop or asyncio.Event())
    return progress


class _Indexer:
    """One reader feeding one index."""

    def __init__(self, reader: TopicReader, index: AuditIndexBackend, codec: Codec, progress: IndexProgress):
        self._reader = reader
        self._index = index
        self._codec = codec
        self._progress = progress
        self._positions: dict[int, int] = {}

    async def catch_up(self, ends: dict[int, int], timeout_s: float) -> None:
        """Apply batches until every partition is read to ``ends``; BrokerError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while any(self._positions.get(p, -1) < end for p, end in ends.items()):
            if time.monotonic() > deadline:
                raise BrokerError(f"could not read {self._reader.topic} to its end within {timeout_s:g} s")
            await self.step()
        self._progress.caught_up_at = time.time()

    async def follow(self, retention: timedelta | None, stop: asyncio.Event) -> None:
        """Apply batches until ``stop``; expire rows each time the reader is found at the end."""
        checked = 0.0
        while not stop.is_set():
            try:
                await self.step()
                if time.monotonic() - checked >= _CHECK_END_S:
                    checked = time.monotonic()
                    await self._expire_when_caught_up(retention)
            except (BrokerError, StoreError) as exc:
                if not exc.retriable:
                    raise
                log.warning("audit index: %s; trying again", exc)
                await asyncio.sleep(_RETRY_S)

    async def _expire_when_caught_up(self, retention: timedelta | None) -> None:
        ends = await self._reader.ends()
        if all(self._positions.get(p, -1) >= end for p, end in ends.items()):
            first = self._progress.caught_up_at is None
            self._progress.caught_up_at = time.time()
            expired = await self.expire(retention)
            if first or expired:
                log.info(
                    "audit index caught up: %d records indexed, %d skipped, %d expired",
                    self._progress.indexed, self._progress.skipped, expired,
                )  # fmt: skip

    async def step(self) -> None:
        """Fetch one batch and write it with the positions reached (the same batch again if writing fails)."""
        records, positions = await self._reader.fetch()
        if not records and positions == self._positions:
            return
        changes, skipped = changes_of(records, self._codec)
        if skipped:
            log.warning(
                "audit index: skipped %d records of %s that are no audit records", skipped, self._reader.topic
            )
        await self._write(IndexBatch(self._reader.topic, changes, positions))
        self._positions = positions
        self._progress.skipped += skipped
        self._progress.indexed += len(changes)

    async def _write(self, batch: IndexBatch) -> None:
        while True:
            try:
                await self._index.apply(batch)
                return
            except StoreError as exc:
                if not exc.retriable:
                    raise
                log.warning("audit index: %s; writing the batch again", exc)
                await asyncio.sleep(_RETRY_S)

    async def expire(self, retention: timedelta | None) -> int:
        """Delete the rows past retention; how many."""
        cutoff = expiry_cutoff(datetime.now(UTC), retention)
        expired = 0 if cutoff is None else await self._index.expire(cutoff)
        self._progress.expired += expired
        return expired
