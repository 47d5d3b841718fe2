"""Correction tickets: an agency's report that a field looks wrong, and the database side's decision. Pure.

A ticket is opened by a REPORT_ERROR exchange and decided once, by a CORRECT exchange of the
platform's corrections principal: ACCEPTED (the store's field corrected, with its new source and
date) or REJECTED (with a reason). Every step is an exchange, so the audit's hash chain holds each.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from dancu_bus.access import CORRECTIONS_AGENCY
from dancu_bus.text import printable

__all__ = [
    "CORRECTIONS_AGENCY",
    "DECISION_LEGAL_BASIS",
    "DECISION_PURPOSE",
    "TICKET_NAMESPACE",
    "CorrectionTicket",
    "Decision",
    "TicketState",
    "conflict",
    "decided",
    "text_problem",
    "ticket_id",
    "ticket_id_of",
]

# The purpose the corrections agency decides under (CORRECT is granted to ``CORRECTIONS_AGENCY`` only).
DECISION_PURPOSE = "CORRECTION-DECISION"
DECISION_LEGAL_BASIS = "Thông tư kết nối Cơ sở dữ liệu quốc gia về dân cư, Điều 15"
TICKET_NAMESPACE = uuid.UUID("0c1a5e3e-2b6f-5d41-8e7a-5a3c9d0b4f27")


class TicketState(StrEnum):
    """Where a ticket stands."""

    OPEN = "OPEN"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class CorrectionTicket:
    """One report and its decision, as the corrections topic keeps it (``vn.dancu.CorrectionTicket``)."""

    ticket_id: str
    agency: str
    personal_id: str
    field: str
    value_held: str
    evidence_ref: str
    reported_at: datetime
    report_exchange: str
    state: TicketState = TicketState.OPEN
    reason: str | None = None
    corrected_value: str | None = None
    corrected_source: str | None = None
    corrected_on: date | None = None
    decided_at: datetime | None = None
    decision_exchange: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What the database side decides about a ticket: accept with a value, or reject with a reason."""

    ticket_id: str
    accept: bool
    value: str | None = None
    source: str | None = None
    updated_on: date | None = None
    reason: str | None = None


def ticket_id_of(exchange_id: str) -> str:
    """The ticket a report opens: UUIDv5 of its exchange id, so a report read again opens the same one."""
    return str(uuid.uuid5(TICKET_NAMESPACE, exchange_id))


def decided(ticket: CorrectionTicket, decision: Decision, at: datetime, exchange: str) -> CorrectionTicket:
    """The ticket once ``decision`` is applied to it."""
    if decision.accept:
        return dataclasses.replace(
            ticket,
            state=TicketState.ACCEPTED,
            corrected_value=decision.value,
            corrected_source=decision.source,
            corrected_on=decision.updated_on,
            decided_at=at,
            decision_exchange=exchange,
        )
    return dataclasses.replace(
        ticket, state=TicketState.REJECTED, reason=decision.reason, decided_at=at, decision_exchange=exchange
    )


def conflict(ticket: CorrectionTicket, decision: Decision) -> str | None:
    """Why ``decision`` cannot be applied to an already decided ticket; None when it may (or is the same).

    Deciding again what was decided is answered as done: a CLI retry after a lost answer changes nothing.
    """
    if ticket.state is TicketState.OPEN:
        return None
    same = (
        decision.accept
        and ticket.state is TicketState.ACCEPTED
        and (ticket.corrected_value, ticket.corrected_source, ticket.corrected_on)
        == (decision.value, decision.source, decision.updated_on)
    ) or (not decision.accept and ticket.state is TicketState.REJECTED and ticket.reason == decision.reason)
    if same:
        return None
    when = f" at {ticket.decided_at:%Y-%m-%d %H:%M:%S}" if ticket.decided_at else ""
    return f"ticket {ticket.ticket_id} was already {ticket.state.value}{when}"


def text_problem(name: str, value: str | None, limit: int) -> str | None:
    """Why ``value`` is no text of 1 to ``limit`` printable characters (None when it is)."""
    if value is None or not value.strip() or len(value) > limit or not printable(value):
        return f"{name} must be 1 to {limit} printable characters"
    return None


def ticket_id(text: str) -> str | None:
    """The ticket id ``text`` spells (a UUID, in canonical form), or None."""
    try:
        return str(uuid.UUID(text)) if len(text) <= 36 else None
    except ValueError:
        return None
