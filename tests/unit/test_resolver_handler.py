"""The resolver's batch handler with a fake store: one output per record, in order, whatever comes in."""

from __future__ import annotations

import dataclasses
import hashlib
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from dancu_bus.contracts import Citizen, Request, VerifyQuery
from dancu_bus.errors import StoreError
from dancu_bus.keys import PublicKey
from dancu_bus.metrics import ResolverMetrics
from dancu_bus.operations import platform_codec
from dancu_bus.resolver.handler import HandlerOptions, ResolverHandler
from dancu_bus.resolver.policy import AdmissionLimits
from dancu_bus.store import PopulationStore, check_find
from dancu_bus.topic_names import TopicNames
from dancu_bus.transport import DeadLetters, Incoming, Outgoing, Unreadable
from dancu_bus.transport.dead_letters import open_original
from tests.keys import OPERATOR_KEY, OPERATOR_KEYS, sample_directory
from tests.unit import samples

CODEC = platform_codec()
NAMES = TopicNames("t.dancu")
NAME = VerifyQuery("001090012345", "Nguyễn Thị Ánh")
DIRECTORY = sample_directory()


class Store:
    """Answers from nobody; raises ``error`` for the next ``failures`` calls."""

    def __init__(self, error: StoreError | None = None, failures: int = 0) -> None:
        self._error = error
        self._failures = failures
        self.calls = 0

    async def get_many(self, personal_ids: Sequence[str]) -> Mapping[str, Citizen]:
        self._call()
        return {}

    async def find_by_name(self, name_key: str, birth_date: date, limit: int) -> Sequence[Citizen]:
        check_find(name_key, limit)
        self._call()
        return []

    def _call(self) -> None:
        self.calls += 1
        if self._error is not None and self._failures > 0:
            self._failures -= 1
            raise self._error


def handler(
    store: Store | None = None, limits: AdmissionLimits | None = None, operator_key: PublicKey | None = None
) -> ResolverHandler:
    """A handler over the demo agencies and the packaged catalogues."""
    metrics = ResolverMetrics(CollectorRegistry())
    population = cast(PopulationStore, store or Store())
    letters = DeadLetters(CODEC, operator_key, "resolver")
    options = HandlerOptions(limits=limits or AdmissionLimits(), dead_letters=letters)
    return ResolverHandler(CODEC, DIRECTORY, population, NAMES, metrics, options)


def request(agency: str = "demo-bank", **changes: Any) -> Request:
    """A fresh, valid VERIFY of ``agency`` with a new request id."""
    now = datetime.now(UTC)
    base = dataclasses.replace(
        samples.VERIFY_REQUEST,
        request_id=str(uuid.uuid4()),
        agency=agency,
        sent_at=now,
        expires_at=now + timedelta(minutes=1),
        body=dataclasses.replace(samples.VERIFY_REQUEST.body, permanent_address=None),  # type: ignore[type-var]
    )
    return dataclasses.replace(base, **changes)


def incoming(value: bytes | None, offset: int = 0, agency: str = "demo-bank") -> Incoming:
    """A record of ``agency``'s request topic."""
    return Incoming(NAMES.request(agency), 0, offset, 0, b"key", value, ())


def kinds(outgoing: Sequence[Outgoing]) -> list[str]:
    """Per output: the reason code or status of a response, or the error code of a dead letter."""
    found = []
    for out in outgoing:
        if out.topic == NAMES.dead_letters:
            found.append(CODEC.decode_dead_letter(out.value).error_code)
        else:
            response = CODEC.decode_response(out.value)
            found.append(response.reason_code or response.status.value)
    return found


async def test_outputs_follow_the_records_one_for_one() -> None:
    """Dead letters stay in the place of their record among the responses, so each lane gets its own."""
    batch = [
        incoming(CODEC.encode_request(request()), 0),
        incoming(b"\x00garbage", 1),
        incoming(CODEC.encode_request(request(agency="demo-province")), 2),
        incoming(CODEC.encode_request(request()), 3, agency="nobody"),
    ]
    assert kinds(await handler().handle(batch)) == [
        "OK",
        "NOT_SINGLE_OBJECT",
        "AGENCY_MISMATCH",
        "UNKNOWN_AGENCY",
    ]


async def test_a_repeated_request_id_is_rejected_but_a_replay_is_not() -> None:
    """Another record with a still valid request id is DUPLICATE_REQUEST; the same one again is answered."""
    value = CODEC.encode_request(request())
    resolver = handler()
    first = await resolver.handle([incoming(value, 7)])
    again = await resolver.handle([incoming(value, 7), incoming(value, 8)])
    assert kinds(first) == ["OK"] and kinds(again) == ["OK", "DUPLICATE_REQUEST"]


async def test_an_oversized_request_is_refused_counting_key_value_and_headers() -> None:
    """A record over the limit, by its value or by its headers alone, is refused with its size."""
    small = CODEC.encode_request(request())
    large_value = incoming(CODEC.encode_request(request(officer_id="x" * 5000)))
    large_header = dataclasses.replace(incoming(small, 1), headers=(("traceparent", b"0" * 5000),))
    outs = await handler(limits=AdmissionLimits(max_request_bytes=4096)).handle([large_value, large_header])
    for out in outs:
        response = CODEC.decode_response(out.value)
        assert response.reason_code == "REQUEST_TOO_LARGE" and "at most 4096" in (response.message_en or "")
        assert dict(out.headers).get("traceparent") is None


