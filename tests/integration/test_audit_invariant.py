"""The audit invariant under forced compaction: one true record per decodable request record (issue 10).

The audit topic of this deployment is compacted as fast as the broker can (segments roll after 100
ms, no compaction lag, tombstones kept 1 s). Request records of every awkward kind go in: request
ids reused back to back and after expiry, exact resends, refusals, undecodable bytes. The audit must
then hold exactly one record per decodable record, keyed by its exchange, with the facts of its own
request, and verify; once one record is deleted (a tombstone, compacted away), verify must name it.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import TopicRecord, read_to_end
from dancu_bus.contracts import AuditRecord, LookupQuery, Request, VerifyQuery
from dancu_bus.exchanges import exchange_id
from dancu_bus.sdk import Client, ClientConfig
from dancu_bus.sdk.requests import build_request
from dancu_bus.settings import KafkaSettings
from tests.contexts import KYC, KYC_LOOKUP
from tests.integration.audit_env import verify
from tests.integration.exchange_env import Deployment, running_deployment
from tests.keys import sdk_keys

pytestmark = pytest.mark.timeout(600)

BANK = "demo-bank"
FAST_COMPACTION = {
    "segment.ms": "100",
    "min.compaction.lag.ms": "0",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "1000",
}


@dataclass(frozen=True)
class Produced:
    """A record put on the bank's request topic and where it landed (None: undecodable bytes)."""

    request: Request | None
    exchange: str


@pytest.fixture
def deployment(kafka_settings: KafkaSettings, tmp_path: Path) -> Iterator[Deployment]:
    """A deployment whose audit topic compacts at once."""
    with running_deployment(kafka_settings, tmp_path) as running:
        admin = AdminClient({**client_config(running.settings.kafka)})
        entries = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in FAST_COMPACTION.items()
        ]
        resource = ConfigResource(ResourceType.TOPIC, running.names.audit, incremental_configs=entries)
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(30)
        yield running


class Bank:
    """Produces raw records on the bank's request topic, each with where the broker put it."""

    def __init__(self, deployment: Deployment) -> None:
        self._deployment = deployment
        self._producer = Producer(client_config(deployment.settings.kafka))

    def send(self, request: Request | None, value: bytes | None = None) -> Produced:
        data = self._deployment.codec.encode_request(request) if request is not None else value
        reports: list[tuple[object, object]] = []
        topic = self._deployment.names.request(BANK)
        self._producer.produce(topic, data, key=b"k", on_delivery=lambda e, m: reports.append((e, m)))
        assert self._producer.flush(30) == 0 and reports and reports[0][0] is None
        message = reports[0][1]
        where = exchange_id(topic, message.partition(), message.offset(), message.timestamp()[1])  # type: ignore[attr-defined]
        return Produced(request, where)


def _requests(deployment: Deployment, bank: Bank) -> list[Produced]:
    """A hundred decodable request records of every awkward kind, and ten undecodable ones."""
    people = deployment.people
    now = datetime.now(UTC)

    def verify_of(n: int, **changes: object) -> Request:
        person = people[n]
        request = build_request(BANK, KYC, VerifyQuery(person.personal_id, person.full_name), 60)
        return dataclasses.replace(request, **changes)  # type: ignore[arg-type]

    sent = [bank.send(verify_of(n)) for n in range(40)]
    for n in range(10):  # a LOOKUP of one person, then a VERIFY of another, under one request id
        lookup = build_request(BANK, KYC_LOOKUP, LookupQuery(people[100 + n].personal_id), 60)
        sent += [bank.send(lookup), bank.send(verify_of(200 + n, request_id=lookup.request_id))]
    short = [verify_of(300 + n, expires_at=datetime.now(UTC) + timedelta(seconds=2)) for n in range(5)]
    sent += [bank.send(r) for r in short]
    time.sleep(3)  # the first requests expire: their ids may be used again
    sent += [bank.send(verify_of(400 + n, request_id=r.request_id)) for n, r in enumerate(short)]
    for n in range(10):  # the same record resent
        again = verify_of(500 + n)
        sent += [bank.send(again), bank.send(again)]
    sent += [bank.send(verify_of(600 + n, purpose_code="")) for n in range(5)]
    sent += [bank.send(verify_of(700 + n, legal_basis="x", sent_at=now)) for n in range(5)]
    sent += [bank.send(None, f"\x00 not a request {n}".encode()) for n in range(10)]
    return sent


def _audit(deployment: Deployment) -> list[tuple[TopicRecord, AuditRecord | None]]:
    records = read_to_end(deployment.settings.kafka, deployment.names.audit, 60)
    return [(r, deployment.codec.decode_audit(r.value) if r.value is not None else None) for r in records]


def _wait_for(deployment: Deployment, exchanges: set[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while {a.exchange_id for _, a in _audit(deployment) if a is not None} < exchanges:
        assert time.monotonic() < deadline, "the audit did not record every exchange in time"
        time.sleep(1)


def _trickle(deployment: Deployment, stop: threading.Event) -> None:
    """Ordinary traffic, so that segments keep rolling and the cleaner has work."""
    person = deployment.people[900]
    with Client(
        ClientConfig(BANK, deployment.settings.kafka, timeout_s=60, answer_keys=sdk_keys(BANK)),
        deployment.codec,
    ) as bank:
        while not stop.is_set():
            bank.verify(VerifyQuery(person.personal_id, person.full_name), KYC)
            stop.wait(0.2)


def test_the_audit_holds_one_true_record_per_request_record_under_compaction(deployment: Deployment) -> None:
    """Reused ids, resends, refusals and noise: one record each, its own facts; a deletion is named."""
    bank = Bank(deployment)
    sent = _requests(deployment, bank)
    decodable = {p.exchange: p.request for p in sent if p.request is not None}
    assert len(decodable) == 100
    _wait_for(deployment, set(decodable))
    stop = threading.Event()
    traffic = threading.Thread(target=_trickle, args=(deployment, stop))
    traffic.start()
    try:
        time.sleep(20)  # the cleaner runs over the audit topic at least once meanwhile
        ours = [(r, a) for r, a in _audit(deployment) if a is not None and a.exchange_id in decodable]
        assert sorted(a.exchange_id for _, a in ours) == sorted(decodable)  # exactly one record each
        for record, audit in ours:
            request = decodable[audit.exchange_id]
            assert request is not None and record.key == audit.exchange_id.encode()
            assert (audit.request_id, audit.operation, audit.personal_id) == (
                request.request_id,
                request.operation,
                request.personal_id,
            )
        code, out = verify(deployment.settings, settle_s=10)
        assert code == 0, out
        deleted = ours[len(ours) // 2][1].exchange_id
        producer = Producer(client_config(deployment.settings.kafka))
        producer.produce(
            deployment.names.audit, None, key=deleted.encode(), partition=ours[len(ours) // 2][0].partition
        )
        assert producer.flush(30) == 0
        deadline = time.monotonic() + 240
        while any(r.key == deleted.encode() for r, _ in _audit(deployment)):
            assert time.monotonic() < deadline, (
                "compaction did not remove the deleted record and its tombstone"
            )
            time.sleep(2)
    finally:
        stop.set()
        traffic.join(60)
    code, out = verify(deployment.settings, settle_s=10)
    assert code == 1
    assert f"(exchange {deleted}) is gone" in out
    assert f"MISSING, no audit record of exchange {deleted}" in out
