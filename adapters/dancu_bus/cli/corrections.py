"""``dancu-bus corrections list|show|accept|reject``: the database side's work on correction tickets.

Run as the corrections agency (``c06-corrections``: its SCRAM login in ``DANCU_KAFKA__*``). ``list``
and ``show`` read the compacted corrections topic; ``accept`` and ``reject`` send a CORRECT exchange,
which the resolver answers and the audit records like every exchange: the decision is in the hash chain.
What an agency wrote (the value it holds, its evidence) is shown escaped and bounded.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import TextIO

from dancu_bus.admin.reader import read_to_end
from dancu_bus.codec import load_schemas
from dancu_bus.corrections import (
    CORRECTIONS_AGENCY,
    DECISION_LEGAL_BASIS,
    DECISION_PURPOSE,
    CorrectionTicket,
    TicketBook,
    TicketCodec,
    TicketState,
    ticket_id,
)
from dancu_bus.errors import ConfigError
from dancu_bus.operations import OPERATIONS, platform_codec
from dancu_bus.operations.correct import CorrectQuery, CorrectResult
from dancu_bus.sdk import Client, ClientConfig, Context, ResponseStatus
from dancu_bus.settings import Settings
from dancu_bus.text import shown
from dancu_bus.topic_names import TopicNames

__all__ = ["register", "run_decide", "run_list", "run_show"]

# How long a decision waits for the resolver to see a ticket it has not followed yet (seconds).
_ARRIVAL_S = 15.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``corrections list|show|accept|reject``."""
    corrections = commands.add_parser("corrections", help="correction tickets (REPORT_ERROR): list, decide")
    verbs = corrections.add_subparsers(dest="corrections_command", required=True)
    listing = verbs.add_parser("list", help="every ticket, oldest first, as a table")
    listing.add_argument("--state", choices=[s.value for s in TicketState], help="only tickets in this state")
    listing.set_defaults(run=lambda args, settings: run_list(args, settings, sys.stdout))
    show = verbs.add_parser("show", help="one ticket, every field")
    show.add_argument("ticket")
    show.set_defaults(run=lambda args, settings: run_show(args, settings, sys.stdout))
    accept = verbs.add_parser("accept", help="correct the store's field; the ticket becomes ACCEPTED")
    accept.add_argument("ticket")
    accept.add_argument("--value", required=True, help="the correct value (a date as YYYY-MM-DD, a code)")
    accept.add_argument("--source", required=True, help="where it comes from, e.g. HO-TICH-2026")
    accept.add_argument(
        "--on", type=date.fromisoformat, default=date.today(), help="its date (default today)"
    )
    reject = verbs.add_parser("reject", help="keep the store as it is; the agency reads the reason")
    reject.add_argument("ticket")
    reject.add_argument("--reason", required=True, help="why, as the reporting agency will read it")
    for decide in (accept, reject):
        decide.add_argument("--officer", required=True, help="who decides (the officer's id)")
        decide.set_defaults(run=lambda args, settings: run_decide(args, settings, sys.stdout))


def run_list(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Print the tickets as a table."""
    tickets = [t for t in _read(settings).all() if args.state is None or t.state.value == args.state]
    rows = [("TICKET", "STATE", "AGENCY", "PERSONAL ID", "FIELD", "REPORTED")]
    rows += [
        (t.ticket_id, t.state.value, t.agency, t.personal_id, t.field, f"{t.reported_at:%Y-%m-%d %H:%M}")
        for t in tickets
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out
        )
    print(f"{len(tickets)} tickets", file=out)
    return 0


def run_show(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Print one ticket, field by field."""
    ticket = _ticket(_read(settings), args.ticket, settings)
    for name, value in _described(ticket):
        print(f"{name:<18} {value}", file=out)
    return 0


def run_decide(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Send the CORRECT exchange of an accept or a reject; print the ticket's new state."""
    ticket = _ticket(_read(settings), args.ticket, settings)
    accepting = args.corrections_command == "accept"
    query = (
        CorrectQuery(ticket.ticket_id, True, args.value, args.source, args.on)
        if accepting
        else CorrectQuery(ticket.ticket_id, False, reason=args.reason)
    )
    context = Context(args.officer, f"TICKET-{ticket.ticket_id}", DECISION_PURPOSE, DECISION_LEGAL_BASIS)
    codec = platform_codec()
    with Client(ClientConfig(CORRECTIONS_AGENCY, settings.kafka, timeout_s=60), codec) as client:
        result = _decided(lambda: _send(client, query, context))
    if result.refused is not None:
        print(f"dancu-bus: ticket {ticket.ticket_id} unchanged: {result.refused}", file=sys.stderr)
        return 1
    state = result.state.value if result.state is not None else "unknown"
    done = f"{ticket.field} of {ticket.personal_id} is now {args.value!r}" if accepting else args.reason
    print(f"ticket {ticket.ticket_id} {state}: {done}", file=out)
    return 0


def _send(client: Client, query: CorrectQuery, context: Context) -> CorrectResult:
    response = client.request(client.build(query, context))
    if response.status is not ResponseStatus.OK or not isinstance(response.result, CorrectResult):
        hint = f" (run as {CORRECTIONS_AGENCY}, registered with CORRECT)" if response.reason_code else ""
        raise ConfigError(
            f"the resolver refused the decision: {response.reason_code}: {response.message_en}{hint}"
        )
    return response.result


def _decided(send: Callable[[], CorrectResult]) -> CorrectResult:
    """The answer, asking again while the resolver has not followed the ticket yet."""
    deadline = time.monotonic() + _ARRIVAL_S
    while True:
        result = send()
        if result.state is not None or time.monotonic() > deadline:
            return result
        time.sleep(1)


def _read(settings: Settings) -> TicketBook:
    book = TicketBook(
        TicketCodec(load_schemas(OPERATIONS)), TopicNames(settings.kafka.topic_prefix).corrections
    )
    for record in read_to_end(settings.kafka, book.topic):
        book.apply(record.key, record.value)
    return book


def _ticket(book: TicketBook, wanted: str, settings: Settings) -> CorrectionTicket:
    canonical = ticket_id(wanted)
    ticket = book.get(canonical) if canonical is not None else None
    if ticket is None:
        raise ConfigError(
            f"no ticket {shown(wanted, 40)} on {book.topic}: `dancu-bus corrections list` shows the tickets"
        )
    return ticket


def _described(t: CorrectionTicket) -> Sequence[tuple[str, str]]:
    decided = f"{t.decided_at:%Y-%m-%d %H:%M:%S}" if t.decided_at else "-"
    corrected = (
        "-"
        if t.corrected_value is None
        else f"{shown(t.corrected_value, 120)} ({t.corrected_source}, {t.corrected_on})"
    )
    return (
        ("ticket", t.ticket_id),
        ("state", t.state.value),
        ("agency", t.agency),
        ("personal id", shown(t.personal_id, 20)),
        ("field", shown(t.field, 32)),
        ("value held", shown(t.value_held, 120)),
        ("evidence", shown(t.evidence_ref, 120)),
        ("reported at", f"{t.reported_at:%Y-%m-%d %H:%M:%S} (exchange {t.report_exchange})"),
        (
            "decided at",
            decided if t.decision_exchange is None else f"{decided} (exchange {t.decision_exchange})",
        ),
        ("corrected to", corrected),
        ("reason", "-" if t.reason is None else shown(t.reason, 200)),
    )
