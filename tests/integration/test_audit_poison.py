"""The audit consumer steps over records on response topics it cannot read, on a real broker.

Only the resolver writes response topics, so nobody but the audit accounts for a record there that is
no response: it is dead-lettered by the audit, its offset committed past, and the exchanges after it
are recorded in an intact chain, without the worker failing or reading the record again.
"""

from __future__ import annotations

import dataclasses
import time
import urllib.request
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import read_to_end
from dancu_bus.contracts import DeadLetter
from dancu_bus.demo import read_audit
from dancu_bus.settings import KafkaSettings
from tests.contexts import KYC
from tests.integration.audit_env import exchange, verify
from tests.integration.exchange_env import Deployment, running_deployment
from tests.unit import samples

pytestmark = pytest.mark.timeout(300)

BANK = "demo-bank"


@pytest.fixture(scope="module")
def deployment(
    kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """A running deployment of its own for this module."""
    with running_deployment(kafka_settings, tmp_path_factory.mktemp("audit-poison")) as running:
        yield running


def produce_poison(deployment: Deployment) -> dict[int, bytes]:
    """Noise, and a request single object, on two partitions of the bank's response topic; by partition."""
    request = deployment.codec.encode_request(dataclasses.replace(samples.VERIFY_REQUEST, agency=BANK))
    poison = {0: b"\x00not an avro single object", 1: request}
    producer = Producer({**client_config(deployment.settings.kafka), "enable.idempotence": True})
    for partition, value in poison.items():
        producer.produce(deployment.names.response(BANK), value, key=b"poison", partition=partition)
    assert producer.flush(30) == 0
    return poison


def audit_letters(deployment: Deployment, count: int, timeout_s: float = 60) -> list[DeadLetter]:
    """The audit's dead letters, once there are at least ``count`` of them."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = read_to_end(deployment.settings.kafka, deployment.names.dead_letters, 30)
        letters = [deployment.codec.decode_dead_letter(r.value) for r in records]
        ours = [d for d in letters if d.failed_by == "audit"]
        if len(ours) >= count or time.monotonic() > deadline:
            return ours
        time.sleep(0.5)


def worker_failures(deployment: Deployment) -> float:
    """How often the audit's worker failed and was restarted, from its /metrics."""
    port = deployment.settings.audit.metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as metrics:
        lines = metrics.read().decode().splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("dancu_audit_worker_failures_total{")
    )


def test_poison_on_a_response_topic_is_dead_lettered_and_the_exchanges_after_it_are_audited(
    deployment: Deployment,
) -> None:
    """Two unreadable responses become the audit's dead letters; 30 exchanges around them chain intact."""
    before = exchange(deployment, BANK, KYC, 10, 0)
    poison = produce_poison(deployment)
    after = exchange(deployment, BANK, KYC, 20, 10)
    audited = read_audit(deployment.settings.kafka, deployment.codec, before + after, timeout_s=120)
    assert sorted(a.request_id for a in audited) == sorted(before + after)
    letters = audit_letters(deployment, len(poison))
    assert sorted((d.topic, d.partition, d.error_code) for d in letters) == [
        (deployment.names.response(BANK), 0, "NOT_SINGLE_OBJECT"),
        (deployment.names.response(BANK), 1, "WRONG_SCHEMA"),
    ]
    assert {d.value_size for d in letters} == {len(v) for v in poison.values()}
    assert worker_failures(deployment) == 0
    code, out = verify(deployment.settings)
    assert code == 0, out
