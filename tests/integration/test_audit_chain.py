"""`dancu-bus audit verify` on a real audit topic: intact after real exchanges, precise about tampering."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from confluent_kafka import Message, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from dancu_bus.admin.config import client_config
from dancu_bus.admin.reader import TopicRecord, read_to_end
from dancu_bus.audit import audit_partition
from dancu_bus.settings import KafkaSettings, Settings
from tests.integration.audit_env import exchange_all, verify
from tests.integration.exchange_env import Deployment, running_deployment

pytestmark = pytest.mark.timeout(300)


@dataclass(frozen=True)
class Audited:
    """A deployment after real exchanges, with the audit topic as it stood then."""

    deployment: Deployment
    request_ids: list[str]
    snapshot: list[TopicRecord]


@pytest.fixture(scope="module")
def audited(kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    """One deployment for the module; the snapshot is taken before any test tampers with anything."""
    with running_deployment(kafka_settings, tmp_path_factory.mktemp("audit")) as deployment:
        ids = exchange_all(deployment)
        snapshot = read_to_end(deployment.settings.kafka, deployment.names.audit, 60)
        yield Audited(deployment, ids, snapshot)


def under_prefix(settings: Settings, prefix: str) -> Settings:
    """The same settings with another topic prefix."""
    return settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"topic_prefix": prefix})})


def produce(settings: Settings, topic: str, records: Sequence[TopicRecord]) -> list[int]:
    """Write records to their partitions in order; the offsets they got."""
    offsets: list[int] = []

    def delivered(error: object, message: Message) -> None:
        assert error is None
        offsets.append(message.offset() or 0)

    producer = Producer({**client_config(settings.kafka), "enable.idempotence": True})
    for record in records:
        producer.produce(
            topic, record.value, key=record.key, partition=record.partition, on_delivery=delivered
        )
    assert producer.flush(30) == 0
    return offsets


def copy_of(audited: Audited, name: str, records: Sequence[TopicRecord]) -> Settings:
    """Settings whose audit topic is a new six-partition topic holding ``records``."""
    settings = under_prefix(
        audited.deployment.settings, f"{audited.deployment.settings.kafka.topic_prefix}.{name}"
    )
    topic = f"{settings.kafka.topic_prefix}.audit"
    admin = AdminClient({**client_config(settings.kafka)})
    admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(30)
    produce(settings, topic, records)
    return settings


def key(record: TopicRecord) -> str:
    """A record's key as text: its request id."""
    return (record.key or b"").decode()


def middle_record(audited: Audited) -> tuple[TopicRecord, TopicRecord]:
    """A bank record in the middle of its partition, and the record after it."""
    partition = audit_partition("demo-bank", 6)
    records = [r for r in audited.snapshot if r.partition == partition]
    middle = len(records) // 2
    return records[middle], records[middle + 1]


def test_records_go_to_their_agencys_partition(audited: Audited) -> None:
    """Every exchange is recorded once, in the audit partition of its agency."""
    codec = audited.deployment.codec
    records = [(r.partition, codec.decode_audit(r.value)) for r in audited.snapshot]
    assert sorted(a.request_id for _, a in records) == sorted(audited.request_ids)
    assert all(partition == audit_partition(a.agency, 6) for partition, a in records)


def test_verify_passes_untouched_then_names_an_altered_record(audited: Audited) -> None:
    """The live topic verifies; after an altered copy of one record is produced, verify names exactly it."""
    settings = audited.deployment.settings
    code, out = verify(settings)
    assert code == 0, out
    assert f"{len(audited.snapshot)} records" in out and "intact" in out
    original, _ = middle_record(audited)
    altered = dataclasses.replace(
        audited.deployment.codec.decode_audit(original.value), personal_id="001099999999"
    )
    forged = dataclasses.replace(original, value=audited.deployment.codec.encode_audit(altered))
    (offset,) = produce(settings, audited.deployment.names.audit, [forged])
    exchange_all(audited.deployment, start=500)  # the writer goes on after the forgery
    code, out = verify(settings)
    assert code == 1
    assert f"partition {original.partition}: CHANGED at offset {offset} (exchange {key(original)})" in out


def test_verify_reports_a_removed_record_at_the_gap(audited: Audited) -> None:
    """A copy of the topic without one record fails at the record after it, naming the one that is gone."""
    removed, successor = middle_record(audited)
    settings = copy_of(audited, "without-one", [r for r in audited.snapshot if r != removed])
    copied = read_to_end(settings.kafka, f"{settings.kafka.topic_prefix}.audit", 60)
    (moved,) = [r for r in copied if r.key == successor.key]
    code, out = verify(settings)
    assert code == 1
    assert f"partition {moved.partition}: MISSING at offset {moved.offset} (exchange {key(successor)})" in out
    assert f"(exchange {key(removed)}) is gone" in out


def test_verify_reports_records_deleted_from_the_head(audited: Audited) -> None:
    """Records deleted with the admin API's delete-records are a gap at the first record left."""
    settings = copy_of(audited, "head-cut", audited.snapshot)
    topic = f"{settings.kafka.topic_prefix}.audit"
    partition = audit_partition("demo-bank", 6)
    admin = AdminClient({**client_config(settings.kafka)})
    (future,) = admin.delete_records([KafkaTopicPartition(topic, partition, 3)]).values()
    future.result(30)
    code, out = verify(settings)
    assert code == 1
    assert f"partition {partition}: MISSING at offset 3 " in out
    assert verify(settings, expired_head=True)[0] == 0
