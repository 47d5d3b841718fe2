"""The portal adapter's rules without a broker: bounded request fields, levels, refusals, dead letters."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dancu_bus.codec import SchemaSet
from dancu_bus.contracts import Address, DisclosedField
from dancu_bus.errors import ConfigError, RequestTimeout, StoreError
from dancu_bus.operations import platform_codec
from dancu_bus.portal.adapter import CitizenAnswer, PortalAdapter, Unanswerable
from dancu_bus.portal.history import HistoryPage
from dancu_bus.portal.replies import AccessEntry, PortalReason, PortalResponse, PortalStatus
from dancu_bus.portal.requests import (
    AccountType,
    HistoryAsk,
    PortalRequest,
    Service,
)
from dancu_bus.portal.wire import PORTAL_REQUEST, PORTAL_RESPONSE, request_record, response_record

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWN = "001090012345"
OTHER = "079185000123"
SCHEMAS: SchemaSet = platform_codec().schemas
FIELDS = (
    DisclosedField("full_name", "Nguyễn Văn An", "CSDLQG về dân cư", date(2025, 1, 2)),
    DisclosedField("birth_date", date(1990, 5, 17), "CSDLQG về dân cư", date(2025, 1, 2)),
    DisclosedField(
        "permanent_address", Address("DVHC-2025", "01", "00004", detail="Số 1"), "CA xã", date(2025, 7, 1)
    ),
)
ENTRY = AccessEntry(
    NOW,
    "demo-bank",
    "Ngân hàng Demo",
    "000.00.00.G01",
    "VERIFY",
    "KYC",
    "Luật PCRT 2022",
    ("full_name",),
    "OK",
    None,
)


def citizen_info(**changes: Any) -> PortalRequest:
    """A level-2 VNeID request for the account's own record."""
    base = PortalRequest(
        str(uuid.uuid4()), "sess-1", AccountType.VNEID, 2, OWN, Service.CITIZEN_INFO, OWN, None, NOW
    )
    return dataclasses.replace(base, **changes)


def history_request(level: int = 2, page_size: int = 20, cursor: str | None = None) -> PortalRequest:
    """An ACCESS_HISTORY request of the last 30 days."""
    ask = HistoryAsk(NOW - timedelta(days=30), NOW, cursor, page_size)
    return citizen_info(service=Service.ACCESS_HISTORY, assurance_level=level, history=ask)


def encoded(request: PortalRequest, **raw: Any) -> bytes:
    """The request as the portal writes it, with ``raw`` record fields overriding (hostile values)."""
    return SCHEMAS.encode(PORTAL_REQUEST, {**request_record(request), **raw})


class Fakes:
    """The resolver and the history as the adapter's seams see them, recording what they were asked."""

    def __init__(self, answer: CitizenAnswer | Exception | None = None) -> None:
        self.answer = CitizenAnswer(FIELDS) if answer is None else answer
        self.asked: list[PortalRequest] = []
        self.histories: list[tuple[str, HistoryAsk]] = []
        self.history_error: Exception | None = None

    async def ask(self, request: PortalRequest) -> CitizenAnswer:
        self.asked.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def history(self, personal_id: str, ask: HistoryAsk, now: datetime) -> HistoryPage:
        self.histories.append((personal_id, ask))
        if self.history_error is not None:
            raise self.history_error
        return HistoryPage((ENTRY,), "next")

    def adapter(self) -> PortalAdapter:
        return PortalAdapter(SCHEMAS, self.ask, self.history, max_page_size=100, clock=lambda: NOW)


async def test_citizen_info_passes_the_level_and_the_bound_id_and_returns_the_fields() -> None:
    """CITIZEN_INFO asks the resolver once with the request as read; its fields come back in order."""
    fakes = Fakes()
    for level in (1, 2):
        request = citizen_info(assurance_level=level)
        response = await fakes.adapter().answer(encoded(request))
        assert fakes.asked[-1] == request
        assert response.status is PortalStatus.OK and response.fields == FIELDS
        assert (response.request_id, response.session_id) == (request.request_id, "sess-1")


async def test_an_id_not_asked_is_the_accounts_own() -> None:
    """personal_id null means the bound id; another id is passed on as asked (the resolver refuses it)."""
    fakes = Fakes()
    await fakes.adapter().answer(encoded(citizen_info(), personal_id=None))
    await fakes.adapter().answer(encoded(citizen_info(personal_id=OTHER)))
    assert [r.personal_id for r in fakes.asked] == [OWN, OTHER]
    assert all(r.account_personal_id == OWN for r in fakes.asked)


async def test_a_resolver_refusal_keeps_its_code_and_messages() -> None:
    """NOT_OWN_RECORD from the resolver is the portal's answer, with the resolver's words."""
    refusal = CitizenAnswer(reason_code="NOT_OWN_RECORD", message_vi="Không phải", message_en="Not yours")
    response = await Fakes(refusal).adapter().answer(encoded(citizen_info(personal_id=OTHER)))
    assert (response.status, response.reason_code) == (PortalStatus.REJECTED, "NOT_OWN_RECORD")
    assert (response.message_vi, response.message_en, response.fields) == ("Không phải", "Not yours", ())


async def test_no_answer_in_time_is_a_refusal_to_try_later() -> None:
    """A RequestTimeout from the SDK becomes NO_ANSWER, not a dead letter nor silence."""
    response = await Fakes(RequestTimeout("r", 15.0)).adapter().answer(encoded(citizen_info()))
    assert response.reason_code == PortalReason.NO_ANSWER


