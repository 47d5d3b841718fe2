"""Who read my data: a citizen's access history, newest first, from the audit index.

Every exchange about the person's id in the period is listed, whatever its agency or outcome, the
citizen's own SELF lookups (through the portal or by SMS) included, as Estonia's Data Tracker shows
every access; refused exchanges too, since an agency asked. An exchange an agency marked hidden from
the citizen until a date is left out until that date (``visible_to_citizen``). Reading the history is
no exchange with the database: it reads the index and is not itself audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from dancu_bus.channels.portal.replies import AccessEntry
from dancu_bus.channels.portal.requests import HistoryAsk
from dancu_bus.contracts import AuditRecord
from dancu_bus.store.audit_index import AuditIndex, AuditQuery
from dancu_bus.store.audit_index.query import After, encode_cursor
from dancu_bus.timestamps import to_epoch_ms

__all__ = [
    "MAX_READS",
    "AgencyNames",
    "HistoryPage",
    "entry_of",
    "history_page",
    "history_query",
    "visible_to_citizen",
]

# How many index pages one history page reads at most when hidden exchanges are skipped: the work of
# one request stays bounded however many are hidden; the cursor continues after the last one read.
MAX_READS = 10

AgencyNames = Callable[[str], tuple[str, str | None]]
"""An agency id's name and official electronic code in the registry (its id and None when unknown)."""


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of the history, newest first, and the cursor of the next (None: nothing older)."""

    entries: tuple[AccessEntry, ...]
    next_cursor: str | None


def visible_to_citizen(record: AuditRecord, now: datetime) -> bool:
    """Whether the citizen may see this exchange now: not while an agency has it hidden until later.

    HOOK for the hidden-until marks (branch i17-hidden): until they land every exchange is visible.
    """
    del record, now
    return True


def history_query(personal_id: str, ask: HistoryAsk) -> AuditQuery:
    """The index query of one person's exchanges in the asked period, newest first."""
    return AuditQuery(personal_id=personal_id, start=ask.start, end=ask.end, newest_first=True)


def entry_of(record: AuditRecord, names: AgencyNames) -> AccessEntry:
    """What the citizen sees of one audit record: never a value, only the names of what was disclosed."""
    name, code = names(record.agency)
    return AccessEntry(
        received_at=record.received_at,
        agency=record.agency,
        agency_name=name,
        agency_code=code,
        operation=record.operation,
        purpose_code=record.purpose_code,
        legal_basis=record.legal_basis,
        fields_disclosed=record.fields_disclosed,
        status=record.status,
        reason_code=record.reason_code,
    )


async def history_page(
    index: AuditIndex, personal_id: str, ask: HistoryAsk, names: AgencyNames, now: datetime
) -> HistoryPage:
    """The page ``ask`` names; ConfigError (from the index) for a cursor of another person or period.

    A page holds at most ``ask.page_size`` entries and fewer only when hidden ones were skipped or the
    history ends: only a None cursor says it ended.
    """
    q = history_query(personal_id, ask)
    entries: list[AccessEntry] = []
    last: AuditRecord | None = None
    cursor = ask.cursor
    for _ in range(MAX_READS):
        found = await index.query(q, limit=ask.page_size, cursor=cursor)
        for record in found.records:
            if not visible_to_citizen(record, now):
                continue
            if len(entries) == ask.page_size and last is not None:
                return HistoryPage(tuple(entries), _after(q, last))
            entries.append(entry_of(record, names))
            last = record
        if found.next_cursor is None:
            return HistoryPage(tuple(entries), None)
        cursor = found.next_cursor
        if len(entries) == ask.page_size:
            break
    return HistoryPage(tuple(entries), cursor)


def _after(q: AuditQuery, record: AuditRecord) -> str:
    """The cursor of the page after ``record``."""
    return encode_cursor(q, After(to_epoch_ms(record.received_at), record.exchange_id))
