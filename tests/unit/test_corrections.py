"""Correction tickets: REPORT_ERROR, TICKET_STATE and CORRECT admitted, encoded and answered, no broker.

The handler runs over an in-memory store and a ticket book fed with the records it emits, as the
resolver's view of the corrections topic is fed by the broker.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from dancu_bus.access import (
    CORRECTIONS_AGENCY,
    PLATFORM_IDS,
    RESOLVER,
    Operation,
    agency_grants,
    platform_grants,
)
from dancu_bus.agencies import Agency, FileAgencyDirectory, Purpose
from dancu_bus.catalogues import packaged_view
from dancu_bus.contracts import DISCLOSABLE_FIELDS, Citizen, Provenance, Request, Response, ResponseStatus
from dancu_bus.corrections import (
    DECISION_LEGAL_BASIS,
    DECISION_PURPOSE,
    CorrectionTicket,
    Decision,
    TicketBook,
    TicketCodec,
    TicketState,
    conflict,
    decided,
    ticket_id_of,
)
from dancu_bus.metrics import ResolverMetrics
from dancu_bus.operations import OPERATIONS, platform_codec
from dancu_bus.operations.correct import CorrectQuery, CorrectResult
from dancu_bus.operations.report_error import ReportErrorQuery, ReportErrorResult
from dancu_bus.operations.ticket_state import TicketStateQuery, TicketStateResult
from dancu_bus.reasons import Reason
from dancu_bus.resolver import Admission, Admitted, Rejection
from dancu_bus.resolver.handler import HandlerOptions, ResolverHandler
from dancu_bus.store.rows import corrected
from dancu_bus.topic_names import TopicNames
from dancu_bus.topics import packaged_topics
from dancu_bus.transport import Incoming, Outgoing
from tests.unit.test_answers import CITIZEN

CODEC = platform_codec()
NAMES = TopicNames("t.dancu")
PID = CITIZEN.personal_id
REPORTING = "CORRECTION"
REPORT_BASIS = "Thông tư kết nối, Điều 15.2.c"
REPORTER = Agency(
    id="demo-province",
    name="Province",
    operations=frozenset({"REPORT_ERROR", "TICKET_STATE", "CORRECT"}),  # CORRECT granted by mistake
    purposes={
        REPORTING: Purpose(
            legal_basis=REPORT_BASIS,
            operations=frozenset({"REPORT_ERROR", "TICKET_STATE", "CORRECT"}),
            fields=frozenset({"full_name", "birth_date", "sex", "permanent_address"}),
        )
    },
)
OTHER = REPORTER.model_copy(update={"id": "demo-bank"})
DECIDER = Agency(
    id=CORRECTIONS_AGENCY,
    name="C06",
    operations=frozenset({"CORRECT"}),
    purposes={
        DECISION_PURPOSE: Purpose(
            legal_basis=DECISION_LEGAL_BASIS, operations=frozenset({"CORRECT"}), fields=frozenset()
        )
    },
)
DIRECTORY = FileAgencyDirectory({a.id: a for a in (REPORTER, OTHER, DECIDER)})


def ask(query: object, agency: str = REPORTER.id, now: datetime | None = None) -> Request:
    """A request of ``agency`` for ``query`` under its purpose, sent ``now``."""
    sent = now or datetime.now(UTC)
    operation = OPERATIONS.for_query(query)
    decider = agency == CORRECTIONS_AGENCY
    return Request(
        request_id=str(uuid.uuid4()),
        agency=agency,
        officer_id="can-bo-7",
        case_no="HS-7",
        purpose_code=DECISION_PURPOSE if decider else REPORTING,
        legal_basis=DECISION_LEGAL_BASIS if decider else REPORT_BASIS,
        operation=operation.name,
        sent_at=sent,
        expires_at=sent + timedelta(minutes=1),
        body=query,  # type: ignore[arg-type]
    )


def report(**changes: Any) -> ReportErrorQuery:
    """A valid report about the sample citizen's name."""
    return dataclasses.replace(ReportErrorQuery(PID, "full_name", "Nguyễn Thi Anh", "CV-2026-118"), **changes)


def accept(ticket: str, **changes: Any) -> CorrectQuery:
    """An acceptance of ``ticket`` with a new name from the civil status register."""
    base = CorrectQuery(ticket, True, "Nguyễn Thị Anh", "HO-TICH-2026", date(2026, 11, 30))
    return dataclasses.replace(base, **changes)


def admitted(request: Request) -> Admitted | Rejection:
    """The pure admission stages for ``request`` on its own agency's topic."""
    return Admission(DIRECTORY, OPERATIONS).check(request, request.agency, request.sent_at, packaged_view())


