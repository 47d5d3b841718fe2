"""Correction tickets on the secured stack: report → ticket → decision → a later LOOKUP, every step audited.

The province reports a name it received as wrong and gets a ticket id; the corrections agency
(``c06-corrections``, its own login) lists the tickets and accepts one with ``dancu-bus corrections``;
a later LOOKUP answers the corrected value with its new source. A rejected ticket's reason reaches
the province, another agency's query finds nothing, and the audit topic holds each exchange.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import date

import pytest

from dancu_bus.admin.reader import read_to_end
from dancu_bus.agencies import Agency, Purpose
from dancu_bus.cli import corrections
from dancu_bus.cli.main import build_parser
from dancu_bus.contracts import AuditRecord
from dancu_bus.corrections import (
    CORRECTIONS_AGENCY,
    DECISION_LEGAL_BASIS,
    DECISION_PURPOSE,
    TicketBook,
    TicketCodec,
    TicketState,
)
from dancu_bus.errors import ConfigError
from dancu_bus.operations import platform_codec
from dancu_bus.operations.correct import CorrectQuery
from dancu_bus.sdk import (
    Client,
    ClientConfig,
    Context,
    LookupQuery,
    ReportErrorQuery,
    ReportErrorResult,
    Response,
    TicketStateQuery,
    TicketStateResult,
)
from dancu_bus.settings import KafkaSettings
from tests.contexts import PUBLIC_SERVICE
from tests.integration.secured_stack import SecuredStack, running_secured_stack
from tests.keys import sample_agencies, sdk_keys

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.timeout(300)]

PROVINCE, BANK = "demo-province", "demo-bank"
CODEC = platform_codec()
REPORTING = Context("can-bo-1107", "HS-DVC-9", "CORRECTION", "Thông tư kết nối, Điều 15.2.c")


def _agencies() -> list[Agency]:
    """The province and the bank may report and ask about their tickets; the corrections agency decides."""
    report = Purpose(
        legal_basis=REPORTING.legal_basis,
        operations=frozenset({"REPORT_ERROR", "TICKET_STATE"}),
        fields=frozenset({"full_name", "birth_date"}),
    )
    reporters = [
        a.model_copy(
            update={
                "operations": a.operations | {"REPORT_ERROR", "TICKET_STATE"},
                "purposes": {**a.purposes, "CORRECTION": report},
            }
        )
        for a in sample_agencies()
        if a.id in (PROVINCE, BANK)
    ]
    decision = Purpose(
        legal_basis=DECISION_LEGAL_BASIS, operations=frozenset({"CORRECT"}), fields=frozenset()
    )
    decider = Agency(
        id=CORRECTIONS_AGENCY,
        name="Cục C06, Bộ Công an (database's managing unit)",
        operations=frozenset({"CORRECT"}),
        purposes={DECISION_PURPOSE: decision},
    )
    return [*reporters, decider]


@pytest.fixture(scope="module")
def stack(secure_kafka: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredStack]:
    """The services as their principals; the province, the bank and the corrections agency logged in."""
    with running_secured_stack(
        secure_kafka,
        tmp_path_factory.mktemp("corrections"),
        [PROVINCE, BANK, CORRECTIONS_AGENCY],
        more_agencies=_agencies(),
    ) as running:
        yield running


def _client(stack: SecuredStack, agency: str) -> Client:
    return Client(
        ClientConfig(agency, stack.logins[agency], timeout_s=60, answer_keys=sdk_keys(agency)), CODEC
    )


def _ask(stack: SecuredStack, agency: str, query: object, context: Context = REPORTING) -> Response:
    with _client(stack, agency) as client:
        return client.request(client.build(query, context))  # type: ignore[arg-type]


def _cli(stack: SecuredStack, *argv: str) -> str:
    """Run ``dancu-bus corrections ...`` as the corrections agency; what it printed."""
    args = build_parser().parse_args(["corrections", *argv])
    out = io.StringIO()
    runner = {"list": corrections.run_list, "show": corrections.run_show}.get(
        args.corrections_command, corrections.run_decide
    )
    code = runner(args, stack.settings_of(CORRECTIONS_AGENCY), out)
    assert code == 0, out.getvalue()
    return out.getvalue()


def _state(stack: SecuredStack, agency: str, ticket: str, until: TicketState | None) -> TicketStateResult:
    """The ticket's state as ``agency`` asks for it, asked again until it is ``until`` (the view follows)."""
    deadline = time.monotonic() + 30
    while True:
        result = _ask(stack, agency, TicketStateQuery(ticket)).result
        assert isinstance(result, TicketStateResult)
        if result.state is until or time.monotonic() > deadline:
            return result
        time.sleep(1)


def _audited(stack: SecuredStack, exchanges: set[str]) -> dict[str, AuditRecord]:
    """The audit records of ``exchanges``, once the audit consumer has written all of them."""
    deadline = time.monotonic() + 60
    while True:
        found = {}
        for record in read_to_end(stack.admin.kafka, stack.names.audit, 30):
            if record.value is not None and record.key is not None and record.key.decode() in exchanges:
                found[record.key.decode()] = CODEC.decode_audit(record.value)
        if set(found) == exchanges or time.monotonic() > deadline:
            return found
        time.sleep(1)


