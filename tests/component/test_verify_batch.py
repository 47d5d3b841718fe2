"""VERIFY_BATCH end to end: verify_many, the resolver's per-item answers, one audit record per item."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from dancu_bus.audit import unaudited, verify_log
from dancu_bus.contracts import Citizen, ResponseStatus
from dancu_bus.exchanges import exchange_id, item_exchange_id
from dancu_bus.operations.verify import verify
from dancu_bus.operations.verify_batch import MAX_ITEMS, VerifyBatchQuery
from dancu_bus.sdk import Verdict, VerifyAnswer, VerifyQuery
from dancu_bus.testing import Bus
from tests.component.test_behaviour import eventually
from tests.contexts import KYC, NOTARY

pytestmark = pytest.mark.timeout(240)

BANK = "demo-bank"


def _rows(people: list[Citizen], count: int) -> list[VerifyQuery]:
    """``count`` rows cycling: matches, mismatches, unknown people, garbage ids, out-of-scope fields."""
    rows = []
    for i in range(count):
        person = people[i % len(people)]
        kind = i % 5
        if kind == 0:
            rows.append(VerifyQuery(person.personal_id, person.full_name, person.birth_date))
        elif kind == 1:
            rows.append(VerifyQuery(person.personal_id, "Không Phải Tên Này"))
        elif kind == 2:
            rows.append(VerifyQuery("0010900" + f"{i:05d}"[-5:], "Ai Đó"))
        elif kind == 3:
            rows.append(VerifyQuery(f"garbage\x00{i}" * 3, "X"))
        else:
            rows.append(VerifyQuery(person.personal_id, ethnic_group=person.ethnic_group))
    return rows


async def test_verify_many_answers_every_row_in_order_and_audits_each_item(
    bus: Bus, people: list[Citizen]
) -> None:
    """2,500 rows in three batches: an answer per row in input order, equal to VERIFY's, and one audit
    record per item keyed by the item's exchange id, with nothing missing and an intact chain."""
    rows = _rows(people, 2500)
    by_id = {p.personal_id: p for p in people}

    def ask() -> list[VerifyAnswer]:
        with bus.client(BANK, timeout_s=60) as bank:
            return list(bank.verify_many(rows, KYC, batch_size=1000, in_flight=2))

    answers = await asyncio.to_thread(ask)
    assert [a.query for a in answers] == rows
    for answer in answers:
        assert answer.query is not None
        if answer.ok:
            expected = verify(answer.query, by_id.get(answer.query.personal_id))
            assert answer.verdict is expected.verdict
            assert answer.fields == {m.field: m.outcome for m in expected.fields}
    reasons = Counter(a.reason_code for a in answers)
    assert reasons == {None: 1500, "INVALID_PERSONAL_ID": 500, "FIELD_OUT_OF_SCOPE": 500}
    assert {a.verdict for a in answers[0::5]} == {Verdict.MATCH}
    assert all(a.message_en and "malformed" in a.message_en for a in answers[3::5])
    assert len({a.request_id for a in answers}) == 3
    assert len({a.exchange_id for a in answers}) == 2500

    audits = await eventually(bus.audit_records, lambda found: len(found) >= 2500)
    by_exchange = {a.exchange_id: a for a in audits}
    assert len(audits) == 2500
    for answer in answers:
        record = by_exchange[answer.exchange_id]
        assert answer.query is not None and record.personal_id == answer.query.personal_id
        assert (record.operation, record.status, record.reason_code) == (
            "VERIFY_BATCH",
            "OK" if answer.ok else "REJECTED",
            answer.reason_code,
        )
    assert [c for c in verify_log(bus.audit_log(), bus.codec) if c.finding is not None] == []
    requests = bus.records(bus.names.request(BANK))
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert unaudited(requests, by_exchange.keys(), bus.codec, later) == []
    assert len(unaudited(requests, set(list(by_exchange)[1:]), bus.codec, later)) == 1


async def test_a_batch_refused_whole_is_one_exchange_or_each_item_refused(
    bus: Bus, people: list[Citizen]
) -> None:
    """No items: MALFORMED_REQUEST, one audit record; over the cap: BATCH_TOO_LARGE, one record without a
    personal id; a batch within the cap refused for its envelope: every item REJECTED in the audit."""
    person = people[0]
    item = VerifyQuery(person.personal_id, person.full_name)

    def ask() -> list[tuple[str, str | None]]:
        with bus.client(BANK, timeout_s=60) as bank:
            empty = bank.build(VerifyBatchQuery(()), KYC)
            huge = bank.build(VerifyBatchQuery((item,) * (MAX_ITEMS + 1)), KYC)
            unpurposed = dataclasses.replace(
                bank.build(VerifyBatchQuery((item, item)), KYC), purpose_code="X"
            )
            responses = [bank.request(r) for r in (empty, huge, unpurposed)]
            return [(r.request_id, r.reason_code) for r in responses]

    answered = await asyncio.to_thread(ask)
    assert [reason for _, reason in answered] == [
        "MALFORMED_REQUEST",
        "BATCH_TOO_LARGE",
        "PURPOSE_NOT_REGISTERED",
    ]
    audits = await eventually(bus.audit_records, lambda found: len(found) >= 4)
    by_request: dict[str, list[tuple[str | None, str | None]]] = {}
    for audit in audits:
        by_request.setdefault(audit.request_id, []).append((audit.personal_id, audit.reason_code))
    (empty_id, _), (huge_id, _), (unpurposed_id, _) = answered
    assert by_request[empty_id] == [(None, "MALFORMED_REQUEST")]
    assert by_request[huge_id] == [(None, "BATCH_TOO_LARGE")]
    assert by_request[unpurposed_id] == [(person.personal_id, "PURPOSE_NOT_REGISTERED")] * 2
    requests = bus.records(bus.names.request(BANK))
    record = next(r for r in requests if r.key == unpurposed_id.encode())
    whole = exchange_id(record.topic, record.partition, record.offset, record.timestamp_ms)
    assert {a.exchange_id for a in audits if a.request_id == unpurposed_id} == {
        item_exchange_id(whole, 0),
        item_exchange_id(whole, 1),
    }


async def test_a_batch_spends_one_quota_unit_per_answered_item(bus: Bus, people: list[Citizen]) -> None:
    """The notary may ask 5 a second: of a batch of 12, at most 5 are answered, the rest QUOTA_EXCEEDED."""
    rows = [VerifyQuery(p.personal_id, p.full_name) for p in people[:12]]

    def ask() -> list[VerifyAnswer]:
        with bus.client("demo-notary", timeout_s=60) as notary:
            return list(notary.verify_many(rows, NOTARY))

    answers = await asyncio.to_thread(ask)
    answered = [a for a in answers if a.ok]
    assert 1 <= len(answered) <= 5
    assert answers[: len(answered)] == answered  # the first ones fit
    assert {a.reason_code for a in answers[len(answered) :]} == {"QUOTA_EXCEEDED"}
    response = next(
        bus.codec.decode_response(r.value) for r in bus.records(bus.names.response("demo-notary")) if r.value
    )
    assert response.status is ResponseStatus.OK
