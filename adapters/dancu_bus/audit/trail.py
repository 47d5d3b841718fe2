"""One agency's audit trail for inspectors (Art. 10): registry changes and exchanges, in time order. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from dancu_bus.agencies import Change
from dancu_bus.contracts import AuditRecord

__all__ = ["TrailLine", "trail"]


@dataclass(frozen=True, slots=True)
class TrailLine:
    """One event of the trail: when, what kind, and a readable account."""

    at: datetime
    kind: str
    text: str


def trail(history: Iterable[Change], exchanges: Iterable[AuditRecord], agency: str) -> list[TrailLine]:
    """Registry changes of ``agency`` and its exchanges, merged by time (changes first at equal times)."""
    lines = [TrailLine(c.at, "registry", _change(c)) for c in history]
    lines += [TrailLine(r.received_at, "exchange", _exchange(r)) for r in exchanges if r.agency == agency]
    return sorted(lines, key=lambda line: (line.at, line.kind != "registry"))


def _change(change: Change) -> str:
    detail = f": {change.detail}" if change.detail else ""
    return f"{change.action} by {change.by} under {change.document_ref}{detail}"


def _exchange(record: AuditRecord) -> str:
    outcome = record.status if record.reason_code is None else f"{record.status} {record.reason_code}"
    disclosed = ",".join(record.fields_disclosed) or "-"
    return (
        f"{record.operation} {record.personal_id or '-'} by {record.officer_id} (case {record.case_no}, "
        f"purpose {record.purpose_code or '-'}): {outcome}; disclosed {disclosed}{_hiding(record)}"
    )


def _hiding(record: AuditRecord) -> str:
    """The request's mark hiding it from the citizen, as the trail states it; empty when not hidden."""
    if record.hidden_until is None:
        return ""
    until = record.hidden_until.astimezone(UTC).isoformat(timespec="seconds")
    return f"; hidden from the citizen until {until} under {record.hiding_legal_basis or '-'}"