def _report(stack: SecuredStack, agency: str, field: str, value: str) -> tuple[Response, str]:
    person = stack.people[21]
    response = _ask(stack, agency, ReportErrorQuery(person.personal_id, field, value, "CV-2026-118"))
    assert response.status.value == "OK", response
    assert isinstance(response.result, ReportErrorResult) and response.result.state is TicketState.OPEN
    return response, response.result.ticket_id


def test_an_accepted_report_corrects_what_a_later_lookup_answers_and_every_step_is_audited(
    stack: SecuredStack,
) -> None:
    """Report, list, accept, state query: the LOOKUP has the new name and source; the audit has all three."""
    person = stack.people[21]
    reported, ticket = _report(stack, PROVINCE, "full_name", "Nguyen Thi Sai")
    deadline = time.monotonic() + 30
    while ticket not in (listed := _cli(stack, "list", "--state", "OPEN")) and time.monotonic() < deadline:
        time.sleep(1)
    assert ticket in listed and person.personal_id in listed
    assert "Nguyen Thi Sai" in _cli(stack, "show", ticket)
    corrected = "Nguyễn Thị Đúng"
    said = _cli(
        stack, "accept", ticket, "--value", corrected, "--source", "HO-TICH-2026", "--officer", "c06-7"
    )
    assert f"ticket {ticket} ACCEPTED" in said
    state = _state(stack, PROVINCE, ticket, TicketState.ACCEPTED)
    assert state.found and state.state is TicketState.ACCEPTED and state.field == "full_name"
    with _client(stack, PROVINCE) as province:
        answer = province.lookup(LookupQuery(person.personal_id, ("full_name", "birth_date")), PUBLIC_SERVICE)
    name = answer.fields["full_name"]
    assert (name.value, name.source, name.updated_on) == (corrected, "HO-TICH-2026", date.today())
    born = answer.fields["birth_date"]
    assert born.value == person.birth_date and born.source == person.provenance["birth_date"].source
    answered = read_to_end(stack.admin.kafka, stack.names.response(CORRECTIONS_AGENCY), 30)
    decided = {CODEC.decode_response(r.value).exchange_id for r in answered if r.value is not None}
    tickets = TicketBook(TicketCodec(CODEC.schemas), stack.names.corrections)
    for record in read_to_end(stack.admin.kafka, stack.names.corrections, 30):
        tickets.apply(record.key, record.value)
    final = tickets.get(ticket)
    assert final is not None and final.state is TicketState.ACCEPTED and final.corrected_value == corrected
    assert final.report_exchange == reported.exchange_id
    assert final.decision_exchange is not None and final.decision_exchange in decided
    audit = _audited(stack, {reported.exchange_id, final.decision_exchange})
    assert audit[reported.exchange_id].operation == "REPORT_ERROR"
    assert audit[reported.exchange_id].personal_id == person.personal_id
    assert audit[final.decision_exchange].operation == "CORRECT"
    assert audit[final.decision_exchange].agency == CORRECTIONS_AGENCY


def test_a_rejected_report_shows_its_reason_to_the_reporter_only_and_the_query_is_audited(
    stack: SecuredStack,
) -> None:
    """Reject with a reason: the province reads it; the bank's query of the same ticket finds nothing."""
    _, ticket = _report(stack, PROVINCE, "birth_date", "1990-01-01")
    reason = "Giấy khai sinh số 12/1990 ghi đúng ngày sinh trên hồ sơ"
    deadline = time.monotonic() + 30
    while ticket not in _cli(stack, "list") and time.monotonic() < deadline:
        time.sleep(1)
    assert "REJECTED" in _cli(stack, "reject", ticket, "--reason", reason, "--officer", "c06-7")
    state = _state(stack, PROVINCE, ticket, TicketState.REJECTED)
    assert (state.found, state.state, state.reason) == (True, TicketState.REJECTED, reason)
    asked = _ask(stack, BANK, TicketStateQuery(ticket))
    assert asked.result == TicketStateResult(False, ticket)
    audit = _audited(stack, {asked.exchange_id})
    assert audit[asked.exchange_id].operation == "TICKET_STATE" and audit[asked.exchange_id].agency == BANK


def test_an_agency_granted_nothing_more_cannot_decide_and_the_cli_says_so(stack: SecuredStack) -> None:
    """CORRECT from the province is OPERATION_NOT_ALLOWED; the CLI names a missing ticket in one line."""
    refused = _ask(stack, PROVINCE, CorrectQuery("0c1a5e3e-2b6f-5d41-8e7a-5a3c9d0b4f27", False, reason="x"))
    assert refused.reason_code == "OPERATION_NOT_ALLOWED"
    args = build_parser().parse_args(["corrections", "show", "not-a-ticket"])
    with pytest.raises(ConfigError, match=r"no ticket not-a-ticket on .*corrections list"):
        corrections.run_show(args, stack.settings_of(CORRECTIONS_AGENCY), io.StringIO())