LONG = "x" * 501
ANY, C06, BAD = str(uuid.uuid4()), CORRECTIONS_AGENCY, Reason.MALFORMED_REQUEST
CASES = [
    ("bad personal id", report(personal_id="12345"), REPORTER.id, Reason.INVALID_PERSONAL_ID, "not 12"),
    ("unknown field", report(field="salary"), REPORTER.id, Reason.UNKNOWN_FIELD, "'salary'"),
    ("field out of scope", report(field="phone"), REPORTER.id, Reason.FIELD_OUT_OF_SCOPE, "phone"),
    ("oversized value", report(value_held=LONG), REPORTER.id, BAD, "value_held must"),
    ("empty value", report(value_held="  "), REPORTER.id, BAD, "value_held must"),
    ("control characters", report(value_held="a\x00b"), REPORTER.id, BAD, "value_held"),
    ("oversized evidence", report(evidence_ref="e" * 201), REPORTER.id, BAD, "1 to 200"),
    ("state of no uuid", TicketStateQuery("ticket-1"), REPORTER.id, BAD, "not a UUID"),
    ("correct by an agency", accept(ANY), REPORTER.id, Reason.OPERATION_NOT_ALLOWED, "CORRECT"),
    ("accept without source", accept(ANY, source=None), C06, BAD, "source must"),
    ("source with a bar", accept(ANY, source="A|B"), C06, BAD, "'|'"),
    ("future date", accept(ANY, updated_on=date.today() + timedelta(days=9)), C06, BAD, "future"),
    ("reject without reason", CorrectQuery(ANY, False), C06, BAD, "reason must"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "query", "agency", "reason", "detail"), CASES, ids=[c[0] for c in CASES])
def test_admission_refuses_each_bad_report_state_query_and_decision(
    case: str, query: object, agency: str, reason: Reason, detail: str
) -> None:
    """Each malformed body, and CORRECT from any agency but the corrections one, gets its own reason."""
    decision = admitted(ask(query, agency))
    assert isinstance(decision, Rejection), case
    assert decision.reason is reason and detail in decision.detail, decision


def test_a_valid_report_state_query_and_decision_are_admitted() -> None:
    """The report within scope, the state query and the corrections agency's decision pass admission."""
    for query, agency in (
        (report(), REPORTER.id),
        (TicketStateQuery(str(uuid.uuid4())), REPORTER.id),
        (accept(str(uuid.uuid4())), CORRECTIONS_AGENCY),
        (CorrectQuery(str(uuid.uuid4()), False, reason="Giấy khai sinh ghi đúng"), CORRECTIONS_AGENCY),
    ):
        assert isinstance(admitted(ask(query, agency)), Admitted), query


WHEN = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
RESULTS = [
    ReportErrorResult("0c1a5e3e-2b6f-5d41-8e7a-5a3c9d0b4f27", TicketState.OPEN),
    TicketStateResult(True, "t-1", TicketState.REJECTED, "full_name", "đúng theo hộ tịch", WHEN),
    TicketStateResult(False, "t-2"),
    CorrectResult("t-3", TicketState.ACCEPTED),
    CorrectResult("t-4", None, "no ticket t-4"),
]


@pytest.mark.parametrize("result", RESULTS)
def test_results_round_trip_through_the_response_codec(result: object) -> None:
    """Each result decodes from its encoded response equal to what was encoded."""
    ids = str(uuid.uuid4()), str(uuid.uuid4())
    response = Response(*ids, "demo-province", "X", ResponseStatus.OK, WHEN, result=result)
    assert CODEC.decode_response(CODEC.encode_response(response)).result == result


@pytest.mark.parametrize(
    "query", [report(), TicketStateQuery("x"), accept("y"), CorrectQuery("z", False, reason="r")]
)
def test_queries_round_trip_through_the_request_codec(query: object) -> None:
    """Each body decodes from its encoded request equal to what was encoded."""
    request = ask(query, now=WHEN)
    assert CODEC.decode_request(CODEC.encode_request(request)) == request


def test_a_ticket_round_trips_in_every_state() -> None:
    """Open, accepted and rejected tickets decode equal from their corrections-topic record."""
    tickets = TicketCodec(CODEC.schemas)
    opened = CorrectionTicket(
        ticket_id_of("ex-1"),
        "demo-province",
        PID,
        "full_name",
        "Nguyễn Thi Anh",
        "CV-1",
        WHEN,
        str(uuid.uuid4()),
    )
    exchange = str(uuid.uuid4())
    for ticket in (
        opened,
        decided(
            opened, Decision(opened.ticket_id, True, "An", "HO-TICH", date(2026, 11, 30)), WHEN, exchange
        ),
        decided(opened, Decision(opened.ticket_id, False, reason="đúng"), WHEN, exchange),
    ):
        assert tickets.decode(tickets.encode(ticket)) == ticket


