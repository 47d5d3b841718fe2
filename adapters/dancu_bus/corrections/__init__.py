"""Correction tickets (REPORT_ERROR, Art. 15.2.c, 14.2.d): the model, its wire form and a live view.

The operations that open, decide and read tickets are ``dancu_bus.operations.report_error``,
``correct`` and ``ticket_state``; the tickets live on the compacted topic ``<prefix>.corrections``.
"""

from dancu_bus.corrections.book import TicketBook, Tickets
from dancu_bus.corrections.ticket import (
    CORRECTIONS_AGENCY,
    DECISION_LEGAL_BASIS,
    DECISION_PURPOSE,
    CorrectionTicket,
    Decision,
    TicketState,
    conflict,
    decided,
    text_problem,
    ticket_id,
    ticket_id_of,
)
from dancu_bus.corrections.wire import TicketCodec

__all__ = [
    "CORRECTIONS_AGENCY",
    "DECISION_LEGAL_BASIS",
    "DECISION_PURPOSE",
    "CorrectionTicket",
    "Decision",
    "TicketBook",
    "TicketCodec",
    "TicketState",
    "Tickets",
    "conflict",
    "decided",
    "text_problem",
    "ticket_id",
    "ticket_id_of",
]
