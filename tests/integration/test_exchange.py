"""A real exchange on a real broker: SDK → request topic → resolver → response topic → SDK, and the audit."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from confluent_kafka import Producer

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import TopicRecord, read_topic
from dancu_bus.contracts import Request, ResponseStatus
from dancu_bus.demo import read_audit
from dancu_bus.sdk import Client, ClientConfig, LookupQuery, MatchOutcome, Verdict, VerifyQuery
from dancu_bus.settings import KafkaSettings
from dancu_bus.transport.dead_letters import open_original
from tests.contexts import KYC, KYC_LOOKUP, SIM
from tests.integration.exchange_env import Deployment, running_deployment
from tests.keys import OPERATOR_KEYS, sdk_keys

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def deployment(
    kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """One running deployment shared by this module's tests."""
    with running_deployment(kafka_settings, tmp_path_factory.mktemp("exchange")) as running:
        yield running


def client(deployment: Deployment, agency: str = "demo-bank") -> Client:
    return Client(
        ClientConfig(agency, deployment.settings.kafka, timeout_s=60, answer_keys=sdk_keys(agency)),
        deployment.codec,
    )


def test_verify_match_and_mismatch(deployment: Deployment) -> None:
    """What the bank holds is confirmed field by field, and a wrong name is a MISMATCH of that field."""
    person = deployment.people[0]
    with client(deployment) as bank:
        match = bank.verify(
            VerifyQuery(person.personal_id, person.full_name, person.birth_date, person.sex), KYC
        )
        wrong = bank.verify(VerifyQuery(person.personal_id, "Tên Sai", person.birth_date), KYC)
    assert match.ok and match.verdict is Verdict.MATCH
    assert match.fields["full_name"] is MatchOutcome.MATCH
    assert wrong.verdict is Verdict.MISMATCH
    assert wrong.fields["full_name"] is MatchOutcome.MISMATCH
    assert wrong.fields["birth_date"] is MatchOutcome.MATCH


def test_verify_of_unknown_person_is_not_found(deployment: Deployment) -> None:
    """A well-formed id that is not in the store gets NOT_FOUND, not an error."""
    with client(deployment) as bank:
        answer = bank.verify(VerifyQuery("001099999999", "Ai Đó", date(1999, 1, 1)), KYC)
    assert answer.ok and answer.verdict is Verdict.NOT_FOUND


def test_lookup_is_limited_to_the_agencys_fields(deployment: Deployment) -> None:
    """A LOOKUP asking for everything gets exactly the purpose's scope, each field with its provenance."""
    person = deployment.people[1]
    with client(deployment) as bank:
        answer = bank.lookup(LookupQuery(person.personal_id), KYC_LOOKUP)
    assert answer.ok and answer.found
    assert set(answer.fields) == {"full_name", "birth_date", "permanent_address"}
    assert answer.fields["full_name"].value == person.full_name
    assert all(f.source and f.updated_on for f in answer.fields.values())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"purpose_code": ""}, "PURPOSE_MISSING"),
        ({"body": VerifyQuery("0010900123")}, "INVALID_PERSONAL_ID"),
        ({"agency": "demo-province"}, "AGENCY_MISMATCH"),
    ],
)
def test_rejections_have_their_own_reason(
    deployment: Deployment, change: dict[str, object], reason: str
) -> None:
    """Missing purpose, malformed id and a foreign agency claim each get their own code (unknown operations:
    tests/integration/test_hostile.py, as the SDK refuses to send them)."""
    person = deployment.people[2]
    with client(deployment) as bank:
        request = dataclasses.replace(bank.build(VerifyQuery(person.personal_id), KYC), **change)  # type: ignore[arg-type]
        response = bank.request(request)
    assert response.status is ResponseStatus.REJECTED
    assert response.reason_code == reason
    assert response.message_vi and response.message_en


def test_undecodable_bytes_go_to_the_dead_letter_topic(deployment: Deployment) -> None:
    """Bytes that are not a request land in the DLQ: origin, size and hash in clear, the bytes sealed."""
    garbage = b"\xc3\x01 definitely not avro \xff\xfe"
    digest = hashlib.sha256(garbage).hexdigest()
    topic = deployment.names.request("demo-bank")
    producer = Producer(client_config(deployment.settings.kafka))
    producer.produce(topic, garbage, key=b"bad-1")
    assert producer.flush(30) == 0

    def found(records: list[TopicRecord]) -> bool:
        return any(digest.encode() in (r.value or b"") for r in records)

    records = read_topic(deployment.settings.kafka, deployment.names.dead_letters, found, 60)  # type: ignore[arg-type]
    letters = [
        deployment.codec.decode_dead_letter(r.value) for r in records if digest.encode() in (r.value or b"")
    ]
    assert len(letters) == 1
    (letter,) = letters
    assert letter.topic == topic and letter.offset >= 0 and letter.error_code == "UNKNOWN_FINGERPRINT"
    assert (letter.original_key, letter.original_value, letter.key_size, letter.value_size) == (
        None,
        None,
        5,
        len(garbage),
    )
    original = open_original(letter, OPERATOR_KEYS, deployment.codec)
    assert original is not None and (original.key, original.value) == (b"bad-1", garbage)


