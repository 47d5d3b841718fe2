"""What an agency sees of the bus and what the audit keeps of it, alike in memory and on the real broker."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import format_trace_id

from dancu_bus.audit import verify_log
from dancu_bus.contracts import Citizen, ResponseStatus
from dancu_bus.errors import DuplicateRequest, SealedAnswerError
from dancu_bus.sdk import LookupQuery, Verdict, VerifyAnswer, VerifyQuery, traced
from dancu_bus.testing import Bus
from dancu_bus.transport.dead_letters import open_original
from tests.contexts import KYC, KYC_LOOKUP
from tests.keys import OPERATOR_KEYS, sdk_keys

pytestmark = pytest.mark.timeout(180)

BANK = "demo-bank"
T = TypeVar("T")


async def eventually(read: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 60.0) -> T:
    """``read()`` once ``done`` says so; its last value after ``timeout_s`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await asyncio.to_thread(read)
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_verify_of_what_the_bank_holds_is_a_match(bus: Bus, people: list[Citizen]) -> None:
    """A VERIFY of a citizen's own id, name, birth date and sex is a MATCH, through the synchronous client."""
    person = people[0]
    query = VerifyQuery(person.personal_id, person.full_name, person.birth_date, person.sex)

    def ask() -> Verdict | None:
        with bus.client(BANK) as bank:
            return bank.verify(query, KYC).verdict

    assert await asyncio.to_thread(ask) is Verdict.MATCH


async def test_lookup_is_sealed_on_the_wire_and_opened_by_the_sdk(bus: Bus, people: list[Citizen]) -> None:
    """LOOKUP values travel sealed to the bank's key: the SDK opens them with it, and cannot without it."""
    person = people[1]
    async with bus.async_client(BANK, answer_keys=sdk_keys(BANK)) as bank:
        answer = await bank.lookup(LookupQuery(person.personal_id), KYC_LOOKUP)
    assert answer.ok and answer.found
    assert answer.fields["full_name"].value == person.full_name
    on_the_wire = bus.records(bus.names.response(BANK))
    assert on_the_wire and all(person.full_name.encode() not in (r.value or b"") for r in on_the_wire)
    async with bus.async_client(BANK) as keyless:
        with pytest.raises(SealedAnswerError):
            await keyless.lookup(LookupQuery(person.personal_id), KYC_LOOKUP)


async def test_a_request_without_purpose_is_rejected_with_its_reason(bus: Bus, people: list[Citizen]) -> None:
    """A request with no purpose code gets REJECTED with PURPOSE_MISSING, in both languages."""
    async with bus.async_client(BANK) as bank:
        request = dataclasses.replace(bank.build(VerifyQuery(people[2].personal_id), KYC), purpose_code="")
        response = await bank.request(request)
    assert response.status is ResponseStatus.REJECTED
    assert response.reason_code == "PURPOSE_MISSING"
    assert response.message_vi and response.message_en


async def test_a_resent_request_id_is_refused_as_a_duplicate(bus: Bus, people: list[Citizen]) -> None:
    """The second request with an id already answered is refused, naming the earlier exchange."""
    person = people[3]
    async with bus.async_client(BANK) as bank:
        request = bank.build(VerifyQuery(person.personal_id, person.full_name), KYC)
        first = await bank.request(request)
        with pytest.raises(DuplicateRequest, match=first.exchange_id):
            await bank.request(request)
    assert first.status is ResponseStatus.OK


async def test_undecodable_bytes_are_dead_lettered_while_requests_are_served(
    bus: Bus, people: list[Citizen]
) -> None:
    """Bytes that are no request become one sealed dead letter; the request after them is answered."""
    garbage = b"\xc3\x01 definitely not avro \xff\xfe"
    await asyncio.to_thread(bus.send_raw, BANK, garbage, b"bad-1")
    person = people[4]
    async with bus.async_client(BANK) as bank:
        answer = await bank.verify(VerifyQuery(person.personal_id, person.full_name), KYC)
    assert answer.verdict is Verdict.MATCH
    digest = hashlib.sha256(garbage).hexdigest()
    letters = await eventually(bus.dead_letters, lambda found: any(d.value_sha256 == digest for d in found))
    (letter,) = [d for d in letters if d.value_sha256 == digest]
    assert letter.topic == bus.names.request(BANK) and letter.error_code == "UNKNOWN_FINGERPRINT"
    original = open_original(letter, OPERATOR_KEYS, bus.codec)
    assert original is not None and (original.key, original.value) == (b"bad-1", garbage)


async def test_every_exchange_is_audited_once_on_an_intact_chain(bus: Bus, people: list[Citizen]) -> None:
    """Two answers, a refusal and a resent id are four exchanges: four audit records on an intact chain."""
    person = people[5]
    async with bus.async_client(BANK) as bank:
        verify = bank.build(VerifyQuery(person.personal_id, person.full_name), KYC)
        unpurposed = dataclasses.replace(bank.build(VerifyQuery(person.personal_id), KYC), purpose_code="")
        answered = [await bank.request(verify), await bank.request(unpurposed)]
        with pytest.raises(DuplicateRequest):
            await bank.request(verify)
        answered.append(
            await bank.request(bank.build(VerifyQuery(person.personal_id, person.full_name), KYC))
        )
    sent = {verify.request_id, unpurposed.request_id, answered[2].request_id}
    records = await eventually(bus.audit_records, lambda found: sum(r.request_id in sent for r in found) >= 4)
    ours = [r for r in records if r.request_id in sent]
    assert len(ours) == 4 and len({r.exchange_id for r in ours}) == 4
    assert Counter(r.request_id for r in ours)[verify.request_id] == 2
    assert {r.exchange_id for r in ours} >= {a.exchange_id for a in answered}
    assert {r.reason_code for r in ours} == {None, "PURPOSE_MISSING", "DUPLICATE_REQUEST"}
    checks = verify_log(bus.audit_log(), bus.codec)
    assert checks and all(check.finding is None for check in checks)


async def test_a_request_in_the_callers_trace_is_answered_and_audited_in_it(
    bus: Bus, people: list[Citizen]
) -> None:
    """The caller's current OpenTelemetry span goes out as traceparent; answer and audit record keep it."""
    person = people[6]
    tracer = TracerProvider().get_tracer("agency-application")  # the agency's own SDK, exporting nowhere

    def ask() -> tuple[VerifyAnswer, str]:
        with bus.client(BANK) as bank, tracer.start_as_current_span("kyc-check") as span:
            answer = bank.verify(VerifyQuery(person.personal_id, person.full_name), KYC)
        return answer, format_trace_id(span.get_span_context().trace_id)

    answer, trace_id = await asyncio.to_thread(ask)
    assert answer.ok and answer.trace_id == trace_id
    records = await eventually(
        bus.audit_records, lambda found: any(r.exchange_id == answer.exchange_id for r in found)
    )
    assert [r.trace_id for r in records if r.exchange_id == answer.exchange_id] == [trace_id]


async def test_a_traceparent_given_by_hand_is_continued_and_audited(bus: Bus, people: list[Citizen]) -> None:
    """``traced(traceparent)`` puts a request in that trace; the request after it, outside, is in none."""
    person = people[7]
    query = VerifyQuery(person.personal_id, person.full_name)
    async with bus.async_client(BANK) as bank:
        with traced("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") as trace_id:
            inside = await bank.verify(query, KYC)
        outside = await bank.verify(query, KYC)
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert (inside.trace_id, outside.trace_id) == (trace_id, None)
    exchanges = {inside.exchange_id: trace_id, outside.exchange_id: None}
    records = await eventually(
        bus.audit_records, lambda found: sum(r.exchange_id in exchanges for r in found) >= 2
    )
    assert {r.exchange_id: r.trace_id for r in records if r.exchange_id in exchanges} == exchanges
