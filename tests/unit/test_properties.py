"""Property-based tests (hypothesis): the codec round-trips and refuses cleanly; admission never raises."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from dancu_bus.catalogues import packaged_view
from dancu_bus.contracts import (
    DISCLOSABLE_FIELDS,
    VERIFIABLE_FIELDS,
    Address,
    Citizen,
    DisclosedField,
    FieldMatch,
    LookupQuery,
    LookupResult,
    MatchOutcome,
    Operation,
    Request,
    Response,
    ResponseStatus,
    Verdict,
    VerifyQuery,
    VerifyResult,
)
from dancu_bus.errors import CodecError
from dancu_bus.metrics import ResolverMetrics
from dancu_bus.operations import platform_codec
from dancu_bus.reasons import Reason
from dancu_bus.resolver import Admission, Admitted, Rejection
from dancu_bus.resolver.handler import ResolverHandler
from dancu_bus.store import PopulationStore, check_find
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import Incoming
from tests.keys import sample_directory

CODEC = platform_codec()
DIRECTORY = sample_directory()
NAMES = TopicNames("p.dancu")
HEADERS = [CODEC.schemas.by_name(name).header for name in CODEC.schemas.names()]
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text Avro can carry: any code point but lone surrogates, which UTF-8 cannot encode.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
codes = st.one_of(text, st.sampled_from(["1", "2", "01", "99", "00004", "79", "760", "26734", ""]))
ids = st.one_of(st.from_regex(r"[0-9]{12}", fullmatch=True), text, st.just("001090012345"))
# timestamp-millis and date hold the whole range of Python's datetime and date.
moments = st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)
days = st.dates(date(1, 1, 1), date(9999, 12, 31))
addresses = st.builds(
    Address,
    scheme=st.one_of(st.sampled_from(["DVHC-2004", "DVHC-2025"]), text),
    province_code=codes,
    commune_code=codes,
    district_code=st.none() | codes,
    detail=st.none() | text,
)
verify_queries = st.builds(
    VerifyQuery,
    personal_id=ids,
    full_name=st.none() | text,
    birth_date=st.none() | days,
    sex=st.none() | codes,
    ethnic_group=st.none() | codes,
    phone=st.none() | text,
    permanent_address=st.none() | addresses,
)
lookup_queries = st.builds(
    LookupQuery,
    personal_id=ids,
    fields=st.lists(st.one_of(st.sampled_from(DISCLOSABLE_FIELDS), text), max_size=5).map(tuple),
    address_scheme=st.none() | st.sampled_from(["DVHC-2004", "DVHC-2025"]) | text,
)
requests = st.builds(
    Request,
    request_id=st.uuids().map(str),
    agency=st.one_of(st.sampled_from(DIRECTORY.ids()), text),
    officer_id=text,
    case_no=text,
    purpose_code=st.one_of(st.sampled_from(["KYC", "KYC-LOOKUP", "SIM-OWNER", "PUBLIC-SERVICE", ""]), text),
    legal_basis=text,
    operation=st.one_of(st.sampled_from([o.value for o in Operation]), text),
    sent_at=moments,
    expires_at=moments,
    body=st.none() | verify_queries | lookup_queries,
)
disclosed = st.builds(
    DisclosedField,
    name=text,
    value=st.none() | text | addresses,
    source=text,
    updated_on=days,
    converted_from=st.none() | addresses,
    alternatives=st.lists(addresses, max_size=3).map(tuple),
)
responses = st.builds(
    Response,
    request_id=st.uuids().map(str),
    exchange_id=st.uuids().map(str),
    agency=text,
    operation=text,
    status=st.sampled_from(ResponseStatus),
    answered_at=moments,
    reason_code=st.none() | text,
    message_vi=st.none() | text,
    message_en=st.none() | text,
    result=st.none()
    | st.builds(
        VerifyResult,
        st.sampled_from(Verdict),
        st.lists(
            st.builds(FieldMatch, st.sampled_from(VERIFIABLE_FIELDS), st.sampled_from(MatchOutcome))
        ).map(tuple),
    )
    | st.builds(LookupResult, st.booleans(), st.lists(disclosed, max_size=3).map(tuple)),
)


@PROPERTY
@given(requests)
def test_every_request_round_trips(request: Request) -> None:
    """Any request the contract can hold encodes and decodes back to an equal value."""
    # Whatever operation string an agency writes is read back; the platform's own encoder refuses the
    # ones no registered operation owns, so this writes as any agency could.
    assert CODEC.decode_request(CODEC.encode_foreign_request(request)) == request


@PROPERTY
@given(responses)
def test_every_response_round_trips(response: Response) -> None:
    """Any response the contract can hold encodes and decodes back to an equal value."""
    assert CODEC.decode_response(CODEC.encode_response(response)) == response


def _decoders() -> list[Any]:
    return [CODEC.decode_request, CODEC.decode_response, CODEC.decode_audit, CODEC.decode_dead_letter]


def _decode_or_codec_error(data: bytes) -> None:
    """Decode ``data`` as every message type; anything but a value or a CodecError fails the test."""
    for decode in _decoders():
        with contextlib.suppress(CodecError):
            decode(data)


@PROPERTY
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_codec_error(data: bytes) -> None:
    """Arbitrary bytes are either a message or a CodecError, never another exception."""
    _decode_or_codec_error(data)


@PROPERTY
@given(st.sampled_from(HEADERS), st.binary(max_size=300))
def test_random_bodies_behind_a_known_fingerprint_raise_only_codec_error(header: bytes, body: bytes) -> None:
    """Garbage after a valid schema header (so the Avro reader runs) is still only a CodecError."""
    _decode_or_codec_error(header + body)


@PROPERTY
@given(requests, st.data())
def test_damaged_requests_raise_only_codec_error(request: Request, data: st.DataObject) -> None:
    """A real request truncated or with one byte changed decodes to something or fails as CodecError."""
    encoded = bytearray(CODEC.encode_foreign_request(request))
    cut = data.draw(st.integers(0, len(encoded)))
    _decode_or_codec_error(bytes(encoded[:cut]))
    where = data.draw(st.integers(0, len(encoded) - 1))
    encoded[where] = data.draw(st.integers(0, 255))
    _decode_or_codec_error(bytes(encoded))


@PROPERTY
@given(requests, st.sampled_from([*DIRECTORY.ids(), "nobody"]), moments)
def test_admission_never_raises(request: Request, topic_agency: str, now: datetime) -> None:
    """Whatever a request holds, admission admits it or names one of the known refusal reasons."""
    decision = Admission(DIRECTORY).check(request, topic_agency, now, packaged_view())
    assert isinstance(decision, Admitted | Rejection)
    if isinstance(decision, Rejection):
        assert decision.reason in Reason


class _Store:
    async def get_many(self, personal_ids: Sequence[str]) -> Mapping[str, Citizen]:
        return {}

    async def find_by_name(self, name_key: str, birth_date: date, limit: int) -> Sequence[Citizen]:
        check_find(name_key, limit)
        return []


HANDLER = ResolverHandler(
    CODEC, DIRECTORY, cast(PopulationStore, _Store()), NAMES, ResolverMetrics(CollectorRegistry())
)


@PROPERTY
@given(st.lists(st.one_of(requests.map(CODEC.encode_foreign_request), st.binary(max_size=80)), max_size=8))
def test_the_handler_answers_every_record_once_and_never_raises(values: list[bytes]) -> None:
    """Any batch of requests and garbage gets exactly one response or dead letter per record."""
    batch = [Incoming(NAMES.request("demo-bank"), 0, n, 0, None, v, ()) for n, v in enumerate(values)]
    outgoing = asyncio.run(HANDLER.handle(batch))
    assert len(outgoing) == len(batch)
    assert all(o.topic in {NAMES.response("demo-bank"), NAMES.dead_letters} for o in outgoing)
