"""REPORT_ERROR: a field the agency received looks wrong (Art. 15.2.c, 14.2.d); the answer is a ticket.

The ticket (``dancu_bus.corrections``) is written to the corrections topic in the transaction of the
response, so an agency never holds a ticket id the platform does not. Its id derives from the exchange
id: a report read again (a retried batch) opens the same ticket, never a second one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import CatalogueView
from dancu_bus.contracts import DISCLOSABLE_FIELDS
from dancu_bus.contracts import Operation as Name
from dancu_bus.corrections import CorrectionTicket, TicketState, text_problem, ticket_id_of
from dancu_bus.operations.base import Asking, Emitted, Operation, id_refusal, schema_branches
from dancu_bus.reasons import Reason, Rejection
from dancu_bus.text import quoted

__all__ = [
    "EVIDENCE_LIMIT",
    "REPORT_ERROR",
    "VALUE_LIMIT",
    "ReportError",
    "ReportErrorQuery",
    "ReportErrorResult",
]

VALUE_LIMIT = 500
EVIDENCE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class ReportErrorQuery:
    """A report: which person, which field, the value the agency holds, and its evidence."""

    personal_id: str
    field: str
    value_held: str
    evidence_ref: str


@dataclass(frozen=True, slots=True)
class ReportErrorResult:
    """The ticket the report opened, and its state (OPEN, or its decision if it was decided already)."""

    ticket_id: str
    state: TicketState


class ReportError(Operation[ReportErrorQuery, ReportErrorResult]):
    """The REPORT_ERROR operation."""

    name = Name.REPORT_ERROR
    query_type = ReportErrorQuery
    result_type = ReportErrorResult
    body_schema = schema_branches("report_error")["body"]
    result_schema = schema_branches("report_error")["result"]
    result_name = "vn.dancu.ReportErrorResult"

    def body_record(self, body: ReportErrorQuery) -> dict[str, Any]:
        """ReportErrorQuery → its Avro body."""
        return {
            "personal_id": body.personal_id,
            "field": body.field,
            "value_held": body.value_held,
            "evidence_ref": body.evidence_ref,
        }

    def body_from(self, record: Mapping[str, Any]) -> ReportErrorQuery:
        """Its Avro body → ReportErrorQuery."""
        return ReportErrorQuery(
            record["personal_id"], record["field"], record["value_held"], record["evidence_ref"]
        )

    def result_record(self, result: ReportErrorResult) -> dict[str, Any]:
        """ReportErrorResult → its Avro record."""
        return {"ticket_id": result.ticket_id, "state": result.state.value}

    def result_from(self, record: Mapping[str, Any]) -> ReportErrorResult:
        """Its Avro record → ReportErrorResult."""
        return ReportErrorResult(str(record["ticket_id"]), TicketState(record["state"]))

    def check(self, query: ReportErrorQuery, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
        """A well-formed id, a known field within scope, a bounded value and evidence reference."""
        refusal = id_refusal(query.personal_id)
        if refusal is not None:
            return refusal
        if query.field not in DISCLOSABLE_FIELDS:
            return Rejection(Reason.UNKNOWN_FIELD, quoted(query.field, 32))
        if query.field not in purpose.fields:
            # An agency reports on what it may receive, nothing else.
            return Rejection(Reason.FIELD_OUT_OF_SCOPE, query.field)
        problem = text_problem("value_held", query.value_held, VALUE_LIMIT) or text_problem(
            "evidence_ref", query.evidence_ref, EVIDENCE_LIMIT
        )
        return Rejection(Reason.MALFORMED_REQUEST, problem) if problem is not None else None

    async def answer(self, query: ReportErrorQuery, asking: Asking) -> ReportErrorResult:
        """The ticket this exchange opens; one that exists already is answered as it stands."""
        ticket_id = ticket_id_of(asking.exchange_id)
        existing = asking.tickets.get(ticket_id)
        if existing is not None:
            return ReportErrorResult(ticket_id, existing.state)
        ticket = opened(query, ticket_id, asking)
        asking.emitted.append(
            Emitted(asking.tickets.topic, ticket_id.encode(), asking.tickets.encode(ticket))
        )
        return ReportErrorResult(ticket_id, ticket.state)


REPORT_ERROR = ReportError()


def opened(query: ReportErrorQuery, ticket_id: str, asking: Asking) -> CorrectionTicket:
    """The OPEN ticket of a report asked in ``asking``."""
    return CorrectionTicket(
        ticket_id=ticket_id,
        agency=asking.agency,
        personal_id=query.personal_id,
        field=query.field,
        value_held=query.value_held,
        evidence_ref=query.evidence_ref,
        reported_at=asking.now,
        report_exchange=asking.exchange_id,
    )
