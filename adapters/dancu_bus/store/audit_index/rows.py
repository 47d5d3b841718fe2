"""Audit records as rows of the index, and the SQL both backends share (they differ in placeholders). Pure.

Every text of a record is stored as data through parameters, never spliced into SQL. A text that a
database could not hold as it is (NUL, which PostgreSQL refuses; a lone surrogate, which UTF-8 cannot
encode) is stored escaped, behind a marker, and comes back exactly: the index keeps what the topic holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dancu_bus.contracts import AuditRecord
from dancu_bus.errors import ConfigError
from dancu_bus.reasons import HIDING_REFUSALS
from dancu_bus.store.audit_index.query import After, AuditPage, AuditQuery, encode_cursor
from dancu_bus.timestamps import from_epoch_ms, to_epoch_ms

__all__ = [
    "COLUMNS",
    "INDEXES",
    "IndexBatch",
    "Indexed",
    "Placeholder",
    "from_row",
    "last_of_each",
    "outdated",
    "page",
    "positions_of",
    "restored",
    "select",
    "stored",
    "to_row",
    "where",
]

Placeholder = Callable[[int], str]
"""The SQL placeholder of the n-th parameter (from 1): ``?`` for SQLite, ``$n`` for PostgreSQL."""

COLUMNS = (
    "exchange_id",
    "received_ms",
    "agency",
    "personal_id",
    "purpose_code",
    "operation",
    "status",
    "reason_code",
    "request_id",
    "claimed_agency",
    "officer_id",
    "case_no",
    "legal_basis",
    "fields_disclosed",
    "answered_ms",
    "request_topic",
    "request_partition",
    "request_offset",
    "prev_exchange_id",
    "prev_hash",
    "hash",
    "criteria",
    "trace_id",
    "audit_partition",
    "audit_offset",
    "fee",
    "hidden_ms",
    "hiding_legal_basis",
)
# What inspectors filter by, each with the page order after it so a filtered page is one index range.
INDEXES = {
    "audit_by_time": "received_ms, exchange_id",
    "audit_by_agency": "agency, received_ms, exchange_id",
    "audit_by_person": "personal_id, received_ms, exchange_id",
    "audit_by_purpose": "purpose_code, received_ms, exchange_id",
    "audit_by_operation": "operation, received_ms, exchange_id",
    "audit_by_outcome": "status, reason_code, received_ms, exchange_id",
}
_ESCAPED = "\ufffe"  # a noncharacter: no text an agency sends starts with it, and one that did is escaped too
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Indexed:
    """An audit record and where it stands in the audit topic."""

    record: AuditRecord
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class IndexBatch:
    """What one pass over fetched records changes, written in one transaction with the positions reached.

    ``changes`` are in topic order: an exchange id's record, or None for a tombstone of its key; the
    last one of an id wins. ``positions`` are the next offsets to read, by partition of ``topic``.
    """

    topic: str
    changes: Sequence[tuple[str, Indexed | None]]
    positions: Mapping[int, int]


def last_of_each(changes: Sequence[tuple[str, Indexed | None]]) -> tuple[list[Indexed], list[str]]:
    """The records to write and the exchange ids to delete: each id's last change only."""
    last = dict(changes)
    return [i for i in last.values() if i is not None], [e for e, i in last.items() if i is None]


def positions_of(rows: Sequence[Any], topic: str, where: str, setting: str) -> dict[int, int]:
    """The next offset of each partition from (topic, partition, next_offset) rows.

    ConfigError when the rows hold another topic's: the index ``where`` was filled from another topic
    (another prefix), and must be rebuilt, or ``setting`` pointed at the index of this one.
    """
    other = sorted({str(row[0]) for row in rows if row[0] != topic})
    if other:
        raise ConfigError(
            f"the audit index {where} was filled from {other[0]}, not {topic}:"
            f" rebuild it with `dancu-bus audit index --rebuild` (or set {setting})"
        )
    return {int(row[1]): int(row[2]) for row in rows}


def stored(text: str) -> str:
    """``text`` as the index keeps it: itself, or escaped when a database could not hold it."""
    if text.startswith(_ESCAPED) or _UNSTORABLE.search(text):
        return _ESCAPED + json.dumps(text, ensure_ascii=True)
    return text


def restored(text: str) -> str:
    """The text ``stored`` kept."""
    if text.startswith(_ESCAPED):
        value = json.loads(text[len(_ESCAPED) :])
        return str(value)
    return text


def _optional(text: str | None) -> str | None:
    return None if text is None else stored(text)


def _optional_back(text: str | None) -> str | None:
    return None if text is None else restored(text)


def _names(names: Sequence[str]) -> str:
    return json.dumps(list(names), ensure_ascii=True)


