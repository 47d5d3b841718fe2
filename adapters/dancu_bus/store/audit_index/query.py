"""What an inspector asks the audit index, one page of its answer, and the cursor to the next. Pure."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from dancu_bus.contracts import AuditRecord
from dancu_bus.errors import ConfigError
from dancu_bus.reasons import HIDING_REFUSALS
from dancu_bus.timestamps import to_epoch_ms

__all__ = [
    "MAX_LIMIT",
    "After",
    "AuditPage",
    "AuditQuery",
    "check_limit",
    "decode_cursor",
    "encode_cursor",
    "visible_to_citizen",
]

# The most records one page may hold: a page is built in memory, whatever a caller asks.
MAX_LIMIT = 10_000
# A cursor names a time and an exchange id; an exchange id is a UUID, a bounded text at worst.
_MAX_CURSOR = 512
_MAX_EXCHANGE_ID = 256
_CURSOR_HELP = "pass the cursor printed after the previous page of the same query"


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit records: every field given must match (times in UTC, ``start`` ≤ received_at < ``end``)."""

    agency: str | None = None
    start: datetime | None = None  # received_at >= start (aware UTC)
    end: datetime | None = None  # received_at < end
    personal_id: str | None = None
    purpose: str | None = None
    operation: str | None = None
    status: str | None = None  # outcome: OK, REJECTED, UNANSWERED...
    reason: str | None = None
    # Only what the citizen may see at this moment: not an exchange an agency hid until later
    # (``visible_to_citizen``); None: every record, hidden or not (inspectors).
    visible_to_citizen_at: datetime | None = None
    # Page order: oldest first by default (inspectors, reports); newest first for a citizen's history.
    # Part of the query, so a cursor of one order is refused by the other.
    newest_first: bool = False


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of matches in (received_at, exchange_id) order or its reverse, and the next cursor."""

    records: list[AuditRecord]
    next_cursor: str | None  # opaque; None on the last page


@dataclass(frozen=True, slots=True)
class After:
    """Where a page starts: after the record received at ``received_ms`` with ``exchange_id``."""

    received_ms: int
    exchange_id: str


def visible_to_citizen(record: AuditRecord, at: datetime) -> bool:
    """Whether the citizen may see ``record`` at ``at``: not hidden, hidden until then, or its mark refused.

    A request refused for its mark itself (``HIDING_REFUSALS``) hid nothing; any other keeps its mark,
    so a refused investigation's request does not tip off its subject either.
    """
    until = record.hidden_until
    return until is None or until <= at or record.reason_code in HIDING_REFUSALS


def check_limit(limit: int) -> None:
    """ConfigError unless a page of ``limit`` records may be asked for."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(f"a page holds 1 to {MAX_LIMIT} records, not {limit}: give another limit")


# Not part of a cursor's query: each page of a citizen's history is asked at its own moment, so an
# exchange whose hiding ended between two pages shows on the next one (a cursor is only a position).
_OUTSIDE_CURSOR = frozenset({"visible_to_citizen_at"})


def _fingerprint(q: AuditQuery) -> str:
    """A short digest of the query, so a cursor is refused by any other query."""
    fields = {
        name: (to_epoch_ms(value) if isinstance(value, datetime) else value)
        for name, value in dataclasses.asdict(q).items()
        if name not in _OUTSIDE_CURSOR
    }
    text = json.dumps(fields, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


def encode_cursor(q: AuditQuery, after: After) -> str:
    """The opaque cursor of the page after ``after`` of the query ``q``."""
    body = json.dumps([_fingerprint(q), after.received_ms, after.exchange_id], ensure_ascii=True)
    return base64.urlsafe_b64encode(body.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(q: AuditQuery, cursor: str) -> After:
    """Where the page ``cursor`` names starts; ConfigError for a malformed cursor or one of another query."""
    if len(cursor) > _MAX_CURSOR:
        raise ConfigError(f"malformed cursor ({len(cursor)} characters): {_CURSOR_HELP}")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parsed = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii"))
    except (UnicodeError, binascii.Error, ValueError):
        raise ConfigError(f"malformed cursor: {_CURSOR_HELP}") from None
    if not _well_formed(parsed):
        raise ConfigError(f"malformed cursor: {_CURSOR_HELP}")
    fingerprint, received_ms, exchange_id = parsed
    if fingerprint != _fingerprint(q):
        raise ConfigError(f"this cursor belongs to another query: {_CURSOR_HELP}")
    return After(received_ms, exchange_id)


def _well_formed(parsed: object) -> bool:
    """Whether a decoded cursor is [fingerprint, milliseconds, exchange id] within bounds."""
    if not isinstance(parsed, list) or len(parsed) != 3:
        return False
    fingerprint, received_ms, exchange_id = parsed
    return (
        isinstance(fingerprint, str)
        and isinstance(received_ms, int)
        and not isinstance(received_ms, bool)
        and -(2**62) < received_ms < 2**62
        and isinstance(exchange_id, str)
        and len(exchange_id) <= _MAX_EXCHANGE_ID
    )
