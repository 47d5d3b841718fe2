"""Walks the audit topic's hash chains and names the first changed, missing or reordered record. Pure.

Each partition is read in offset order. A record is *changed* when it is not an intact audit record
(undecodable, a tombstone, a key that is not its exchange id, fields that no longer hash to its hash);
*reordered* when it chains from a record that is in the partition but not right before it; *missing*
is reported at the record whose predecessor is gone. Compaction legitimately removes a record once
a newer record with the same key follows it (the same exchange recorded again: its late answer after
an UNANSWERED record), so a predecessor that is gone while its exchange id appears again at or after
the record chaining from it is a compacted link, not a gap. Keys are exchange ids, which no agency
chooses, so compaction can only ever merge records of one exchange.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from dancu_bus.audit.chain import GENESIS, START, ChainHead, head_of, is_intact
from dancu_bus.audit.witness import exchange_ids
from dancu_bus.codec import Codec
from dancu_bus.contracts import AuditRecord, Request
from dancu_bus.errors import CodecError
from dancu_bus.exchanges import exchange_id
from dancu_bus.timestamps import from_epoch_ms

__all__ = [
    "Finding",
    "LoggedRecord",
    "PartitionCheck",
    "Problem",
    "RequestRecord",
    "Unaudited",
    "unaudited",
    "verify_log",
]


class LoggedRecord(Protocol):
    """A record as read back from the audit topic."""

    @property
    def partition(self) -> int:
        """Its partition."""

    @property
    def offset(self) -> int:
        """Its offset in the partition."""

    @property
    def key(self) -> bytes | None:
        """Its key: the exchange id."""

    @property
    def value(self) -> bytes | None:
        """Its value: an encoded AuditRecord."""


class RequestRecord(LoggedRecord, Protocol):
    """A record as read back from an agency's request topic."""

    @property
    def topic(self) -> str:
        """The request topic."""

    @property
    def timestamp_ms(self) -> int:
        """Its timestamp (the broker's on request topics)."""


@dataclass(frozen=True, slots=True)
class Unaudited:
    """A request record the audit has no record of: which exchange, where it is, when it came."""

    exchange_id: str
    topic: str
    partition: int
    offset: int
    received_at: datetime


class Problem(StrEnum):
    """What is wrong with a record of the chain."""

    CHANGED = "CHANGED"
    MISSING = "MISSING"
    REORDERED = "REORDERED"


@dataclass(frozen=True, slots=True)
class Finding:
    """The first thing wrong in a partition: where, which exchange, what."""

    partition: int
    offset: int
    exchange_id: str | None
    problem: Problem
    detail: str


@dataclass(frozen=True, slots=True)
class PartitionCheck:
    """One partition's result: its record count, its last verified link, and its first finding."""

    partition: int
    records: int
    head: ChainHead
    finding: Finding | None


def verify_log(
    records: Iterable[LoggedRecord],
    codec: Codec,
    *,
    expired_head_ok: bool = False,
    superseded: Collection[str] = frozenset(),
) -> list[PartitionCheck]:
    """Check every partition's chain; ``expired_head_ok`` accepts that retention cut the oldest records.

    ``superseded``: exchange ids recorded again after the records given (an archive's, ``audit.archive``),
    so a link to a vanished record of one of them is compaction's too.
    """
    partitions: defaultdict[int, list[LoggedRecord]] = defaultdict(list)
    for record in records:
        partitions[record.partition].append(record)
    return [
        _Partition(number, sorted(found, key=lambda r: r.offset), codec, superseded).verify(expired_head_ok)
        for number, found in sorted(partitions.items())
    ]


