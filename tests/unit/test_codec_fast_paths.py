"""The codec's shortcuts write exactly the bytes fastavro writes from plain records."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fastavro
import pytest

from dancu_bus.codec.messages import REQUEST, RESPONSE, _Operations, _request_record, _response_record
from dancu_bus.contracts import (
    VERIFIABLE_FIELDS,
    Address,
    DisclosedField,
    FieldMatch,
    LookupResult,
    MatchOutcome,
    Request,
    Response,
    ResponseStatus,
    Verdict,
    VerifyQuery,
    VerifyResult,
)
from dancu_bus.operations import OPERATIONS, VERIFY, platform_codec

CODEC = platform_codec()
OLD = Address("DVHC-2004", "01", "00004", "001", "Số 12")
NEW = Address("DVHC-2025", "01", "00004", None, "Số 12")
MOMENTS = [
    datetime(2026, 11, 27, 11, 30, 5, 999_999, tzinfo=UTC),
    datetime(2026, 11, 27, 18, 30, 5, 1, tzinfo=UTC) + timedelta(hours=7),
    datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
]


def _plain(value: Any, moments: dict[str, datetime]) -> Any:
    """A record as fastavro takes it without shortcuts: no (branch, record) tuples, datetimes as such."""
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], dict)
    ):
        return _plain(value[1], moments)
    if isinstance(value, dict):
        return {k: moments.get(k, _plain(v, moments)) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, moments) for v in value]
    return value


def _fastavro(name: str, record: dict[str, Any]) -> bytes:
    schema = CODEC.schemas.by_name(name)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    return schema.header + buffer.getvalue()


def _response(moment: datetime, verify: VerifyResult | None, lookup: LookupResult | None) -> Response:
    status = ResponseStatus.OK
    return Response(
        "6f1c7c2e-8a51-4c1a-9bb1-0d6f4d0c6a11",
        "0a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d",
        "demo-bank",
        "VERIFY",
        status,
        moment,
        None,
        None,
        None,
        verify or lookup,
    )


VERIFIED = VerifyResult(
    Verdict.MISMATCH, tuple(FieldMatch(f, MatchOutcome.MISMATCH) for f in VERIFIABLE_FIELDS)
)
CONVERTED = LookupResult(
    True,
    (
        DisclosedField("full_name", "Nguyễn Văn An", "CSDLQG-DC", date(2023, 1, 2)),
        DisclosedField("permanent_address", OLD, "BO-CONG-AN-CU-TRU", date(2025, 9, 1), NEW, (OLD, OLD)),
        DisclosedField("phone", None, "NHA-MANG", date(2024, 2, 3)),
    ),
)


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize(
    ("verify", "lookup"), [(VERIFIED, None), (None, CONVERTED), (None, LookupResult(False))]
)
def test_response_bytes_equal_plain_fastavro(moment: datetime, verify: Any, lookup: Any) -> None:
    """Named union branches and timestamps given as milliseconds change no byte of a response."""
    response = _response(moment, verify, lookup)
    plain = _plain(_response_record(response, _Operations(OPERATIONS)), {"answered_at": moment})
    data = CODEC.encode_response(response)
    assert data == _fastavro(RESPONSE, plain)
    assert CODEC.encode_response(CODEC.decode_response(data)) == data


@pytest.mark.parametrize("moment", MOMENTS)
def test_request_timestamps_equal_plain_fastavro(moment: datetime) -> None:
    """Request timestamps written as milliseconds are the bytes fastavro writes for the datetimes."""
    later = moment + timedelta(seconds=10, microseconds=1)
    body = VerifyQuery("001090012345", "Nguyễn Văn An", date(1990, 1, 1))
    request = Request(
        "6f1c7c2e-8a51-4c1a-9bb1-0d6f4d0c6a11",
        "demo-bank",
        "o",
        "c",
        "KYC",
        "b",
        "VERIFY",
        moment,
        later,
        body,
    )
    plain = _plain(
        _request_record(request, ("vn.dancu.VerifyBody", VERIFY.body_record(body))),
        {"sent_at": moment, "expires_at": later},
    )
    assert CODEC.encode_request(request) == _fastavro(REQUEST, plain)
