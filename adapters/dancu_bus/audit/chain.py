"""The audit topic's hash chain: where a record goes, what its hash covers, how it is sealed. Pure.

A record's hash is the hex SHA-256 of ``b"dancu-bus audit v2\\n"`` followed by the canonical JSON of
every field of the record except ``hash`` itself (and ``criteria`` when empty; ``trace_id``, ``fee``,
``hidden_until`` and ``hiding_legal_basis`` when null),
``prev_exchange_id`` and ``prev_hash`` included:
keys sorted, no spaces, UTF-8 (not ASCII-escaped), timestamps as integer milliseconds since the
epoch (what the Avro ``timestamp-millis`` long holds), the disclosed field names as a list. An
inspector can recompute it from the Avro record alone, in any language.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dancu_bus.contracts import AuditRecord

__all__ = [
    "GENESIS",
    "START",
    "ChainHead",
    "audit_partition",
    "canonical_content",
    "head_of",
    "is_intact",
    "record_hash",
    "seal",
]

GENESIS = "0" * 64
_DOMAIN = b"dancu-bus audit v2\n"
# Fields added after the v2 hash was defined: covered only when set (criteria not empty, the others not
# null), so records written before them keep their hashes. A fee of 0 is set: SELF is free, and says so.
_ADDED_LATER = frozenset({"criteria", "trace_id", "fee", "hidden_until", "hiding_legal_basis"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """What the next record of a partition chains from: the last record's exchange id (its key) and hash."""

    exchange_id: str | None
    hash: str


START = ChainHead(None, GENESIS)


def audit_partition(agency: str, partitions: int) -> int:
    """The audit partition of every exchange of ``agency``, the same in every process and release."""
    # Python's hash() is salted per process; the placement must outlive processes, so it is SHA-256.
    digest = hashlib.sha256(agency.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % partitions


def canonical_content(record: AuditRecord) -> bytes:
    """The bytes a record's hash covers after the domain tag: JSON of every field but ``hash``."""
    content = {
        field.name: _plain(getattr(record, field.name))
        for field in dataclasses.fields(record)
        if field.name != "hash" and not _unset(field.name, getattr(record, field.name))
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _unset(name: str, value: object) -> bool:
    """Whether ``value`` of field ``name`` is the unset value of a field added after the v2 hash."""
    return name in _ADDED_LATER and (value is None or (name == "criteria" and not value))


def record_hash(record: AuditRecord) -> str:
    """The hash ``record`` should carry, computed from its other fields."""
    return hashlib.sha256(_DOMAIN + canonical_content(record)).hexdigest()


def seal(record: AuditRecord, head: ChainHead) -> AuditRecord:
    """``record`` as the link after ``head``, with its timestamps cut to what the wire keeps."""
    # The hash covers milliseconds either way; cutting here makes the sealed record equal its decoding.
    linked = dataclasses.replace(
        record,
        received_at=_whole_milliseconds(record.received_at),
        answered_at=_whole_milliseconds(record.answered_at),
        hidden_until=None if record.hidden_until is None else _whole_milliseconds(record.hidden_until),
        prev_exchange_id=head.exchange_id,
        prev_hash=head.hash,
        hash="",
    )
    return dataclasses.replace(linked, hash=record_hash(linked))


def head_of(record: AuditRecord) -> ChainHead:
    """The head a partition has once ``record`` is its last link."""
    return ChainHead(record.exchange_id, record.hash)


def is_intact(record: AuditRecord) -> bool:
    """Whether the record's fields still hash to the hash it carries."""
    return record.hash == record_hash(record)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return _milliseconds(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _milliseconds(value: datetime) -> int:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    # Integer floor division, as the Avro writer does: float seconds would round differently.
    return (aware - _EPOCH) // _MILLISECOND


def _whole_milliseconds(value: datetime) -> datetime:
    return _EPOCH + _milliseconds(value) * _MILLISECOND
