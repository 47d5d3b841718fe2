"""TICKET_STATE: where one of the agency's correction tickets stands. Another agency's is unknown to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import CatalogueView
from dancu_bus.contracts import Operation as Name
from dancu_bus.corrections import TicketState, ticket_id
from dancu_bus.operations.base import FOUND, NOT_FOUND, Asking, Operation, schema_branches
from dancu_bus.reasons import Reason, Rejection
from dancu_bus.text import quoted

__all__ = ["TICKET_STATE", "TicketStateOperation", "TicketStateQuery", "TicketStateResult"]


@dataclass(frozen=True, slots=True)
class TicketStateQuery:
    """Which ticket."""

    ticket_id: str

    @property
    def personal_id(self) -> None:
        """The query names a ticket, not a person."""
        return None


@dataclass(frozen=True, slots=True)
class TicketStateResult:
    """The ticket's state, the field it is about, the reason of a rejection and when it was decided."""

    found: bool
    ticket_id: str
    state: TicketState | None = None
    field: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None


class TicketStateOperation(Operation[TicketStateQuery, TicketStateResult]):
    """The TICKET_STATE operation."""

    name = Name.TICKET_STATE
    query_type = TicketStateQuery
    result_type = TicketStateResult
    body_schema = schema_branches("ticket_state")["body"]
    result_schema = schema_branches("ticket_state")["result"]
    result_name = "vn.dancu.TicketStateResult"

    def body_record(self, body: TicketStateQuery) -> dict[str, Any]:
        """TicketStateQuery → its Avro body."""
        return {"ticket_id": body.ticket_id}

    def body_from(self, record: Mapping[str, Any]) -> TicketStateQuery:
        """Its Avro body → TicketStateQuery."""
        return TicketStateQuery(record["ticket_id"])

    def result_record(self, result: TicketStateResult) -> dict[str, Any]:
        """TicketStateResult → its Avro record."""
        return {
            "found": result.found,
            "ticket_id": result.ticket_id,
            "state": None if result.state is None else result.state.value,
            "field": result.field,
            "reason": result.reason,
            "decided_at": result.decided_at,
        }

    def result_from(self, record: Mapping[str, Any]) -> TicketStateResult:
        """Its Avro record → TicketStateResult."""
        state, decided = record["state"], record["decided_at"]
        return TicketStateResult(
            found=record["found"],
            ticket_id=record["ticket_id"],
            state=None if state is None else TicketState(state),
            field=record["field"],
            reason=record["reason"],
            decided_at=None if decided is None else decided.astimezone(UTC),
        )

    def check(self, query: TicketStateQuery, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
        """A ticket id that is a UUID."""
        if ticket_id(query.ticket_id) is None:
            return Rejection(
                Reason.MALFORMED_REQUEST, f"ticket_id {quoted(query.ticket_id, 40)} is not a UUID"
            )
        return None

    def verdicts(self, result: TicketStateResult) -> Mapping[str, int]:
        """FOUND or NOT_FOUND, of the ticket asked about."""
        return {FOUND if result.found else NOT_FOUND: 1}

    async def answer(self, query: TicketStateQuery, asking: Asking) -> TicketStateResult:
        """The ticket if it is this agency's; not found otherwise, as if it did not exist."""
        wanted = ticket_id(query.ticket_id) or query.ticket_id
        ticket = asking.tickets.get(wanted)
        if ticket is None or ticket.agency != asking.agency:
            return TicketStateResult(found=False, ticket_id=wanted)
        return TicketStateResult(True, wanted, ticket.state, ticket.field, ticket.reason, ticket.decided_at)


TICKET_STATE = TicketStateOperation()