def test_a_decided_ticket_takes_the_same_decision_again_but_no_other() -> None:
    """Deciding again as decided is no conflict (a retry); the opposite decision is refused with the state."""
    opened = CorrectionTicket("t", "a", PID, "sex", "1", "CV", WHEN, "e")
    yes = Decision("t", True, "2", "HO-TICH", date(2026, 11, 30))
    no = Decision("t", False, reason="đúng")
    accepted = decided(opened, yes, WHEN, "e2")
    assert conflict(opened, yes) is None and conflict(accepted, yes) is None
    assert conflict(accepted, no) == "ticket t was already ACCEPTED at 2026-11-30 09:00:00"
    assert conflict(decided(opened, no, WHEN, "e2"), dataclasses.replace(no, reason="other")) is not None


def test_a_correction_replaces_one_field_and_its_provenance_only() -> None:
    """The corrected field has the new value and source; the others keep theirs."""
    new = Provenance("HO-TICH-2026", date(2026, 11, 30))
    person = corrected(CITIZEN, "full_name", "Nguyễn Thị Anh", new)
    assert person.full_name == "Nguyễn Thị Anh" and person.provenance["full_name"] == new
    assert person.provenance["birth_date"] == CITIZEN.provenance["birth_date"]
    assert dataclasses.replace(person, full_name=CITIZEN.full_name, provenance=CITIZEN.provenance) == CITIZEN


def test_the_resolver_and_the_corrections_agency_get_the_corrections_topic() -> None:
    """The resolver reads and writes the tickets; the corrections agency reads them; other agencies do not."""
    topic = NAMES.corrections
    declared = packaged_topics()
    resolver = {(g.name, g.operation) for g in platform_grants(declared, NAMES, PLATFORM_IDS)[RESOLVER]}
    assert {(topic, Operation.READ), (topic, Operation.WRITE)} <= resolver
    assert any(
        g.name == topic and g.operation is Operation.READ
        for g in agency_grants(declared, NAMES, CORRECTIONS_AGENCY)
    )
    assert all(g.name != topic for g in agency_grants(declared, NAMES, "demo-bank"))


class Store:
    """Citizens in memory; ``correct`` as both backends do it."""

    def __init__(self, citizens: Sequence[Citizen]) -> None:
        self.citizens = {c.personal_id: c for c in citizens}
        self.corrections = 0

    async def get_many(self, personal_ids: Sequence[str]) -> Mapping[str, Citizen]:
        return {i: self.citizens[i] for i in personal_ids if i in self.citizens}

    async def find_by_name(self, name_key: str, birth_date: date, limit: int) -> Sequence[Citizen]:
        return []

    async def correct(self, personal_id: str, field: str, value: object, provenance: Provenance) -> bool:
        self.corrections += 1
        found = self.citizens.get(personal_id)
        if found is not None:
            self.citizens[personal_id] = corrected(found, field, value, provenance)
        return found is not None


class Resolver:
    """The handler, and a ticket book fed with what it emits once a batch is written."""

    def __init__(self) -> None:
        self.store = Store([CITIZEN])
        self.book = TicketBook(TicketCodec(CODEC.schemas), NAMES.corrections)
        metrics = ResolverMetrics(CollectorRegistry())
        options = HandlerOptions(tickets=self.book)
        self.handler = ResolverHandler(CODEC, DIRECTORY, self.store, NAMES, metrics, options)
        self.offset = 0

    async def ask(self, query: object, agency: str = REPORTER.id) -> tuple[Response, Outgoing]:
        """The response to ``query`` and its output record; the tickets it wrote are in the book after."""
        self.offset += 1
        value = CODEC.encode_request(ask(query, agency))
        (out,) = await self.handler.handle(
            [Incoming(NAMES.request(agency), 0, self.offset, 0, b"k", value, ())]
        )
        for side in out.also:
            assert side.topic == NAMES.corrections
            self.book.apply(side.key, side.value)
        return CODEC.decode_response(out.value), out