class _Partition:
    """One partition's records, decoded, with what a link check looks up."""

    def __init__(
        self, number: int, records: Sequence[LoggedRecord], codec: Codec, superseded: Collection[str]
    ) -> None:
        self.number = number
        self.superseded = superseded
        self.records = records
        self.decoded = [_decode(record, codec) for record in records]
        self.offset_of_hash: dict[str, int] = {}
        self.last_offset_of_key: dict[str, int] = {}
        for record, audit in zip(records, self.decoded, strict=True):
            if isinstance(audit, AuditRecord):
                self.offset_of_hash.setdefault(audit.hash, record.offset)
                self.last_offset_of_key[audit.exchange_id] = record.offset

    def verify(self, expired_head_ok: bool) -> PartitionCheck:
        """The partition's check, stopping at its first finding."""
        head, before = START, None
        for record, audit in zip(self.records, self.decoded, strict=True):
            if isinstance(audit, str):
                return self._result(head, self._finding(record, None, Problem.CHANGED, audit))
            finding = self._content(record, audit) or self._link(record, audit, head, before, expired_head_ok)
            if finding is not None:
                return self._result(head, finding)
            head, before = head_of(audit), record
        return self._result(head, None)

    def _result(self, head: ChainHead, finding: Finding | None) -> PartitionCheck:
        return PartitionCheck(self.number, len(self.records), head, finding)

    def _finding(
        self, record: LoggedRecord, audit: AuditRecord | None, problem: Problem, detail: str
    ) -> Finding:
        exchange = audit.exchange_id if audit is not None else _key_text(record.key)
        return Finding(self.number, record.offset, exchange, problem, detail)

    def _content(self, record: LoggedRecord, audit: AuditRecord) -> Finding | None:
        if record.key != audit.exchange_id.encode("utf-8"):
            detail = f"its key {_key_text(record.key)!r} is not its exchange id"
            return self._finding(record, audit, Problem.CHANGED, detail)
        if not is_intact(audit):
            return self._finding(record, audit, Problem.CHANGED, "its fields no longer match its hash")
        return None

    def _link(
        self,
        record: LoggedRecord,
        audit: AuditRecord,
        head: ChainHead,
        before: LoggedRecord | None,
        expired_head_ok: bool,
    ) -> Finding | None:
        if audit.prev_hash == head.hash:
            return None
        source = self.offset_of_hash.get(audit.prev_hash)
        if source is not None or audit.prev_hash == GENESIS:
            chained = "the start of a chain" if source is None else f"the record at offset {source}"
            detail = f"it chains from {chained}, but follows {_place(before)}"
            return self._finding(record, audit, Problem.REORDERED, detail)
        if self._compacted(record, audit) or (before is None and expired_head_ok):
            return None
        if before is not None and audit.prev_exchange_id == head.exchange_id:
            detail = f"the record after it (offset {record.offset}) chains from another version of it"
            return Finding(self.number, before.offset, head.exchange_id, Problem.CHANGED, detail)
        gone = f"the record it chains from (exchange {audit.prev_exchange_id}) is gone"
        return self._finding(record, audit, Problem.MISSING, f"{gone}; it follows {_place(before)}")

    def _compacted(self, record: LoggedRecord, audit: AuditRecord) -> bool:
        # The predecessor may be gone only because a newer record with its key superseded it.
        previous = audit.prev_exchange_id
        if previous is None:
            return False
        return previous in self.superseded or self.last_offset_of_key.get(previous, -1) >= record.offset


def _decode(record: LoggedRecord, codec: Codec) -> AuditRecord | str:
    """The audit record, or why the bytes are not one."""
    if record.value is None:
        return "a tombstone: a deletion of this exchange's audit record"
    try:
        return codec.decode_audit(record.value)
    except CodecError as exc:
        return f"not an audit record ({exc.code})"


def _place(before: LoggedRecord | None) -> str:
    return "the start of the partition" if before is None else f"the record at offset {before.offset}"


def _key_text(key: bytes | None) -> str | None:
    return None if key is None else key.decode("utf-8", errors="replace")


def unaudited(
    requests: Iterable[RequestRecord], audited: Collection[str], codec: Codec, before: datetime
) -> list[Unaudited]:
    """Decodable request records that arrived before ``before`` and whose exchange id is not ``audited``.

    Every decodable request record is an exchange and must have its audit record; undecodable ones are
    dead letters. Records newer than ``before`` may still be waiting for their answer in the audit.
    """
    missing: list[Unaudited] = []
    for record in requests:
        exchange = exchange_id(record.topic, record.partition, record.offset, record.timestamp_ms)
        received_at = from_epoch_ms(record.timestamp_ms)
        request = _decoded(record, codec) if received_at < before else None
        if request is None:
            continue
        # A request of several items is an exchange per item (``witness.exchange_ids``): each needs a record.
        missing.extend(
            Unaudited(e, record.topic, record.partition, record.offset, received_at)
            for e in exchange_ids(exchange, request)
            if e not in audited
        )
    return missing


def _decoded(record: LoggedRecord, codec: Codec) -> Request | None:
    try:
        return codec.decode_request(record.value)
    except CodecError:
        return None
