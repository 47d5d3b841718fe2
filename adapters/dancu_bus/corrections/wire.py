"""Tickets on the wire: Avro single objects of ``vn.dancu.CorrectionTicket``, keyed by ticket id."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dancu_bus.codec import SchemaSet
from dancu_bus.corrections.ticket import CorrectionTicket, TicketState

__all__ = ["TicketCodec"]

_TICKET = "vn.dancu.CorrectionTicket"


class TicketCodec:
    """Encodes and decodes correction tickets."""

    def __init__(self, schemas: SchemaSet) -> None:
        self._schemas = schemas

    def encode(self, ticket: CorrectionTicket) -> bytes:
        """CorrectionTicket → bytes."""
        return self._schemas.encode(_TICKET, _record(ticket))

    def decode(self, data: bytes | None) -> CorrectionTicket:
        """Bytes → CorrectionTicket, or CodecError."""
        return self._schemas.decode_as(_TICKET, data, _ticket)


def _record(ticket: CorrectionTicket) -> dict[str, Any]:
    return {
        "ticket_id": ticket.ticket_id,
        "agency": ticket.agency,
        "personal_id": ticket.personal_id,
        "field": ticket.field,
        "value_held": ticket.value_held,
        "evidence_ref": ticket.evidence_ref,
        "state": ticket.state.value,
        "reported_at": ticket.reported_at,
        "report_exchange": ticket.report_exchange,
        "reason": ticket.reason,
        "corrected_value": ticket.corrected_value,
        "corrected_source": ticket.corrected_source,
        "corrected_on": ticket.corrected_on,
        "decided_at": ticket.decided_at,
        "decision_exchange": ticket.decision_exchange,
    }


def _ticket(record: Mapping[str, Any]) -> CorrectionTicket:
    decided_at = record["decided_at"]
    return CorrectionTicket(
        ticket_id=str(uuid.UUID(str(record["ticket_id"]))),
        agency=record["agency"],
        personal_id=record["personal_id"],
        field=record["field"],
        value_held=record["value_held"],
        evidence_ref=record["evidence_ref"],
        reported_at=aware(record["reported_at"]),
        report_exchange=str(record["report_exchange"]),
        state=TicketState(record["state"]),
        reason=record["reason"],
        corrected_value=record["corrected_value"],
        corrected_source=record["corrected_source"],
        corrected_on=record["corrected_on"],
        decided_at=None if decided_at is None else aware(decided_at),
        decision_exchange=None if record["decision_exchange"] is None else str(record["decision_exchange"]),
    )


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
