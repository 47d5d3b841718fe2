"""CORRECT: the database side decides a correction ticket. Granted to the corrections principal only.

Accepting sets the store's field to the decided value with its new source and date, then writes the
ACCEPTED ticket in the transaction of the response; rejecting writes the REJECTED ticket with its
reason. The store write is idempotent: a batch retried after a failed transaction writes the same
value again and then the ticket. A decision that cannot be applied is answered OK with ``refused``
saying why, the ticket unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from dancu_bus.access import CORRECTIONS_AGENCY
from dancu_bus.agencies import Purpose
from dancu_bus.catalogues import CITIZEN_CODES, CatalogueView, check_code
from dancu_bus.contracts import Operation as Name
from dancu_bus.contracts import Provenance
from dancu_bus.corrections import (
    CorrectionTicket,
    Decision,
    TicketState,
    conflict,
    decided,
    text_problem,
    ticket_id,
)
from dancu_bus.operations.base import Asking, Emitted, Operation, schema_branches
from dancu_bus.operations.report_error import VALUE_LIMIT
from dancu_bus.reasons import Reason, Rejection
from dancu_bus.text import quoted

__all__ = ["CORRECT", "Correct", "CorrectQuery", "CorrectResult", "stored_value"]

_SOURCE_LIMIT = 100
_REASON_LIMIT = 500


@dataclass(frozen=True, slots=True)
class CorrectQuery:
    """A decision on a ticket: accept with a value, its source and date; or reject with a reason."""

    ticket_id: str
    accept: bool
    value: str | None = None
    source: str | None = None
    updated_on: date | None = None
    reason: str | None = None

    @property
    def personal_id(self) -> None:
        """The query names a ticket; the person is the ticket's."""
        return None

    def decision(self, ticket: str) -> Decision:
        """The decision on ``ticket`` (the canonical form of the id)."""
        return Decision(ticket, self.accept, self.value, self.source, self.updated_on, self.reason)


@dataclass(frozen=True, slots=True)
class CorrectResult:
    """The ticket's state after the decision (None: no such ticket); why nothing changed, if so."""

    ticket_id: str
    state: TicketState | None
    refused: str | None = None


class Correct(Operation[CorrectQuery, CorrectResult]):
    """The CORRECT operation."""

    name = Name.CORRECT
    query_type = CorrectQuery
    result_type = CorrectResult
    body_schema = schema_branches("correct")["body"]
    result_schema = schema_branches("correct")["result"]
    result_name = "vn.dancu.CorrectResult"
    granted_to = frozenset({CORRECTIONS_AGENCY})

    def body_record(self, body: CorrectQuery) -> dict[str, Any]:
        """CorrectQuery → its Avro body."""
        return {
            "ticket_id": body.ticket_id,
            "accept": body.accept,
            "value": body.value,
            "source": body.source,
            "updated_on": body.updated_on,
            "reason": body.reason,
        }

    def body_from(self, record: Mapping[str, Any]) -> CorrectQuery:
        """Its Avro body → CorrectQuery."""
        return CorrectQuery(
            record["ticket_id"],
            record["accept"],
            record["value"],
            record["source"],
            record["updated_on"],
            record["reason"],
        )

    def result_record(self, result: CorrectResult) -> dict[str, Any]:
        """CorrectResult → its Avro record."""
        state = None if result.state is None else result.state.value
        return {"ticket_id": result.ticket_id, "state": state, "refused": result.refused}

    def result_from(self, record: Mapping[str, Any]) -> CorrectResult:
        """Its Avro record → CorrectResult."""
        state = record["state"]
        return CorrectResult(
            record["ticket_id"], None if state is None else TicketState(state), record["refused"]
        )

    def check(self, query: CorrectQuery, purpose: Purpose, catalogues: CatalogueView) -> Rejection | None:
        """A UUID ticket id; accepted: a value, a source and a date not in the future; rejected: a reason."""
        if ticket_id(query.ticket_id) is None:
            return Rejection(
                Reason.MALFORMED_REQUEST, f"ticket_id {quoted(query.ticket_id, 40)} is not a UUID"
            )
        problem = (
            _acceptance_problem(query)
            if query.accept
            else text_problem("reason", query.reason, _REASON_LIMIT)
        )
        return Rejection(Reason.MALFORMED_REQUEST, problem) if problem is not None else None

    async def answer(self, query: CorrectQuery, asking: Asking) -> CorrectResult:
        """Apply the decision to the ticket (and, accepted, to the store); or say why it cannot be."""
        wanted = ticket_id(query.ticket_id) or query.ticket_id
        ticket = asking.tickets.get(wanted)
        if ticket is None:
            return CorrectResult(
                wanted, None, f"no ticket {wanted} (yet: a new one takes a second to arrive)"
            )
        decision = query.decision(wanted)
        refused = conflict(ticket, decision)
        if refused is not None or ticket.state is not TicketState.OPEN:
            return CorrectResult(wanted, ticket.state, refused)  # decided already, the same way: done
        if decision.accept:
            refused = await _correct_store(ticket, decision, asking)
            if refused is not None:
                return CorrectResult(wanted, ticket.state, refused)
        new = decided(ticket, decision, asking.now, asking.exchange_id)
        asking.emitted.append(Emitted(asking.tickets.topic, wanted.encode(), asking.tickets.encode(new)))
        return CorrectResult(wanted, new.state)


CORRECT = Correct()


def _acceptance_problem(query: CorrectQuery) -> str | None:
    problem = text_problem("value", query.value, VALUE_LIMIT) or text_problem(
        "source", query.source, _SOURCE_LIMIT
    )
    if problem is not None:
        return problem
    if query.source is not None and ("|" in query.source or ";" in query.source):
        return "source must not contain '|' or ';'"
    # A day of slack: the decider's calendar day may be ahead of the resolver's in UTC.
    if query.updated_on is None or query.updated_on > date.today() + timedelta(days=1):
        return "updated_on must be given, and not in the future"
    return None


def stored_value(field: str, text: str, catalogues: CatalogueView) -> tuple[object, str | None]:
    """The value ``text`` stands for in ``field`` of the store, or why it cannot be stored there."""
    if field == "permanent_address":
        return None, "permanent_address is corrected by a residence registration, not by a ticket"
    if field == "birth_date":
        try:
            return date.fromisoformat(text), None
        except ValueError:
            return None, f"birth_date {quoted(text, 32)} is not a date YYYY-MM-DD"
    catalogue = CITIZEN_CODES.get(field)
    problem = check_code(catalogues, field, catalogue, text) if catalogue is not None else None
    return text, None if problem is None else problem.message


async def _correct_store(ticket: CorrectionTicket, decision: Decision, asking: Asking) -> str | None:
    """Write the accepted value to the store; why not, if it cannot be."""
    if decision.value is None or decision.source is None or decision.updated_on is None:
        return "an acceptance needs a value, a source and a date"  # ``check`` refused it already
    value, problem = stored_value(ticket.field, decision.value, asking.catalogues)
    if problem is not None:
        return problem
    provenance = Provenance(decision.source, decision.updated_on)
    if not await asking.store.correct(ticket.personal_id, ticket.field, value, provenance):
        return f"nobody with personal id {ticket.personal_id} is on record"
    return None
