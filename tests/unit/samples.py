"""Fixed sample messages shared by unit tests (golden bytes depend on them: change with care)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

from dancu_bus.contracts import (
    Address,
    AuditRecord,
    DeadLetter,
    DisclosedField,
    FieldMatch,
    LookupQuery,
    LookupResult,
    MatchOutcome,
    Request,
    Response,
    ResponseStatus,
    Verdict,
    VerifyQuery,
    VerifyResult,
)

SENT = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
EXPIRES = datetime(2026, 11, 27, 8, 31, tzinfo=UTC)
ADDRESS = Address("DVHC-2025", "01", "00004", None, "Số 12, phố Quán Thánh")

VERIFY_REQUEST = Request(
    request_id="5b0c1f7e-6a51-4d2b-9a7e-2f0a6f1c9d11",
    agency="demo-bank",
    officer_id="can-bo-0042",
    case_no="HS-KYC-2026-0001",
    purpose_code="KYC",
    legal_basis="Luật Phòng, chống rửa tiền 2022, Điều 9",
    operation="VERIFY",
    sent_at=SENT,
    expires_at=EXPIRES,
    body=VerifyQuery("001090012345", "Nguyễn Thị Ánh", date(1990, 5, 17), "2", None, None, ADDRESS),
)

LOOKUP_REQUEST = Request(
    request_id="0f8e2d4c-1b3a-4c5d-8e9f-a0b1c2d3e4f5",
    agency="demo-province",
    officer_id="can-bo-1107",
    case_no="HS-DVC-2026-0815",
    purpose_code="PUBLIC-SERVICE",
    legal_basis="Nghị định 45/2020/NĐ-CP",
    operation="LOOKUP",
    sent_at=SENT,
    expires_at=EXPIRES,
    body=LookupQuery("079201000777", ("full_name", "permanent_address"), "DVHC-2025"),
)

VERIFY_EXCHANGE = "7d1f0e3a-2c4b-5a6d-9e8f-1a2b3c4d5e6f"
LOOKUP_EXCHANGE = "3e9a8b7c-6d5e-5f4a-8b3c-2d1e0f9a8b7c"

OK_RESPONSE = Response(
    request_id=VERIFY_REQUEST.request_id,
    exchange_id=VERIFY_EXCHANGE,
    agency="demo-bank",
    operation="VERIFY",
    status=ResponseStatus.OK,
    answered_at=SENT,
    result=VerifyResult(
        Verdict.MATCH,
        (FieldMatch("full_name", MatchOutcome.MATCH), FieldMatch("phone", MatchOutcome.NOT_SUPPLIED)),
    ),
)

LOOKUP_RESPONSE = Response(
    request_id=LOOKUP_REQUEST.request_id,
    exchange_id=LOOKUP_EXCHANGE,
    agency="demo-province",
    operation="LOOKUP",
    status=ResponseStatus.OK,
    answered_at=SENT,
    result=LookupResult(
        True,
        (
            DisclosedField("full_name", "Lê Văn Bình", "BO-TU-PHAP-HO-TICH", date(2020, 1, 2)),
            DisclosedField("permanent_address", ADDRESS, "BO-CONG-AN-CU-TRU", date(2025, 7, 1)),
        ),
    ),
)

AUDIT = AuditRecord(
    exchange_id=VERIFY_EXCHANGE,
    request_id=VERIFY_REQUEST.request_id,
    received_at=SENT,
    agency="demo-bank",
    claimed_agency="demo-bank",
    officer_id="can-bo-0042",
    case_no="HS-KYC-2026-0001",
    purpose_code="KYC",
    legal_basis="Luật Phòng, chống rửa tiền 2022, Điều 9",
    operation="VERIFY",
    personal_id="001090012345",
    status="OK",
    reason_code=None,
    fields_disclosed=(),
    answered_at=SENT,
    request_topic="ndxp.dancu.req.demo-bank",
    request_partition=2,
    request_offset=41,
    prev_exchange_id=None,
    prev_hash="0" * 64,
    hash="8d989a6a197bb29b983851974a8a9fe64ea6139d3f2e3852ebf4ad0d8fada7fc",
)

# W3C's example trace; the audit record of a request that carried it (its hash covers the trace id).
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
AUDIT_TRACED = dataclasses.replace(
    AUDIT,
    trace_id=TRACE_ID,
    hash="4b857c7b013ddf65196142d444f8ba3fb96e15988ce37427262267c90dee88f9",
)

# A citizen's SMS lookup of their own record (SELF): free, and its record says so (fee 0, hashed).
AUDIT_SELF = dataclasses.replace(
    AUDIT,
    exchange_id="6f1c8a52-3d4e-4b7a-9c0d-1e2f3a4b5c6d",
    request_id="2b7e4c1a-9d3f-4e5b-8a6c-0f1e2d3c4b5a",
    agency="sms",
    claimed_agency="sms",
    officer_id="sms-gateway",
    case_no="SMS-84912345678",
    purpose_code="ART8-SELF",
    legal_basis="Thông tư, Điều 8",
    operation="SELF",
    fields_disclosed=("full_name", "birth_date"),
    request_topic="ndxp.dancu.req.sms",
    request_partition=0,
    request_offset=7,
    fee=0,
    hash="9b6edea773f36ebe24ab564d2e24f6743e3b31de7fe89344517f603f24feaeab",
)

# An investigation's request hidden from the citizen until a date, and its audit record (the hash covers
# the mark and its legal basis).
HIDDEN_UNTIL = datetime(2027, 5, 27, tzinfo=UTC)
HIDING_BASIS = "Bộ luật Tố tụng hình sự 2015, Điều 88"
LOOKUP_HIDDEN = dataclasses.replace(
    LOOKUP_REQUEST, hidden_until=HIDDEN_UNTIL, hiding_legal_basis=HIDING_BASIS
)
AUDIT_HIDDEN = dataclasses.replace(
    AUDIT_TRACED,
    hidden_until=HIDDEN_UNTIL,
    hiding_legal_basis=HIDING_BASIS,
    hash="36feca1d0b5d5507e5ab5a5a959cea434150cde59f5e4f621562690588cb32c5",
)

DEAD = DeadLetter(
    topic="ndxp.dancu.req.demo-bank",
    partition=0,
    offset=7,
    last_offset=7,
    timestamp=SENT,
    original_key=b"k",
    original_value=b"\x00\xffnot avro",
    value_size=10,
    value_sha256="562dc71d3ec440cdc851da2b78990208a3de38294870fabf604010289d703d77",
    headers=(("traceparent", b"00-abc"),),
    headers_dropped=0,
    error_code="NOT_SINGLE_OBJECT",
    error="does not start with C3 01",
    failed_by="resolver",
    failed_at=SENT,
)
