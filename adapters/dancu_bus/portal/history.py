"""Who read my data: a citizen's access history, newest first, from the audit index.

Every exchange about the person's id in the period is listed, whatever its agency or outcome, the
citizen's own SELF lookups (through the portal or by SMS) included, as Estonia's Data Tracker shows
every access; refused exchanges too, since an agency asked. An exchange an agency marked hidden from
the citizen until a date is left out until that date (the index's ``visible_to_citizen``). Reading the
history is no exchange with the database: it reads the index and is not itself audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from dancu_bus.contracts import AuditRecord
from dancu_bus.portal.replies import AccessEntry
from dancu_bus.portal.requests import HistoryAsk
from dancu_bus.store.audit_index import AuditIndex, AuditQuery

__all__ = [
    "AgencyNames",
    "HistoryPage",
    "entry_of",
    "history_page",
    "history_query",
]

AgencyNames = Callable[[str], tuple[str, str | None]]
"""An agency id's name and official electronic code in the registry (its id and None when unknown)."""


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of the history, newest first, and the cursor of the next (None: nothing older)."""

    entries: tuple[AccessEntry, ...]
    next_cursor: str | None


def history_query(personal_id: str, ask: HistoryAsk, now: datetime) -> AuditQuery:
    """The index query of one person's exchanges in the asked period that they may see now, newest first.

    What an agency hid from the citizen is left out until its date (``visible_to_citizen``), in the
    index's own query, so pages stay full and a hidden exchange is never read for the citizen.
    """
    return AuditQuery(
        personal_id=personal_id, start=ask.start, end=ask.end, visible_to_citizen_at=now, newest_first=True
    )


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
    """The page ``ask`` names as seen at ``now``; ConfigError (from the index) for another query's cursor."""
    found = await index.query(history_query(personal_id, ask, now), limit=ask.page_size, cursor=ask.cursor)
    return HistoryPage(tuple(entry_of(r, names) for r in found.records), found.next_cursor)
