"""Fenced writers as audit partitions on a real broker: a takeover fences the old one, resumes at the tail."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiokafka.errors import KafkaError
from confluent_kafka.admin import AdminClient, NewTopic

from dancu_bus.admin.config import client_config
from dancu_bus.admin.diagnosis import ClusterWatch
from dancu_bus.admin.reader import read_to_end
from dancu_bus.settings import KafkaSettings
from dancu_bus.transport import ClusterClients, Incoming, Outgoing
from dancu_bus.transport.records import TopicPartition
from dancu_bus.transport.tail import offer_tail
from dancu_bus.transport.writers import FencedWriters

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def topic(kafka_settings: KafkaSettings, unique_name: str, cleanup_topics: None) -> str:
    """A fresh two-partition topic, deleted afterwards."""
    admin = AdminClient({**client_config(kafka_settings)})
    admin.create_topics([NewTopic(unique_name, 2, 1)])[unique_name].result(30)
    return unique_name


def record(topic: str, value: bytes) -> Outgoing:
    """A record for partition 0."""
    return Outgoing(topic, b"k", value, partition=0)


def writers(kafka: KafkaSettings, group: str, topic: str) -> FencedWriters:
    """Writers of ``topic``'s partitions, one transactional id each, as the audit consumer's."""
    return FencedWriters(
        ClusterClients(kafka, ClusterWatch, client_config(kafka)),
        group,
        lambda partition: f"{group}.{topic}.{partition}",
    )


def tail_of(kafka: KafkaSettings, topic: str, partition: int, tail: Tail) -> Callable[[], Awaitable[None]]:
    """What a new writer does once the old ones are fenced: offer its partition's tail to ``tail``."""
    return lambda: offer_tail(
        ClusterClients(kafka, ClusterWatch, client_config(kafka)), TopicPartition(topic, partition), tail
    )


class Tail:
    """Collects what a new writer is offered, taking the first record ``wanted`` accepts."""

    def __init__(self, wanted: bytes | None = None) -> None:
        self.offered: list[bytes | None] = []
        self._wanted = wanted

    def __call__(self, last: Incoming | None) -> bool:
        self.offered.append(None if last is None else last.value)
        return last is None or self._wanted is None or last.value == self._wanted


async def test_a_takeover_fences_the_old_writer_and_continues_after_its_last_commit(
    kafka_settings: KafkaSettings, topic: str, unique_prefix: str
) -> None:
    """The new writer sees the old one's committed record as the tail; the old one can no longer write."""
    old, new = (writers(kafka_settings, f"{unique_prefix}.group", topic) for _ in range(2))
    try:
        await old.open(0, tail_of(kafka_settings, topic, 0, Tail()))
        await old.write(0, [record(topic, b"first")], {})
        tail = Tail()
        await new.open(0, tail_of(kafka_settings, topic, 0, tail))
        assert tail.offered == [b"first"]
        with pytest.raises(KafkaError):
            await old.write(0, [record(topic, b"from a zombie")], {})
        await new.write(0, [record(topic, b"second")], {})
    finally:
        await old.close()
        await new.close()
    assert [r.value for r in read_to_end(kafka_settings, topic, 30)] == [b"first", b"second"]


async def test_a_refused_tail_record_offers_the_one_before(
    kafka_settings: KafkaSettings, topic: str, unique_prefix: str
) -> None:
    """Records the handler cannot chain from are passed over, newest first, down to an acceptable one."""
    partitions = writers(kafka_settings, f"{unique_prefix}.group", topic)
    try:
        await partitions.open(0, tail_of(kafka_settings, topic, 0, Tail()))
        await partitions.write(0, [record(topic, v) for v in (b"good", b"junk-1", b"junk-2")], {})
        tail = Tail(wanted=b"good")
        await partitions.open(0, tail_of(kafka_settings, topic, 0, tail))
        empty = Tail()
        await partitions.open(1, tail_of(kafka_settings, topic, 1, empty))
    finally:
        await partitions.close()
    assert tail.offered == [b"junk-2", b"junk-1", b"good"]
    assert empty.offered == [None]