async def test_level_one_gets_no_access_history() -> None:
    """ACCESS_HISTORY at level 1 is refused LEVEL_2_REQUIRED, naming VNeID level 2; the index is not read."""
    fakes = Fakes()
    response = await fakes.adapter().answer(encoded(history_request(level=1)))
    assert response.reason_code == PortalReason.LEVEL_2_REQUIRED and "VNeID" in (response.message_en or "")
    assert fakes.histories == []


async def test_level_two_reads_its_own_history_only() -> None:
    """The history is the bound id's, whatever personal_id says; the page and its cursor are returned."""
    fakes = Fakes()
    response = await fakes.adapter().answer(encoded(history_request(), personal_id=OTHER))
    assert fakes.histories[0][0] == OWN
    assert (
        response.status is PortalStatus.OK and response.history == (ENTRY,) and response.next_cursor == "next"
    )


async def test_a_page_size_above_the_maximum_is_capped() -> None:
    """page_size 5000 reads pages of 100; 0 is refused MALFORMED_REQUEST naming page_size."""
    fakes = Fakes()
    await fakes.adapter().answer(encoded(history_request(page_size=5000)))
    assert fakes.histories[0][1].page_size == 100
    refused = await fakes.adapter().answer(encoded(history_request(), page_size=0))
    assert refused.reason_code == PortalReason.MALFORMED_REQUEST and "page_size" in (refused.message_en or "")


async def test_a_cursor_of_another_query_is_refused_invalid_cursor() -> None:
    """The index's ConfigError for a foreign cursor: INVALID_CURSOR; an index failure: HISTORY_UNAVAILABLE."""
    fakes = Fakes()
    fakes.history_error = ConfigError("this cursor belongs to another query")
    assert (
        await fakes.adapter().answer(encoded(history_request()))
    ).reason_code == PortalReason.INVALID_CURSOR
    fakes.history_error = StoreError("down", retriable=True)
    unavailable = await fakes.adapter().answer(encoded(history_request()))
    assert unavailable.reason_code == PortalReason.HISTORY_UNAVAILABLE


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"assurance_level": 3}, "assurance_level"),
        ({"assurance_level": 0}, "assurance_level"),
        ({"account_personal_id": "00109001234"}, "account_personal_id"),
        ({"account_personal_id": "x" * 10_000}, "account_personal_id"),
        ({"personal_id": "00109001234a"}, "personal_id"),
        ({"service": "ACCESS_HISTORY", "period_start": None}, "period_start"),
        ({"service": "ACCESS_HISTORY", "period_start": 2_000, "period_end": 1_000}, "period_end"),
        ({"service": "ACCESS_HISTORY", "period_start": 1, "period_end": 2, "cursor": "c" * 513}, "cursor"),
        ({"service": "ACCESS_HISTORY", "period_start": 1, "period_end": 2, "cursor": ""}, "cursor"),
    ],
)
async def test_a_bad_field_is_refused_naming_it(raw: dict[str, Any], field: str) -> None:
    """Each out-of-bounds field gets MALFORMED_REQUEST naming the field; nothing reaches the resolver."""
    fakes = Fakes()
    response = await fakes.adapter().answer(encoded(citizen_info(), **raw))
    assert response.status is PortalStatus.REJECTED and response.reason_code == PortalReason.MALFORMED_REQUEST
    assert field in (response.message_en or "")
    assert fakes.asked == [] and fakes.histories == []


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"not avro at all",
        b"\xc3\x01" + b"\x00" * 8 + b"body",
        SCHEMAS.encode(PORTAL_REQUEST, request_record(citizen_info()))[:-3],
    ],
    # Named, not shown: the cut request holds a random id, and test ids must be the same in every
    # worker process.
    ids=["none", "empty", "not-avro", "fingerprint-and-garbage", "cut-short"],
)
async def test_undecodable_bytes_are_unanswerable(value: bytes | None) -> None:
    """Bytes that are no PortalRequest go to the dead letters (Unanswerable with the codec's code)."""
    with pytest.raises(Unanswerable):
        await Fakes().adapter().answer(value)


@pytest.mark.parametrize(
    "raw",
    [
        {"request_id": "not-a-uuid"},
        {"request_id": "a" * 5000},
        {"session_id": ""},
        {"session_id": "s p"},
        {"session_id": "s" * 101},
    ],
)
async def test_a_request_nobody_can_be_answered_for_is_unanswerable(raw: dict[str, Any]) -> None:
    """Without a request id and a session id there is no one to answer: a dead letter, not a reply."""
    with pytest.raises(Unanswerable):
        await Fakes().adapter().answer(encoded(citizen_info(), **raw))


def test_a_response_encodes_and_decodes_whole() -> None:
    """Fields (text, date, address) and history entries survive the response schema."""
    response = PortalResponse(
        "r", "s", Service.CITIZEN_INFO, PortalStatus.OK, NOW, fields=FIELDS, history=(ENTRY,), next_cursor="c"
    )
    name, record = SCHEMAS.decode(SCHEMAS.encode(PORTAL_RESPONSE, response_record(response)))
    assert name == PORTAL_RESPONSE
    assert [f["value"] for f in record["fields"]][:2] == ["Nguyễn Văn An", date(1990, 5, 17)]
    assert record["fields"][2]["value"]["commune_code"] == "00004"
    assert record["history"][0]["agency_code"] == "000.00.00.G01" and record["next_cursor"] == "c"
