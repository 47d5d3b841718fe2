"""Hostile input through the real resolver on the real broker: each gets its rejection or dead letter.

Every test sends something an agency (or an attacker with its credentials) could put on its request
topic, raw bytes included, and checks what came back on the wire; the last one checks that the
resolver and the audit consumer are still serving normal requests correctly, and never failed.
"""

from __future__ import annotations

import dataclasses
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from confluent_kafka import Producer

from dancu_bus.admin import describe
from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import TopicRecord, read_topic
from dancu_bus.contracts import DeadLetter, Request, Response, ResponseStatus
from dancu_bus.demo import read_audit
from dancu_bus.errors import CodecError
from dancu_bus.sdk import Client, ClientConfig, MatchOutcome, Verdict, VerifyQuery
from dancu_bus.settings import KafkaSettings
from tests.contexts import KYC, NOTARY
from tests.integration.exchange_env import Deployment, running_deployment
from tests.unit import samples

pytestmark = [pytest.mark.hostile, pytest.mark.timeout(300)]

BANK = "demo-bank"
FIVE_MB = 5 * 1024 * 1024
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def deployment(
    kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """One running deployment shared by this module's tests."""
    with running_deployment(kafka_settings, tmp_path_factory.mktemp("hostile")) as running:
        yield running


# -- sending raw records and reading what came back


def produce(deployment: Deployment, value: bytes | None, key: bytes | None, agency: str = BANK) -> None:
    """Put one raw record on ``agency``'s request topic, as large as the broker takes."""
    producer = Producer({**client_config(deployment.settings.kafka), "message.max.bytes": 8_000_000})
    producer.produce(deployment.names.request(agency), value, key=key)
    assert producer.flush(30) == 0


def responses(deployment: Deployment, request_id: str, count: int = 1, agency: str = BANK) -> list[Response]:
    """The responses to ``request_id`` on the wire, once ``count`` of them are there (committed ones only)."""
    key = request_id.encode()

    def done(records: Sequence[TopicRecord]) -> bool:
        return sum(r.key == key for r in records) >= count

    found = read_topic(deployment.settings.kafka, deployment.names.response(agency), done, 60)
    return [deployment.codec.decode_response(r.value) for r in found if r.key == key]


def dead_letter(deployment: Deployment, key: bytes) -> DeadLetter:
    """The one dead letter of the record produced with ``key``."""

    def done(records: Sequence[TopicRecord]) -> bool:
        return any(r.key == key for r in records)

    found = read_topic(deployment.settings.kafka, deployment.names.dead_letters, done, 60)
    letters = [deployment.codec.decode_dead_letter(r.value) for r in found if r.key == key]
    assert len(letters) == 1
    return letters[0]


def person_request(deployment: Deployment, **body: object) -> Request:
    """A valid VERIFY of the bank about a seeded person, with body fields replaced."""
    person = deployment.people[0]
    query = VerifyQuery(person.personal_id, person.full_name, person.birth_date)
    now = datetime.now(UTC)
    return Request(
        str(uuid.uuid4()), BANK, "can-bo-1", "HS-1", "KYC", "Luật PCRT 2022", "VERIFY",
        now, now + timedelta(minutes=5), dataclasses.replace(query, **body),  # type: ignore[arg-type]
    )  # fmt: skip


# -- Avro written by hand, for bytes no well-behaved encoder produces


def zigzag(number: int) -> bytes:
    """An Avro int or long: zig-zag, then 7 bits per byte, low first."""
    value = (number << 1) ^ (number >> 63)
    out = bytearray()
    while value & ~0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def avro_string(raw: bytes) -> bytes:
    """An Avro string or bytes: its length, then the bytes as given (valid UTF-8 or not)."""
    return zigzag(len(raw)) + raw


def verify_bytes(
    deployment: Deployment,
    request_id: str,
    *,
    name: bytes = "Nguyễn Văn An".encode(),
    birth_days: int = 7305,
    sent_ms: int | None = None,
    body_branch: int = 1,
) -> bytes:
    """A VERIFY request framed and encoded field by field (schemas/request.avsc order)."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    header = deployment.codec.schemas.by_name("vn.dancu.Request").header
    envelope = b"".join(
        avro_string(text.encode()) for text in (request_id, BANK, "can-bo-1", "HS-1", "KYC", "Luật", "VERIFY")
    )
    times = zigzag(now_ms if sent_ms is None else sent_ms) + zigzag(now_ms + 300_000)
    person = deployment.people[0].personal_id.encode()
    body = avro_string(person) + zigzag(1) + avro_string(name) + zigzag(1) + zigzag(birth_days) + b"\x00" * 4
    return header + envelope + times + zigzag(body_branch) + body


def test_hand_written_avro_is_what_the_codec_reads(deployment: Deployment) -> None:
    """The hand encoder is right: well-formed values decode to the request they describe."""
    request_id = str(uuid.uuid4())
    request = deployment.codec.decode_request(verify_bytes(deployment, request_id))
    assert request.request_id == request_id and request.agency == BANK
    assert isinstance(request.body, VerifyQuery) and request.body.birth_date == date(1990, 1, 1)
    assert request.body.full_name == "Nguyễn Văn An"


# -- bytes that are no request: dead letters with the original bytes


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("truncated", "BAD_BODY"),
        ("wrong fingerprint", "UNKNOWN_FINGERPRINT"),
        ("an audit record", "WRONG_SCHEMA"),
        ("invalid UTF-8 in full_name", "BAD_BODY"),
        ("birth_date beyond year 9999", "BAD_BODY"),
        ("sent_at beyond any calendar", "BAD_BODY"),
        ("union branch 7 of 3", "BAD_BODY"),
        ("null value", "EMPTY"),
        ("five megabytes of noise", "NOT_SINGLE_OBJECT"),
    ],
)
def test_undecodable_records_are_dead_lettered_whole(deployment: Deployment, case: str, code: str) -> None:
    """Bytes that decode to no request go to the DLQ with their exact bytes, key, origin and reason."""
    request_id = str(uuid.uuid4())
    valid = verify_bytes(deployment, request_id)
    value = {
        "truncated": valid[: len(valid) // 2],
        "wrong fingerprint": valid[:2] + bytes(8) + valid[10:],
        "an audit record": deployment.codec.encode_audit(samples.AUDIT),
        "invalid UTF-8 in full_name": verify_bytes(deployment, request_id, name=b"Nguy\xff\xfe\xc3n"),
        "birth_date beyond year 9999": verify_bytes(deployment, request_id, birth_days=3_000_000),
        "sent_at beyond any calendar": verify_bytes(deployment, request_id, sent_ms=2**62),
        "union branch 7 of 3": verify_bytes(deployment, request_id, body_branch=7),
        "null value": None,
        "five megabytes of noise": b"\x00" * FIVE_MB,
    }[case]
    key = f"hostile-{uuid.uuid4()}".encode()
    produce(deployment, value, key)
    letter = dead_letter(deployment, key)
    assert letter.error_code == code, letter.error
    assert letter.original_value == value and letter.original_key == key
    assert letter.topic == deployment.names.request(BANK) and letter.failed_by == "resolver"


def test_an_unknown_enum_symbol_is_refused_by_the_codec_and_skipped_by_the_audit(
    deployment: Deployment,
) -> None:
    """A response whose status enum index is 9 of 2 fails to decode, and the audit goes past it."""
    header = deployment.codec.schemas.by_name("vn.dancu.Response").header
    envelope = b"".join(avro_string(t.encode()) for t in (str(uuid.uuid4()), BANK, "VERIFY"))
    value = header + envelope + zigzag(9) + b"\x00\x00\x00" + zigzag(0) + b"\x00\x00"
    with pytest.raises(CodecError, match="BAD_BODY"):
        deployment.codec.decode_response(value)
    producer = Producer(client_config(deployment.settings.kafka))
    producer.produce(deployment.names.response(BANK), value, key=b"enum-9")
    assert producer.flush(30) == 0
    port = deployment.settings.audit.metrics_port
    deadline = time.monotonic() + 60
    while 'dancu_audit_undecodable_total{error_code="BAD_BODY"}' not in _metrics(port):
        assert time.monotonic() < deadline, "the audit consumer never saw the record"
        time.sleep(0.5)


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as served:
        return str(served.read().decode())


def test_the_request_topics_take_five_megabytes(deployment: Deployment) -> None:
    """The broker accepts the 5 MB records these tests send (max.message.bytes of the request topic)."""
    topic = deployment.names.request(BANK)
    configs = describe(deployment.settings.kafka, [topic])[topic].configs
    assert int(configs["max.message.bytes"]) > FIVE_MB + 1024


# -- requests that decode: each gets its own answer


@pytest.mark.parametrize("field", ["full_name", "officer_id"])
def test_a_five_megabyte_request_is_refused_as_malformed(deployment: Deployment, field: str) -> None:
    """A decodable 5 MB request (in its body or its envelope) is refused MALFORMED_REQUEST, with its size."""
    request = person_request(deployment)
    if field == "full_name":
        request = person_request(deployment, full_name="Ấ" * (FIVE_MB // 3))
    else:
        request = dataclasses.replace(request, officer_id="x" * FIVE_MB)
    produce(deployment, deployment.codec.encode_request(request), request.request_id.encode())
    [response] = responses(deployment, request.request_id)
    assert response.reason_code == "MALFORMED_REQUEST" and "bytes, more than" in (response.message_en or "")


@pytest.mark.parametrize(
    "name",
    [
        "Robert'); DROP TABLE citizens;--",
        "' OR '1'='1",
        "x\x00y\x1b[31m\u202eredro\r\n\t",
        '"; SELECT * FROM citizens; --',
    ],
)
def test_names_with_sql_or_control_characters_are_just_mismatches(deployment: Deployment, name: str) -> None:
    """A hostile name is compared like any other: MISMATCH of full_name, the store untouched."""
    request = person_request(deployment, full_name=name)
    produce(deployment, deployment.codec.encode_request(request), request.request_id.encode())
    [response] = responses(deployment, request.request_id)
    assert response.status is ResponseStatus.OK and response.verify is not None
    assert response.verify.verdict is Verdict.MISMATCH
    outcomes = {m.field: m.outcome for m in response.verify.fields}
    assert outcomes["full_name"] is MatchOutcome.MISMATCH and outcomes["birth_date"] is MatchOutcome.MATCH


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"birth_date": date(9999, 12, 31)}, "MISMATCH"),
        ({"birth_date": EPOCH.date() - timedelta(days=1000)}, "MISMATCH"),
        ({"birth_date": date(1, 1, 1)}, "MISMATCH"),
        ({"sent_at": datetime(1, 1, 1, tzinfo=UTC)}, "MATCH"),
        ({"expires_at": EPOCH}, "EXPIRED"),
        ({"expires_at": datetime(9999, 12, 31, tzinfo=UTC)}, "MATCH"),
        ({"operation": "DROP TABLE"}, "UNKNOWN_OPERATION"),
        ({"operation": ""}, "UNKNOWN_OPERATION"),
    ],
)
def test_dates_out_of_range_and_unknown_operations_are_answered(
    deployment: Deployment, change: dict[str, object], expected: str
) -> None:
    """Far birth dates mismatch, a past deadline is EXPIRED, an unknown operation is named as such."""
    request = person_request(deployment)
    body = {k: v for k, v in change.items() if k == "birth_date"}
    request = dataclasses.replace(request, **{k: v for k, v in change.items() if k != "birth_date"})  # type: ignore[arg-type]
    if body:
        request = dataclasses.replace(request, body=dataclasses.replace(request.body, **body))  # type: ignore[type-var]
    produce(deployment, deployment.codec.encode_request(request), request.request_id.encode())
    [response] = responses(deployment, request.request_id)
    verdict = response.verify.verdict.value if response.verify is not None else None
    assert (response.reason_code or verdict) == expected


@pytest.mark.parametrize("key", [b"", None, b"\x00\xff not the request id"])
def test_empty_or_odd_keys_do_not_matter(deployment: Deployment, key: bytes | None) -> None:
    """The request id is in the value: a request with an empty, null or foreign key is answered normally."""
    request = person_request(deployment)
    produce(deployment, deployment.codec.encode_request(request), key)
    [response] = responses(deployment, request.request_id)
    assert response.verify is not None and response.verify.verdict is Verdict.MATCH


def test_a_repeated_request_id_gets_one_answer_and_one_refusal(deployment: Deployment) -> None:
    """Two records with one request id: the first is answered, the second refused DUPLICATE_REQUEST."""
    request = person_request(deployment)
    value = deployment.codec.encode_request(request)
    produce(deployment, value, request.request_id.encode())
    produce(deployment, value, request.request_id.encode())
    first, second = responses(deployment, request.request_id, count=2)
    assert first.verify is not None and first.verify.verdict is Verdict.MATCH
    assert second.reason_code == "DUPLICATE_REQUEST"


def test_a_flooding_agency_is_held_to_its_quota_while_others_are_served(deployment: Deployment) -> None:
    """The notary (5/s) flooding gets QUOTA_EXCEEDED, and the bank's requests meanwhile are all served."""
    people = deployment.people
    kafka = deployment.settings.kafka
    with (
        Client(ClientConfig("demo-notary", kafka, timeout_s=60), deployment.codec) as notary,
        Client(ClientConfig(BANK, kafka, timeout_s=60), deployment.codec) as bank,
    ):
        flood = [notary.build(VerifyQuery(p.personal_id, p.full_name), NOTARY) for p in people[:300]]
        with ThreadPoolExecutor(1) as flooding:
            answered = flooding.submit(lambda: list(notary.send_many(flood)))
            served = list(bank.send_many(bank.build(VerifyQuery(p.personal_id), KYC) for p in people[:100]))
            refused = [r.reason_code for r in answered.result(timeout=120)]
    assert refused.count("QUOTA_EXCEEDED") >= 200 and set(refused) <= {None, "QUOTA_EXCEEDED"}
    assert len(served) == 100 and all(r.status is ResponseStatus.OK for r in served)


def test_afterwards_normal_requests_are_answered_and_nothing_failed(deployment: Deployment) -> None:
    """After all of the above, the resolver and the audit answer normally, and no worker ever failed."""
    person = deployment.people[5]
    with Client(ClientConfig(BANK, deployment.settings.kafka, timeout_s=60), deployment.codec) as bank:
        answer = bank.verify(VerifyQuery(person.personal_id, person.full_name, person.birth_date), KYC)
        wrong = bank.verify(VerifyQuery(person.personal_id, "Tên Khác"), KYC)
    assert answer.verdict is Verdict.MATCH and wrong.verdict is Verdict.MISMATCH
    audited = read_audit(deployment.settings.kafka, deployment.codec, [answer.request_id, wrong.request_id])
    assert [a.status for a in audited] == ["OK", "OK"]
    for port, metric in (
        (deployment.settings.resolver.metrics_port, "dancu_resolver_worker_failures_total"),
        (deployment.settings.audit.metrics_port, "dancu_audit_worker_failures_total"),
    ):
        assert f"{metric}{{" not in _metrics(port)