async def test_only_a_well_formed_trace_context_is_carried_into_the_response() -> None:
    """A valid traceparent is echoed; a malformed one and every other header of the agency are not."""
    parent = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    good = dataclasses.replace(
        incoming(CODEC.encode_request(request()), 0), headers=(("traceparent", parent), ("x-evil", b"1"))
    )
    bad = dataclasses.replace(
        incoming(CODEC.encode_request(request()), 1), headers=(("traceparent", b"00-zz"),)
    )
    first, second = await handler().handle([good, bad])
    assert dict(first.headers)["traceparent"] == parent and "x-evil" not in dict(first.headers)
    assert "traceparent" not in dict(second.headers)


async def test_every_answer_carries_the_exchange_of_its_record() -> None:
    """Two records with one request id are two exchanges; the refusal names the first one's."""
    value = CODEC.encode_request(request())
    first, second = [
        CODEC.decode_response(o.value)
        for o in await handler().handle([incoming(value, 3), incoming(value, 4)])
    ]
    assert first.exchange_id != second.exchange_id
    assert second.reason_code == "DUPLICATE_REQUEST" and first.exchange_id in (second.message_en or "")


async def test_an_unreadable_batch_is_dead_lettered_with_its_offset_range() -> None:
    """The stand-in for a batch the client could not unpack becomes one dead letter naming its offsets."""
    marker = Incoming(
        NAMES.request("demo-bank"), 2, 40, -1, None, None, (), unreadable=Unreadable(31, 40, "codec")
    )
    [out] = await handler().handle([marker])
    letter = CODEC.decode_dead_letter(out.value)
    assert (letter.error_code, letter.partition, letter.offset, letter.last_offset) == (
        "UNREADABLE_BATCH",
        2,
        31,
        40,
    )


async def test_a_store_down_for_good_dead_letters_only_the_admitted() -> None:
    """A non-retriable store error dead-letters the requests that needed it; refusals are still answered."""
    store = Store(StoreError("corrupt", retriable=False), failures=1)
    batch = [
        incoming(CODEC.encode_request(request()), 0),
        incoming(CODEC.encode_request(request(purpose_code="")), 1),
    ]
    assert kinds(await handler(store).handle(batch)) == ["STORE_FAILED", "PURPOSE_MISSING"]


async def test_a_briefly_unavailable_store_raises_and_spends_no_quota() -> None:
    """A retriable store error goes up for the worker to retry; the retry is not refused for quota."""
    store = Store(StoreError("database is locked", retriable=True), failures=3)
    resolver = handler(store)
    basis = "Luật Công chứng 2024, Điều 42"
    notary = [
        request(agency="demo-notary", purpose_code="NOTARISATION", legal_basis=basis, body=NAME)
        for _ in range(5)
    ]
    batch = [incoming(CODEC.encode_request(r), i, agency="demo-notary") for i, r in enumerate(notary)]
    for _ in range(3):
        with pytest.raises(StoreError):
            await resolver.handle(batch)
    assert kinds(await resolver.handle(batch)) == ["OK"] * 5  # the notary's quota is 5 per second


async def test_a_set_aside_record_keeps_at_most_64_kib_of_its_value_sealed() -> None:
    """Set aside after failing alone: dead-lettered with size and hash; 64 KiB and small headers sealed."""
    record = dataclasses.replace(incoming(b"v" * 100_000), headers=(("big", b"h" * 10_000), ("small", b"s")))
    letter = CODEC.decode_dead_letter(
        handler(operator_key=OPERATOR_KEY).set_aside(record, "ValueError: x").value
    )
    assert letter.error_code == "HANDLER_FAILED" and letter.original_value is None and letter.headers == ()
    assert letter.value_size == 100_000 and letter.value_sha256 == hashlib.sha256(b"v" * 100_000).hexdigest()
    assert letter.headers_dropped == 2 and letter.sealed is not None
    original = open_original(letter, OPERATOR_KEYS, CODEC)
    assert original is not None and original.value == b"v" * 64 * 1024
    assert original.headers == (("small", b"s"),) and original.error == "ValueError: x"


HOSTILE_NAME = "Nguyễn Thị Ánh"
HOSTILE_ID = "001090012345"


@pytest.mark.parametrize("sealed", [True, False], ids=["operator-key", "no-operator-key"])
async def test_a_hostile_record_with_a_name_and_an_id_leaves_neither_in_clear(sealed: bool) -> None:
    """Name and id in the key, a header's key and value, and the bytes: none of them in the dead letter's
    record (its key is the record's coordinates); the operators' key opens them, without it they are gone."""
    spelled = (HOSTILE_NAME, unicodedata.normalize("NFD", HOSTILE_NAME), HOSTILE_ID)
    value = f"\xc3\x01 {HOSTILE_NAME} {HOSTILE_ID}".encode()
    record = dataclasses.replace(
        incoming(value),
        key=HOSTILE_ID.encode(),
        headers=(
            (HOSTILE_NAME, HOSTILE_ID.encode()),
            ("x-name", unicodedata.normalize("NFD", HOSTILE_NAME).encode()),
        ),
    )
    (out,) = await handler(operator_key=OPERATOR_KEY if sealed else None).handle([record])
    assert out.topic == NAMES.dead_letters and out.key == f"{record.topic}/0/{record.offset}".encode()
    clear = (out.key or b"") + (out.value or b"") + b"".join(k.encode() + v for k, v in out.headers)
    for secret in spelled:
        assert secret.encode() not in clear, secret
    letter = CODEC.decode_dead_letter(out.value)
    assert letter.error_code == "NOT_SINGLE_OBJECT" and letter.key_size == len(HOSTILE_ID)
    original = open_original(letter, OPERATOR_KEYS, CODEC)
    if sealed:
        assert original is not None and original.key == HOSTILE_ID.encode() and original.value == value
        assert original.headers[0] == (HOSTILE_NAME, HOSTILE_ID.encode())
    else:
        assert original is None and letter.sealed is None