def bulk(bank: Client, deployment: Deployment, count: int, start: int = 0) -> list[Request]:
    people = deployment.people
    return [
        bank.build(VerifyQuery(p.personal_id, p.full_name, p.birth_date), KYC)
        for p in (people[(start + i) % len(people)] for i in range(count))
    ]


def test_ten_thousand_requests_get_exactly_ten_thousand_responses(deployment: Deployment) -> None:
    """Bulk sending keeps every request answered exactly once, on the wire as well as in the SDK."""
    with client(deployment) as bank:
        requests = bulk(bank, deployment, 10_000)
        responses = list(bank.send_requests(requests))
    sent = {r.request_id for r in requests}
    assert len(responses) == 10_000
    assert {r.request_id for r in responses} == sent
    assert all(r.verify is not None and r.verify.verdict is Verdict.MATCH for r in responses)
    wire = read_topic(
        deployment.settings.kafka,
        deployment.names.response("demo-bank"),
        lambda got: len(sent & {r.key.decode() for r in got if r.key}) == len(sent),
        120,
    )
    keys = [r.key.decode() for r in wire if r.key and r.key.decode() in sent]
    assert len(keys) == 10_000 and len(set(keys)) == 10_000


def test_two_clients_of_one_agency_each_get_their_own(deployment: Deployment) -> None:
    """Two application servers of one agency, running at once, each receive exactly their own responses."""
    results: dict[str, tuple[set[str], set[str]]] = {}

    def run(name: str, start: int) -> None:
        with client(deployment) as bank:
            requests = bulk(bank, deployment, 1_000, start)
            got = [r.request_id for r in bank.send_requests(requests)]
        assert len(got) == len(set(got))
        results[name] = ({r.request_id for r in requests}, set(got))

    threads = [threading.Thread(target=run, args=(n, s)) for n, s in (("a", 0), ("b", 1_500))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results["a"][0] == results["a"][1]
    assert results["b"][0] == results["b"][1]
    assert not results["a"][1] & results["b"][1]


def test_audit_holds_one_record_per_exchange_with_final_status(deployment: Deployment) -> None:
    """Every exchange is in the audit topic once, with the response's status, reason and disclosed fields."""
    person = deployment.people[3]
    with client(deployment) as bank, client(deployment, "demo-telecom") as telecom:
        ok = bank.request(bank.build(LookupQuery(person.personal_id, ("full_name",)), KYC_LOOKUP))
        rejected = bank.request(
            dataclasses.replace(bank.build(VerifyQuery(person.personal_id), KYC), purpose_code="")
        )
        sim = telecom.request(telecom.build(VerifyQuery(person.personal_id, person.full_name), SIM))
    ids = [ok.request_id, rejected.request_id, sim.request_id]
    audits = {a.request_id: a for a in read_audit(deployment.settings.kafka, deployment.codec, ids)}
    assert audits[ok.request_id].status == "OK"
    assert audits[ok.request_id].fields_disclosed == ("full_name",)
    assert audits[ok.request_id].personal_id == person.personal_id
    assert audits[ok.request_id].officer_id == "can-bo-1" and audits[ok.request_id].case_no == "HS-2"
    assert (audits[rejected.request_id].status, audits[rejected.request_id].reason_code) == (
        "REJECTED",
        "PURPOSE_MISSING",
    )
    assert audits[sim.request_id].agency == "demo-telecom" and audits[sim.request_id].fields_disclosed == ()
    keys = {audits[i].exchange_id.encode() for i in ids}
    raw = read_topic(
        deployment.settings.kafka, deployment.names.audit, lambda got: keys <= {r.key for r in got}, 60
    )
    assert sorted(r.key for r in raw if r.key in keys) == sorted(keys)  # keyed by exchange, once each


def test_metrics_and_probes_are_served(deployment: Deployment) -> None:
    """The resolver serves /metrics with its counters, /healthz and /readyz."""
    port = deployment.settings.resolver.metrics_port
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as health:
        assert health.status == 200
    with urllib.request.urlopen(f"{base}/readyz", timeout=5) as ready:
        assert ready.read() == b"ready\n"
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as metrics:
        text = metrics.read().decode()
    served = 'dancu_resolver_requests_total{agency="demo-bank",operation="VERIFY",reason="none",status="OK"}'
    assert served in text


def test_a_restarted_application_collects_what_it_sent_before_without_asking_twice(
    deployment: Deployment,
) -> None:
    """Requests produced by a run that died before reading answers: the next run collects each one."""
    started = datetime.now(UTC)
    with client(deployment) as bank:
        requests = bulk(bank, deployment, 300)
    producer = Producer(client_config(deployment.settings.kafka))
    topic = deployment.names.request("demo-bank")
    for request in requests:  # what the crashed run handed to the broker, its answers never read
        producer.produce(topic, deployment.codec.encode_request(request), key=request.request_id.encode())
    assert producer.flush(30) == 0
    never_sent = str(uuid.uuid4())
    with client(deployment) as restarted:
        collected = restarted.collect([*(r.request_id for r in requests), never_sent], started, wait_s=10)
    assert set(collected.responses) == {r.request_id for r in requests}
    assert all(
        r.verify is not None and r.verify.verdict is Verdict.MATCH for r in collected.responses.values()
    )
    assert collected.missing == [never_sent]  # never on the bus: safe to send again