def to_row(indexed: Indexed) -> tuple[object, ...]:
    """The row of ``COLUMNS`` that keeps an audit record and its place in the topic."""
    r = indexed.record
    return (
        stored(r.exchange_id), to_epoch_ms(r.received_at), stored(r.agency), _optional(r.personal_id),
        stored(r.purpose_code), stored(r.operation), stored(r.status), _optional(r.reason_code),
        stored(r.request_id), stored(r.claimed_agency), stored(r.officer_id), stored(r.case_no),
        stored(r.legal_basis), _names(r.fields_disclosed), to_epoch_ms(r.answered_at),
        stored(r.request_topic),
        r.request_partition, r.request_offset, _optional(r.prev_exchange_id), stored(r.prev_hash),
        stored(r.hash), _names(r.criteria), _optional(r.trace_id), indexed.partition, indexed.offset,
        r.fee,
        None if r.hidden_until is None else to_epoch_ms(r.hidden_until), _optional(r.hiding_legal_basis),
    )  # fmt: skip


def from_row(row: Sequence[Any]) -> AuditRecord:
    """The audit record a row of ``COLUMNS`` keeps."""
    return AuditRecord(
        exchange_id=restored(row[0]), received_at=from_epoch_ms(row[1]), agency=restored(row[2]),
        personal_id=_optional_back(row[3]), purpose_code=restored(row[4]), operation=restored(row[5]),
        status=restored(row[6]), reason_code=_optional_back(row[7]), request_id=restored(row[8]),
        claimed_agency=restored(row[9]), officer_id=restored(row[10]), case_no=restored(row[11]),
        legal_basis=restored(row[12]), fields_disclosed=tuple(json.loads(row[13])),
        answered_at=from_epoch_ms(row[14]), request_topic=restored(row[15]), request_partition=row[16],
        request_offset=row[17], prev_exchange_id=_optional_back(row[18]), prev_hash=restored(row[19]),
        hash=restored(row[20]), criteria=tuple(json.loads(row[21])), trace_id=_optional_back(row[22]),
        fee=row[25],
        hidden_until=None if row[26] is None else from_epoch_ms(row[26]),
        hiding_legal_basis=_optional_back(row[27]),
    )  # fmt: skip


def outdated(columns: Iterable[str], where: str) -> str | None:
    """Why an index whose table has ``columns`` cannot be used (an earlier release's), or None.

    The index is rebuilt from the audit topic, not migrated: a column added later asks for ``--rebuild``.
    """
    present = set(columns)
    missing = [c for c in COLUMNS if c not in present]
    if not missing:
        return None
    return (
        f"the audit index {where} was built by an earlier dancu-bus (no column {', '.join(missing)}):"
        " rebuild it from the audit topic with `dancu-bus audit index --rebuild`"
    )


def where(q: AuditQuery, after: After | None, place: Placeholder) -> tuple[str, list[object]]:
    """The WHERE clause (or "") of a query and a page start, and its parameters in order."""
    conditions: list[str] = []
    params: list[object] = []

    def condition(template: str, *values: object) -> None:
        marks = [place(len(params) + i + 1) for i in range(len(values))]
        params.extend(values)
        conditions.append(template.format(*marks))

    for column, value in _equalities(q):
        if value is not None:
            condition(f"{column} = {{}}", stored(value))
    if q.start is not None:
        condition("received_ms >= {}", to_epoch_ms(q.start))
    if q.end is not None:
        condition("received_ms < {}", to_epoch_ms(q.end))
    if q.visible_to_citizen_at is not None:
        refusals = sorted(HIDING_REFUSALS)
        marks = ", ".join("{}" for _ in refusals)
        condition(
            f"(hidden_ms IS NULL OR hidden_ms <= {{}} OR reason_code IN ({marks}))",
            to_epoch_ms(q.visible_to_citizen_at),
            *refusals,
        )
    if after is not None:
        beyond = "<" if q.newest_first else ">"
        condition(
            f"(received_ms, exchange_id) {beyond} ({{}}, {{}})", after.received_ms, stored(after.exchange_id)
        )
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), params


def _equalities(q: AuditQuery) -> list[tuple[str, str | None]]:
    return [
        ("agency", q.agency),
        ("personal_id", q.personal_id),
        ("purpose_code", q.purpose),
        ("operation", q.operation),
        ("status", q.status),
        ("reason_code", q.reason),
    ]


def select(q: AuditQuery, after: After | None, limit: int, place: Placeholder) -> tuple[str, list[object]]:
    """The SELECT of one page (``limit`` rows) and its parameters."""
    clause, params = where(q, after, place)
    params.append(limit)
    order = "received_ms DESC, exchange_id DESC" if q.newest_first else "received_ms, exchange_id"
    sql = (
        f"SELECT {', '.join(COLUMNS)} FROM audit_records{clause} ORDER BY {order} LIMIT {place(len(params))}"
    )
    return sql, params


def page(q: AuditQuery, rows: Sequence[Any], limit: int) -> AuditPage:
    """The page of at most ``limit`` records from ``limit`` + 1 rows read; a cursor when there were more."""
    records = [from_row(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return AuditPage(records, None)
    last = records[-1]
    return AuditPage(records, encode_cursor(q, After(to_epoch_ms(last.received_at), last.exchange_id)))