async def test_report_accept_then_the_store_and_the_ticket_hold_the_correction() -> None:
    """A report opens an OPEN ticket beside its response; accepting it corrects the store and the ticket."""
    resolver = Resolver()
    reported, out = await resolver.ask(report())
    assert isinstance(reported.result, ReportErrorResult) and reported.result.state is TicketState.OPEN
    ticket_id = reported.result.ticket_id
    assert ticket_id == ticket_id_of(reported.exchange_id) and [s.key for s in out.also] == [
        ticket_id.encode()
    ]
    decided_, _ = await resolver.ask(accept(ticket_id), CORRECTIONS_AGENCY)
    assert decided_.result == CorrectResult(ticket_id, TicketState.ACCEPTED)
    person = resolver.store.citizens[PID]
    assert person.full_name == "Nguyễn Thị Anh"
    assert person.provenance["full_name"] == Provenance("HO-TICH-2026", date(2026, 11, 30))
    ticket = resolver.book.get(ticket_id)
    assert (
        ticket is not None
        and ticket.state is TicketState.ACCEPTED
        and ticket.corrected_value == "Nguyễn Thị Anh"
    )
    assert ticket.decision_exchange == decided_.exchange_id
    again, out = await resolver.ask(accept(ticket_id), CORRECTIONS_AGENCY)
    assert again.result == CorrectResult(ticket_id, TicketState.ACCEPTED) and out.also == ()
    assert resolver.store.corrections == 1  # the same decision again changes nothing


async def test_reject_then_the_reporter_sees_the_reason_and_no_other_agency_sees_the_ticket() -> None:
    """The reporter's state query gives REJECTED with the reason; another agency's gives not found."""
    resolver = Resolver()
    reported, _ = await resolver.ask(report(field="birth_date", value_held="1990-05-18"))
    assert isinstance(reported.result, ReportErrorResult)
    ticket_id = reported.result.ticket_id
    reason = "Giấy khai sinh số 12/1990 ghi ngày 17/05/1990"
    await resolver.ask(CorrectQuery(ticket_id, False, reason=reason), CORRECTIONS_AGENCY)
    state, _ = await resolver.ask(TicketStateQuery(ticket_id.upper()))
    assert isinstance(state.result, TicketStateResult)
    assert (state.result.found, state.result.state, state.result.reason) == (
        True,
        TicketState.REJECTED,
        reason,
    )
    assert state.result.field == "birth_date" and state.result.decided_at is not None
    other, _ = await resolver.ask(TicketStateQuery(ticket_id), OTHER.id)
    assert other.result == TicketStateResult(False, ticket_id)
    late, _ = await resolver.ask(accept(ticket_id), CORRECTIONS_AGENCY)
    assert isinstance(late.result, CorrectResult) and late.result.state is TicketState.REJECTED
    assert late.result.refused is not None and "already REJECTED" in late.result.refused
    assert resolver.store.corrections == 0


async def test_a_decision_that_cannot_be_applied_says_why_and_changes_nothing() -> None:
    """No such ticket, a date that is none, a code not in the catalogue, an address: refused, no record."""
    resolver = Resolver()
    unknown = str(uuid.uuid4())
    answer, out = await resolver.ask(accept(unknown), CORRECTIONS_AGENCY)
    assert answer.result == CorrectResult(
        unknown, None, f"no ticket {unknown} (yet: a new one takes a second to arrive)"
    )
    for field, value, refusal in (
        ("birth_date", "17/05/1990", "is not a date YYYY-MM-DD"),
        ("sex", "9", "is not a"),
        ("permanent_address", "Hà Nội", "residence registration"),
    ):
        reported, _ = await resolver.ask(report(field=field))
        assert isinstance(reported.result, ReportErrorResult)
        answer, out = await resolver.ask(accept(reported.result.ticket_id, value=value), CORRECTIONS_AGENCY)
        assert isinstance(answer.result, CorrectResult) and answer.result.state is TicketState.OPEN
        assert answer.result.refused is not None and refusal in answer.result.refused, answer.result
        assert out.also == ()
    assert resolver.store.citizens[PID] == CITIZEN


async def test_a_report_read_again_answers_the_same_ticket_without_writing_it_twice() -> None:
    """The same request record handled again (a retried batch) gives the same ticket id, its state as is."""
    resolver = Resolver()
    value = CODEC.encode_request(ask(report()))
    record = Incoming(NAMES.request(REPORTER.id), 0, 42, 0, b"k", value, ())
    (first,) = await resolver.handler.handle([record])
    for side in first.also:
        resolver.book.apply(side.key, side.value)
    (again,) = await resolver.handler.handle([record])
    assert CODEC.decode_response(again.value).result == CODEC.decode_response(first.value).result
    assert again.also == ()


def test_the_disclosable_fields_are_the_reportable_ones() -> None:
    """A report may name any field a LOOKUP discloses (within its purpose), and no other."""
    everything = REPORTER.purposes[REPORTING].model_copy(update={"fields": frozenset(DISCLOSABLE_FIELDS)})
    for field in DISCLOSABLE_FIELDS:
        assert OPERATIONS.of("REPORT_ERROR").check(report(field=field), everything, packaged_view()) is None
